// Log lines carry text that peers control (request fields, handshaker error text that may quote an
// unauthenticated peer). Raw, a newline in it forges a whole log line, an ANSI sequence rewrites the
// operator's terminal and a bidi override reorders what the reader sees (CVE-2021-42574). Every
// field is therefore escaped and bounded before it joins a line.

/**
 * Longest field in a log line. A handshake failure's message is the longest field we log: a prefix of
 * the library's own plus at most 256 characters of handshaker text (MAX_QUOTED_TEXT_CHARS in
 * packages/alts/src/errors.ts); 512 keeps it whole while one field still cannot flood the log.
 */
export const MAX_LOG_FIELD_CHARS = 512;

/**
 * What never reaches a line raw: C0, DEL and C1 controls (Cc), the line and paragraph separators
 * that some viewers break lines at (Zl, Zp), Unicode's bidirectional formatting characters
 * (Bidi_Control: U+061C, U+200E/F, U+202A–E, U+2066–9) and lone surrogates (Cs; unpaired, they turn
 * into U+FFFD when written as UTF-8, hiding what was sent).
 */
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Cs}]/u;
const ELLIPSIS = '…';

const escapeChar = (c: string) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`;

/**
 * `text` with every unsafe character written as JSON's `\uXXXX`, cut to at most `max` characters
 * plus an ellipsis (never inside an escape or a surrogate pair). With `max` infinite it suits JSON
 * output too: inside a JSON string `\uXXXX` decodes to the very character it replaced.
 * Backslashes stay as they are, so escaping an escaped field again changes nothing: bookings.ts
 * escapes its lookup fields and the server's log escapes every field once more. The price is that
 * a literal `\u000a` sent by a peer reads like an escaped newline; it still never breaks the line.
 */
export function escapeLogField(text: string, max = MAX_LOG_FIELD_CHARS): string {
  if (text.length <= max && !UNSAFE.test(text)) return text;
  let out = '';
  for (const c of text) {
    const piece = UNSAFE.test(c) ? escapeChar(c) : c;
    if (out.length + piece.length > max) return `${out}${ELLIPSIS}`;
    out += piece;
  }
  return out;
}

/**
 * Template tag for a log line: the literal parts as written, every interpolated value through
 * {@link escapeLogField} (an array's elements one by one, joined with ", "), so no caller can
 * forget a field.
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
