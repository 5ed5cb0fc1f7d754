import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_QUOTED_CHARS, quote } from './quote.js';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The quoted text without a trailing cut mark, decoded as the JSON string it is. */
function unquote(quoted: string): { text: string; cut: boolean } {
  const cut = quoted.endsWith('"...');
  return { text: JSON.parse(cut ? quoted.slice(0, -3) : quoted) as string, cut };
}

test('HARDENING 33: quote escapes every control, separator and bidi character, JSON-style', () => {
  const dangerous = [
    ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)), // C0
    '\u007f', // DEL
    ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)), // C1, NEL included
    '\u2028', // LINE SEPARATOR
    '\u2029', // PARAGRAPH SEPARATOR
    '\u202a\u202b\u202c\u202d\u202e', // bidi embeddings and overrides
    '\u2066\u2067\u2068\u2069', // bidi isolates
    '\u200e\u200f\u061c', // bidi marks
    '\u200b\ufeff', // zero-width space, BOM
    '\ud800', // a lone surrogate
    '\u{1f600}', // beyond U+FFFF: a surrogate pair
  ];
  for (const c of dangerous) {
    const quoted = quote(`a${c}b`);
    assert.match(quoted, PRINTABLE_ASCII, JSON.stringify(c));
    assert.equal(unquote(quoted).text, `a${c}b`);
  }
  assert.equal(quote('line\nforged "x" \\'), '"line\\nforged \\"x\\" \\\\"');
  assert.equal(quote('\u001b[2K\u202e'), '"\\u001b[2K\\u202e"');
});

test('HARDENING 33: quote cuts long text, never inside an escape, and marks the cut', () => {
  assert.equal(quote('a'.repeat(MAX_QUOTED_CHARS)), `"${'a'.repeat(MAX_QUOTED_CHARS)}"`);
  assert.equal(quote('a'.repeat(MAX_QUOTED_CHARS + 1)), `"${'a'.repeat(MAX_QUOTED_CHARS)}"...`);
  assert.equal(
    quote(`${'a'.repeat(MAX_QUOTED_CHARS - 1)}\u0001`),
    `"${'a'.repeat(MAX_QUOTED_CHARS - 1)}"...`,
  );
  assert.equal(quote('\n'.repeat(1000), 9), '"\\n\\n\\n\\n"...');
});

test('HARDENING 33: any text quotes to bounded printable ASCII that decodes to a prefix of it', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 0, max: 200 }), (s, max) => {
      const quoted = quote(s, max);
      assert.match(quoted, PRINTABLE_ASCII);
      assert.ok(quoted.length <= max + '""...'.length);
      const { text, cut } = unquote(quoted);
      assert.ok(s.startsWith(text));
      assert.equal(cut, text !== s);
    }),
  );
});

test('HARDENING 47: quote writes invisible characters (format, default-ignorable) as \\uXXXX', () => {
  assert.equal(
    quote('sa\u200b\u200c\u200d\u2060\ufeff\u00ad\u3164@p'),
    '"sa\\u200b\\u200c\\u200d\\u2060\\ufeff\\u00ad\\u3164@p"',
  );
  assert.equal(quote('\u{e0001}'), '"\\udb40\\udc01"');
});
