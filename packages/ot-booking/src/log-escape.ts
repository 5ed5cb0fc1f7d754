// Log lines carry text that peers control (request fields, handshaker error text that may quote an
// unauthenticated peer). Raw, a newline in it forges a whole log line, an ANSI sequence rewrites the
// operator's terminal and a bidi override reorders what the reader sees (CVE-2021-42574). Every
// field is therefore escaped and bounded before it joins a line.
import { quoteUntrusted } from '@grpc-alts/alts';

/**
 * Longest field in a log line. A handshake failure's message is the longest field we log: a prefix of
 * the library's own plus at most 256 characters of handshaker text (quoteUntrusted's default in
 * packages/alts/src/errors.ts); 512 keeps it whole while one field still cannot flood the log.
 */
export const MAX_LOG_FIELD_CHARS = 512;

/**
 * `text` escaped and bounded for a log line: the library's `quoteUntrusted` (every control,
 * separator, lone-surrogate, format (bidi, zero-width) and other invisible character as `\uXXXX`,
 * cut at `max` with an ellipsis, never inside an escape). With `max` infinite it suits JSON output
 * too: inside a JSON string `\uXXXX` decodes to the very character it replaced.
 */
export function escapeLogField(text: string, max = MAX_LOG_FIELD_CHARS): string {
  return quoteUntrusted(text, max);
}

/**
 * Template tag for a log line: the literal parts as written, every interpolated value through
 * `escapeLogField`, i.e. `quoteUntrusted` (an array's elements one by one, joined with ", "), so
 * no caller can forget a field.
 */
export function logLine(literals: TemplateStringsArray, ...fields: readonly unknown[]): string {
  let line = literals[0] ?? '';
  fields.forEach((field, i) => {
    const text = Array.isArray(field)
      ? field.map((f) => escapeLogField(String(f))).join(', ')
      : escapeLogField(String(field));
    line += text + (literals[i + 1] ?? '');
  });
  return line;
}
