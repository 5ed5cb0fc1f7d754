import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { ALTS_ERROR_STATUS, quoteUntrusted } from './errors.js';

/** Invisible characters a padded identifier could carry: each must be written out, never kept. */
const INVISIBLE = [
  0x00ad, // SOFT HYPHEN
  0x034f, // COMBINING GRAPHEME JOINER
  0x115f, // HANGUL CHOSEONG FILLER
  0x180e, // MONGOLIAN VOWEL SEPARATOR
  0x200b, // ZERO WIDTH SPACE
  0x200c, // ZERO WIDTH NON-JOINER
  0x200d, // ZERO WIDTH JOINER
  0x2060, // WORD JOINER
  0x2061, // FUNCTION APPLICATION
  0x2064, // INVISIBLE PLUS
  0x3164, // HANGUL FILLER
  0xfe0f, // VARIATION SELECTOR-16
  0xfeff, // ZERO WIDTH NO-BREAK SPACE (BOM)
  0xfff9, // INTERLINEAR ANNOTATION ANCHOR
  0xe0001, // LANGUAGE TAG
];

/** JSON's escape of `c`: one `\uXXXX` per UTF-16 unit. */
const escapeAll = (c: string) =>
  [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');

describe('HARDENING 47: invisible characters in logs', () => {
  it('HARDENING 47: quoteUntrusted writes every format and default-ignorable character as \\uXXXX', () => {
    for (const code of INVISIBLE) {
      const c = String.fromCodePoint(code);
      const quoted = quoteUntrusted(`PT-${c}1204`);
      assert.equal(quoted, `PT-${escapeAll(c)}1204`, `U+${code.toString(16)}`);
      assert.equal(JSON.parse(`"${quoted}"`), `PT-${c}1204`, 'the escape decodes to what was sent');
    }
    assert.equal(quoteUntrusted('\u{e0001}'), '\\udb40\\udc01', 'beyond U+FFFF: a surrogate pair');
  });

  it('HARDENING 47: visible text, emoji and spaces are left alone', () => {
    const kept = 'frontend@hospital.iam.gserviceaccount.com Cholécystectomie 🏥 «ok» ١٢ 漢字 a b';
    assert.equal(quoteUntrusted(kept), kept);
  });
});

// The API reference is where users look codes up (docs/api, from these comments): each code's
// comment must open with the status the code really maps to, so the two cannot drift apart.
it('each AltsErrorCode is documented, opening with the gRPC status it maps to', () => {
  const source = readFileSync(fileURLToPath(new URL('../src/errors.ts', import.meta.url)), 'utf8');
  for (const [code, grpcStatus] of Object.entries(ALTS_ERROR_STATUS)) {
    const comment = new RegExp(`/\\*\\*((?:(?!\\*/)[^])*)\\*/\\s*${code}: status\\.`).exec(source)?.[1];
    assert.ok(comment, `${code} has a doc comment`);
    const text = comment.replace(/\s*\n\s*\*\s*/g, ' ').trim();
    assert.ok(
      text.startsWith(`${status[grpcStatus]}. `),
      `${code}: "${text}" opens with ${status[grpcStatus]}`,
    );
  }
});
