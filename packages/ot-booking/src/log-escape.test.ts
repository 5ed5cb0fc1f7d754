// docs/hardening.md 33, the apps' part: text a peer controls reaches a log line only
// escaped and bounded, so it can neither forge a line nor drive the operator's terminal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import fc from 'fast-check';
import { type BookingLookup, createBookingService } from './bookings.js';
import type { BookingRequest, BookingResponse } from './gen/otbooking/ot_booking.js';
import { escapeLogField, logLine, MAX_LOG_FIELD_CHARS } from './log-escape.js';

const FORGED_LINE = 'PT-1\n2026-12-01T00:00:00Z ot-booking-server: getBookingInfo from admin@x: ...';
const ERASE_LINE = '\u001b[2K';
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\p{Cs}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

/** Every character the issue names: C0, DEL, C1, U+2028/9 and the bidi overrides and isolates. */
const NAMED = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  0x7f,
  ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
  0x2028,
  0x2029,
  ...Array.from({ length: 5 }, (_, i) => 0x202a + i),
  ...Array.from({ length: 4 }, (_, i) => 0x2066 + i),
];

/** Any character, with the unsafe ones, lone surrogate halves and backslashes made frequent. */
const charArb = fc.oneof(
  fc.constantFrom(
    ...[...NAMED, 0x061c, 0x200e, 0x200f, 0x200b, 0x2060, 0xfeff, 0x00ad, 0x3164, 0xd800, 0xdc00, 0x5c].map(
      (c) => String.fromCharCode(c),
    ),
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

/** Runs the booking service's handler on a plain call; returns what it reported for the log. */
function lookupOf(request: BookingRequest): BookingLookup {
  const lookups: BookingLookup[] = [];
  const service = createBookingService(new Map(), (l) => lookups.push(l));
  const call = { request, getAuthContext: () => ({}) } as unknown as ServerUnaryCall<
    BookingRequest,
    BookingResponse
  >;
  service.getBookingInfo(call, (() => undefined) as sendUnaryData<BookingResponse>);
  assert.equal(lookups.length, 1);
  return lookups[0] as BookingLookup;
}

describe('HARDENING 33: log fields are escaped and bounded', () => {
  it('HARDENING 33: a patient ID carrying a forged log line stays on one line', () => {
    const field = escapeLogField(FORGED_LINE);
    assert.equal(
      field,
      'PT-1\\u000a2026-12-01T00:00:00Z ot-booking-server: getBookingInfo from admin@x: ...',
    );
    assert.equal(logLine`getBookingInfo from ${'frontend@x'}: patient ${FORGED_LINE}`.split('\n').length, 1);
  });

  it('HARDENING 33: an ANSI escape (erase line) is written out, not sent to the terminal', () => {
    assert.equal(escapeLogField(`DC-1${ERASE_LINE}DC-2`), 'DC-1\\u001b[2KDC-2');
  });

  it('HARDENING 33: every C0, DEL, C1, line separator and bidi control becomes \\uXXXX', () => {
    for (const code of [...NAMED, 0x061c, 0x200e, 0x200f]) {
      const c = String.fromCodePoint(code);
      assert.equal(escapeLogField(`a${c}b`), `a\\u${code.toString(16).padStart(4, '0')}b`, `U+${code}`);
    }
    assert.equal(escapeLogField('x\ud800y\udc00'), 'x\\ud800y\\udc00', 'lone surrogates');
    const kept = 'frontend@hospital.iam.gserviceaccount.com Cholécystectomie 🏥 «ok» \\u000a';
    assert.equal(escapeLogField(kept), kept, 'printable text and backslashes are left alone');
  });

  it('HARDENING 33: long fields are cut with an ellipsis, never inside an escape or a surrogate pair', () => {
    assert.equal(escapeLogField('a'.repeat(MAX_LOG_FIELD_CHARS)), 'a'.repeat(MAX_LOG_FIELD_CHARS));
    assert.equal(escapeLogField('a'.repeat(MAX_LOG_FIELD_CHARS + 1)), `${'a'.repeat(MAX_LOG_FIELD_CHARS)}…`);
    assert.equal(escapeLogField('abcd\nef', 8), 'abcd…');
    assert.equal(escapeLogField('abc🏥', 4), 'abc…');
    assert.equal(escapeLogField(`{"c":"${ERASE_LINE}"}`, Number.POSITIVE_INFINITY), '{"c":"\\u001b[2K"}');
  });

  it('HARDENING 33: any text: nothing unsafe left, bounded, and escaping twice changes nothing', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: charArb, maxLength: 300 }),
        fc.integer({ min: 1, max: 100 }),
        (s, max) => {
          const once = escapeLogField(s, max);
          assert.doesNotMatch(once, UNSAFE);
          assert.ok(once.length <= max + 1, `${once.length} > ${max} + ellipsis`);
          assert.equal(escapeLogField(once, max), once);
          assert.equal(escapeLogField(s, Number.POSITIVE_INFINITY).split('\n').length, 1);
        },
      ),
    );
  });

  it('HARDENING 33: logLine escapes every field, an array element by element, and keeps its literals', () => {
    assert.equal(logLine`to ${['a@x', 'b\n@x']} (${3})\n`, 'to a@x, b\\u000a@x (3)\n');
  });

  it('HARDENING 33: the booking service reports invalid request IDs escaped and bounded', () => {
    const lookup = lookupOf({ patientID: FORGED_LINE, doctorID: ERASE_LINE, description: '' });
    assert.equal(lookup.outcome, 'invalid');
    assert.equal(lookup.patientID, 'PT-1\\u000a2026-12-01T00:00:00Z o…');
    assert.equal(lookup.doctorID, '\\u001b[2K');
    assert.equal(lookup.caller, '(not ALTS)');
  });
});

describe('HARDENING 47: invisible characters in logs', () => {
  it('HARDENING 47: a patient ID padded with zero-width or other invisible characters is escaped', () => {
    const padded = 'PT-\u200b1204\u2060';
    const lookup = lookupOf({ patientID: padded, doctorID: 'DC-\ufeff3904\u00ad', description: '' });
    assert.equal(lookup.patientID, 'PT-\\u200b1204\\u2060');
    assert.equal(lookup.doctorID, 'DC-\\ufeff3904\\u00ad');
    assert.equal(escapeLogField('a\u200c\u200d\u3164b'), 'a\\u200c\\u200d\\u3164b');
    assert.notEqual(logLine`patient ${padded}`, 'patient PT-1204', 'never looks like the real ID');
  });
});
