// Text the emulator did not write itself (a peer's Alert details and protocol names, the identity
// in a certificate not yet verified, a file's parse error) must not reach an Alert, a status
// `details` or a log line raw: a newline forges a whole log line, an ANSI sequence rewrites the
// operator's terminal, a bidi override reorders what the reader sees (CVE-2021-42574), and the
// library turns status details into error messages that applications log (docs/hardening.md 33).

/**
 * Longest rendering of one piece of outside text: a service account (real ones are < 100 bytes)
 * or a protocol name fits whole, and no peer can flood a message or a log line through one field.
 */
export const MAX_QUOTED_CHARS = 128;

/** Everything but printable ASCII, and the two characters that would end or break the quoting. */
const UNSAFE = /[^\x20-\x7e]|["\\]/;

/** JSON's short escapes, the ones a reader knows at a glance. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function escapeChar(c: string): string {
  const short = SHORT_ESCAPES[c];
  if (short !== undefined) return short;
  // One \uXXXX per UTF-16 unit, as JSON writes a character beyond U+FFFF (a surrogate pair).
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/**
 * `text` in double quotes, JSON-style, with every character outside printable ASCII escaped:
 * C0 and C1 controls, DEL, U+2028/U+2029, bidi controls and anything else a reader could be fooled
 * by (the emulator's own text and service accounts are ASCII, so nothing readable is lost). The
 * result is printable ASCII; past `max` characters the text is cut (never inside an escape) and
 * `...` follows the closing quote.
 */
export function quote(text: string, max = MAX_QUOTED_CHARS): string {
  let out = '';
  for (const c of text) {
    const piece = UNSAFE.test(c) ? escapeChar(c) : c;
    if (out.length + piece.length > max) return `"${out}"...`;
    out += piece;
  }
  return `"${out}"`;
}

/** `values` as a bracketed list of {@link quote}d strings. */
export function quoteList(values: readonly string[]): string {
  return `[${values.map((v) => quote(v)).join(', ')}]`;
}
