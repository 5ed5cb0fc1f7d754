// docs/hardening.md 30 (with 2–8, 16): structure-aware fuzzing of the record layer. Random chunking × bit
// flips × random lengths/types × reordering/replay/truncation against the record reader (the one
// frame parser, run here exactly as the protected stream runs it) and the protected stream (the
// Duplex grpc-js runs on).
//
// Invariants checked on every case:
//   - no exception escapes (each case's events are awaited; the process has an uncaught-exception
//     and unhandled-rejection recorder that must stay empty);
//   - every failure is a typed AltsError (BAD_FRAME, AUTH_FAILED, TRUNCATED) and the socket is
//     destroyed with it; the stream always closes (no hang: a case that does not settle within
//     CASE_DEADLINE_MS fails);
//   - no plaintext from a bad frame is delivered: the plaintext read is exactly that of the frames
//     wholly before the first altered byte, and a straddling record that fails has its
//     unauthenticated plaintext wiped;
//   - bounded memory: a bad header is refused by the input chunk that completes its length (or type)
//     field, before anything is buffered for its body; heap stays flat over the run;
//   - backpressure: a sink that refuses more stops the reader until it is unblocked, and the result
//     does not depend on when it refuses.
//
// Reproduce: FUZZ_SEED=<seed printed by the run> FUZZ_RUNS=<n> node --test <this file>.
// FUZZ_RUNS (default 3000, clamped to [10, 5 000 000]) is this file's case budget: 60 % go to the
// reader property (no crypto, many cases), 40 % to the protected-stream property. FUZZ_REPORT=<file>
// appends one JSON line with the cases run (used by `npm run test:stress`).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { getHeapStatistics } from 'node:v8';
import { cutAt, EscapeRecorder, fuzzRun } from '@grpc-alts/test-support/fuzz';
import {
  type ByteMutation,
  flipArb,
  insertArb,
  mutateBytes,
  noMutationArb,
  truncateArb,
} from '@grpc-alts/test-support/mutations';
import { forceGc } from '@grpc-alts/test-support/resources';
import { FakeSocket } from '@grpc-alts/test-support/sockets';
import fc from 'fast-check';
import { ALTSRP_GCM_AES128_REKEY, MAX_FRAME_LENGTH_FIELD, REKEY_KEY_SIZE } from '../constants.js';
import { AltsError } from '../errors.js';
import { createRecordCrypter, type SealedRecord } from './crypter.js';
import {
  checkFrameLength,
  checkFrameType,
  FRAME_HEADER_SIZE,
  FRAME_LENGTH_FIELD_SIZE,
  FRAME_TAG_SIZE,
} from './frame.js';
import { createProtectedStream } from './protected-stream.js';
import { RecordReader } from './reader.js';
import { frameOf, RecordingOpener, recordingOpenerFailure } from './record.test.util.js';

const { seed: SEED, runs: RUNS, report } = fuzzRun('record', 3000);
const PARSER_RUNS = Math.max(1, Math.round(RUNS * 0.6));
const STREAM_RUNS = Math.max(1, RUNS - PARSER_RUNS);
const CASE_DEADLINE_MS = 5_000;
const KEY = Buffer.alloc(REKEY_KEY_SIZE, 0x5c);

const escapes = new EscapeRecorder();
escapes.start();

/** One frame sealed by the client with the test key, from frame index 0 in order. */
function sealAll(plaintexts: readonly Buffer[]): Buffer[] {
  const crypter = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
  return plaintexts.map((p) => frameOf(crypter.seal(p)));
}

/** How the reader property cuts its input: at random points, or into pieces of one size. */
type Split = { cuts: number[] } | { step: number };
const splitArb: fc.Arbitrary<Split> = fc.oneof(
  fc.record({ cuts: fc.array(fc.nat(), { maxLength: 12 }) }),
  fc.record({ step: fc.integer({ min: 1, max: 64 }) }),
);

function split(data: Buffer, how: Split): Buffer[] {
  if ('cuts' in how) return cutAt(data, how.cuts);
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += how.step) out.push(data.subarray(at, at + how.step));
  return out;
}

/** How a reader must fail: with what, and after how many input bytes at the latest. */
interface Failure {
  at: number;
  error: AltsError;
}

/** The header check's failure, if any, due once the first `at` input bytes are in. */
function headerFailure(check: () => void, at: number): Failure | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    assert.ok(AltsError.is(err));
    return { at, error: err };
  }
}

/**
 * The reference for the reader property: `data` walked whole, frame by frame. Gives the frames the
 * reader must open, where and how it must fail (record `failAt` fails authentication), and whether
 * the input ends inside a frame.
 */
function walk(data: Buffer, failAt: number): { frames: SealedRecord[]; failure?: Failure; partial: boolean } {
  const frames: SealedRecord[] = [];
  let offset = 0;
  while (data.length - offset >= FRAME_LENGTH_FIELD_SIZE) {
    const length = data.readUInt32LE(offset);
    const failure =
      headerFailure(() => checkFrameLength(length), offset + FRAME_LENGTH_FIELD_SIZE) ??
      (data.length - offset >= FRAME_HEADER_SIZE
        ? headerFailure(
            () => checkFrameType(data.readUInt32LE(offset + FRAME_LENGTH_FIELD_SIZE)),
            offset + FRAME_HEADER_SIZE,
          )
        : undefined);
    if (failure !== undefined) return { frames, failure, partial: true };
    const end = offset + FRAME_LENGTH_FIELD_SIZE + length;
    if (end > data.length) break;
    if (frames.length === failAt) {
      return {
        frames,
        failure: { at: end, error: recordingOpenerFailure() },
        partial: true,
      };
    }
    frames.push({
      ciphertext: data.subarray(offset + FRAME_HEADER_SIZE, end - FRAME_TAG_SIZE),
      tag: data.subarray(end - FRAME_TAG_SIZE, end),
    });
    offset = end;
  }
  return { frames, partial: offset < data.length };
}

/** A mutation of a well-formed record stream. */
type Mutation =
  | ByteMutation
  | { kind: 'length'; frame: number; value: number }
  | { kind: 'type'; frame: number; value: number }
  | { kind: 'replay'; frame: number }
  | { kind: 'swap'; frame: number }
  | { kind: 'reflect' };

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 1, arbitrary: noMutationArb },
  { weight: 4, arbitrary: flipArb(4) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('length' as const),
      frame: fc.nat(),
      value: fc.oneof(
        u32,
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: MAX_FRAME_LENGTH_FIELD - 2, max: MAX_FRAME_LENGTH_FIELD + 2 }),
        fc.constantFrom(0xffffffff, 0x80000000, 0x7fffffff),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('type' as const),
      frame: fc.nat(),
      value: fc.oneof(u32, fc.constantFrom(0, 5, 7, 0x106, 0x06000000)),
    }),
  },
  { weight: 1, arbitrary: truncateArb },
  { weight: 1, arbitrary: insertArb(40) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replay' as const), frame: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swap' as const), frame: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant<Mutation>({ kind: 'reflect' }) },
);

/** Frame start offsets in the original stream. */
function offsets(frames: readonly Buffer[]): number[] {
  const out: number[] = [];
  let at = 0;
  for (const f of frames) {
    out.push(at);
    at += f.length;
  }
  return out;
}

function applyMutation(frames: Buffer[], plaintexts: readonly Buffer[], m: Mutation): Buffer {
  const wire = Buffer.concat(frames);
  const starts = offsets(frames);
  const pick = (i: number) => i % frames.length;
  switch (m.kind) {
    case 'none':
    case 'flip':
    case 'truncate':
    case 'insert':
      return mutateBytes(wire, m);
    case 'length': {
      const out = Buffer.from(wire);
      out.writeUInt32LE(m.value, starts[pick(m.frame)] as number);
      return out;
    }
    case 'type': {
      const out = Buffer.from(wire);
      out.writeUInt32LE(m.value, (starts[pick(m.frame)] as number) + FRAME_LENGTH_FIELD_SIZE);
      return out;
    }
    case 'replay': {
      // An earlier frame sent again after its successors (docs/hardening.md 9).
      const i = pick(m.frame);
      return Buffer.concat([...frames.slice(0, i + 1), frames[i] as Buffer, ...frames.slice(i + 1)]);
    }
    case 'swap': {
      // Frames i and i+1 exchanged (docs/hardening.md 10), if there are two.
      const i = pick(m.frame);
      if (i + 1 >= frames.length) return wire;
      const out = [...frames];
      [out[i], out[i + 1]] = [out[i + 1] as Buffer, out[i] as Buffer];
      return Buffer.concat(out);
    }
    case 'reflect': {
      // The server's own records (server counter space) sent back to it (docs/hardening.md 11).
      const server = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'server');
      return Buffer.concat(plaintexts.map((p) => frameOf(server.seal(p))));
    }
  }
}

/**
 * What a correct reader must deliver for `mutated` given the original frames: the plaintext of the
 * frames wholly before the first byte where the streams differ, and whether the read must fail.
 */
function expectation(
  frames: readonly Buffer[],
  plaintexts: readonly Buffer[],
  mutated: Buffer,
): { plaintext: Buffer; fails: boolean } {
  const wire = Buffer.concat(frames);
  let diff = 0;
  const common = Math.min(wire.length, mutated.length);
  while (diff < common && wire[diff] === mutated[diff]) diff++;
  const starts = offsets(frames);
  let whole = 0;
  while (whole < frames.length && (starts[whole] as number) + (frames[whole] as Buffer).length <= diff)
    whole++;
  const plaintext = Buffer.concat(plaintexts.slice(0, whole));
  if (diff === wire.length && mutated.length === wire.length) return { plaintext, fails: false };
  // A cut exactly at a frame boundary is a clean end (docs/hardening.md 3); any other difference fails.
  const atBoundary = mutated.length === diff && (diff === wire.length || starts.includes(diff));
  return { plaintext, fails: !atBoundary };
}

/** The length field of the frame that starts at the first altered byte's frame, if over the limit. */
function firstBadLengthIsOversized(frames: readonly Buffer[], mutated: Buffer): boolean {
  // Walk the mutated stream the way a reader does until the first header it would reject or need.
  let at = 0;
  for (const f of frames) {
    if (mutated.length < at + FRAME_LENGTH_FIELD_SIZE) return false;
    const length = mutated.readUInt32LE(at);
    if (length > MAX_FRAME_LENGTH_FIELD) return true;
    if (!mutated.subarray(at, at + f.length).equals(f)) return false;
    at += f.length;
  }
  return false;
}

let heapBefore = 0;

describe('HARDENING 30: record layer fuzzing', () => {
  after(() => escapes.stop());

  test(`frame parser: random bytes and mutated frames, any chunking (seed ${SEED})`, (t) => {
    t.diagnostic(`FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} parser cases=${PARSER_RUNS}`);
    let cases = 0;
    const emptyTag = Buffer.alloc(FRAME_TAG_SIZE);
    const frameArb = fc.oneof(
      // a well-formed-looking frame with a random body
      fc
        .uint8Array({ maxLength: 64 })
        .map((body) => frameOf({ ciphertext: Buffer.from(body), tag: emptyTag })),
      // a body long enough to be decrypted both in pieces and through the staging buffer
      fc
        .integer({ min: 4000, max: 9000 })
        .map((n) => frameOf({ ciphertext: Buffer.alloc(n, n & 0xff), tag: emptyTag })),
      // a header with a random length and type, then a few bytes
      fc
        .tuple(u32, fc.oneof(fc.constant(6), u32), fc.uint8Array({ maxLength: 32 }))
        .map(([len, type, rest]) => {
          const f = Buffer.alloc(FRAME_HEADER_SIZE + rest.length);
          f.writeUInt32LE(len, 0);
          f.writeUInt32LE(type, FRAME_LENGTH_FIELD_SIZE);
          f.set(rest, FRAME_HEADER_SIZE);
          return f;
        }),
      fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
    );
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 6 }),
        splitArb,
        // The sink's answers in turn (false: no more for now); none means it always takes more.
        fc.array(fc.boolean(), { maxLength: 8 }),
        // The record that fails authentication, if any.
        fc.oneof(fc.constant(-1), fc.nat({ max: 6 })),
        (parts, how, answers, failAt) => {
          cases++;
          const data = Buffer.concat(parts);
          const expected = walk(data, failAt);
          const opener = new RecordingOpener(failAt);
          const delivered: Buffer[] = [];
          let asked = 0;
          // The record whose delivery the sink refused: the rest of it may follow, nothing after it.
          let refusedIn: number | undefined;
          const reader = new RecordReader(opener, (plaintext) => {
            if (refusedIn !== undefined && refusedIn !== opener.records.length) {
              throw new Error('the reader delivered past a refusal');
            }
            delivered.push(Buffer.from(plaintext));
            const more = answers[asked++ % answers.length] ?? true;
            if (!more) refusedIn = opener.records.length;
            return more;
          });
          // What the protected stream does: drain on input, and again on each `_read` while blocked.
          const feed = (input: Buffer): void => {
            reader.enqueue(input);
            reader.drain();
            while (reader.blocked) {
              const before = delivered.length;
              reader.drain();
              if (delivered.length !== before) throw new Error('a blocked reader delivered more');
              refusedIn = undefined;
              reader.unblock();
              reader.drain();
            }
            if (refusedIn !== undefined) throw new Error('a refusal did not block the reader');
          };
          let fed = 0;
          let failure: { error: unknown; chunk: number } | undefined;
          for (const input of split(data, how)) {
            try {
              feed(input);
            } catch (error) {
              failure = { error, chunk: input.length };
              break;
            }
            fed += input.length;
          }
          if (expected.failure === undefined) {
            assert.equal(failure, undefined, `the reader failed: ${String(failure?.error)}`);
            assert.equal(reader.pending, expected.partial);
          } else {
            const { error, chunk: size } = failure ?? { error: undefined, chunk: 0 };
            assert.ok(
              AltsError.is(error) && error.code === expected.failure.error.code,
              `expected ${expected.failure.error.message}, got ${String(error)}`,
            );
            assert.equal(error.message, expected.failure.error.message);
            // Refused by the very chunk that completed the bad field or the failing record.
            assert.ok(
              fed < expected.failure.at && expected.failure.at <= fed + size,
              'refused late or early',
            );
            assert.ok(
              opener.unauthenticated.every((p) => p.every((byte) => byte === 0)),
              'plaintext of the failed record was not wiped',
            );
            assert.equal(reader.pending, false, 'a failed reader keeps nothing');
          }
          const whole = (f: SealedRecord) => Buffer.concat([f.ciphertext, f.tag]);
          assert.deepEqual(opener.records.map(whole), expected.frames.map(whole));
          assert.ok(
            Buffer.concat(delivered).equals(Buffer.concat(expected.frames.map((f) => f.ciphertext))),
            'delivered plaintext differs from the records opened',
          );
        },
      ),
      { seed: SEED, numRuns: PARSER_RUNS, includeErrorInReport: true },
    );
    report('frame-parser', cases);
    assert.equal(cases >= PARSER_RUNS, true);
  });

  test(`stream: chunks × flips × lengths/types × replay/reorder/reflect/cut (seed ${SEED})`, async (t) => {
    t.diagnostic(`FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} stream cases=${STREAM_RUNS}`);
    let cases = 0;
    let failures = 0;
    forceGc();
    heapBefore = getHeapStatistics().used_heap_size;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 1, arbitrary: fc.constant(0) },
            { weight: 6, arbitrary: fc.integer({ min: 1, max: 200 }) },
            { weight: 1, arbitrary: fc.integer({ min: 201, max: 20_000 }) },
          ),
          { minLength: 1, maxLength: 5 },
        ),
        mutationArb,
        fc.array(fc.nat(), { maxLength: 16 }),
        async (sizes, mutation, cuts) => {
          cases++;
          const plaintexts = sizes.map((n, i) => Buffer.alloc(n, (i * 37 + n) & 0xff));
          const frames = sealAll(plaintexts);
          const mutated = applyMutation(frames, plaintexts, mutation);
          const expected = expectation(frames, plaintexts, mutated);
          const oversized = firstBadLengthIsOversized(frames, mutated);

          const fake = new FakeSocket();
          const stream = createProtectedStream(fake.asSocket(), {
            recordProtocol: ALTSRP_GCM_AES128_REKEY,
            keyData: KEY,
            side: 'server',
            writeFrameSize: 16 * 1024,
          });
          const got: Buffer[] = [];
          let error: unknown;
          let ended = false;
          stream.on('data', (d: Buffer) => got.push(d));
          stream.on('end', () => {
            ended = true;
          });
          stream.on('error', (e) => {
            error = e;
          });
          const closed = new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), CASE_DEADLINE_MS);
            stream.once('close', () => {
              clearTimeout(timer);
              resolve(true);
            });
          });
          for (const c of cutAt(mutated, cuts)) fake.feed(c);
          if (oversized) {
            // docs/hardening.md 5/6: refused once the length is known, without waiting for the body or EOF.
            await new Promise((r) => setImmediate(r));
            await new Promise((r) => setImmediate(r));
            assert.ok(
              AltsError.is(error) && error.code === 'BAD_FRAME',
              `an oversized length was not refused before EOF: ${String(error)}`,
            );
          }
          fake.feedEnd();
          assert.equal(await closed, true, 'the protected stream did not close');
          const plaintext = Buffer.concat(got);
          if (expected.fails) {
            failures++;
            assert.ok(
              AltsError.is(error) && ['BAD_FRAME', 'AUTH_FAILED', 'TRUNCATED'].includes(error.code),
              `expected a typed record error, got ${String(error)} (mutation ${mutation.kind})`,
            );
            assert.equal(ended, false, 'a failed stream must not end cleanly');
            assert.equal(fake.destroyed, true, 'the socket must be destroyed on failure');
          } else {
            assert.equal(error, undefined, `unexpected error ${String(error)} (mutation ${mutation.kind})`);
            assert.equal(ended, true);
          }
          // No plaintext from a bad frame: exactly the frames wholly before the first altered byte.
          assert.ok(
            plaintext.equals(expected.plaintext),
            `delivered ${plaintext.length} bytes, expected ${expected.plaintext.length}`,
          );
        },
      ),
      { seed: SEED, numRuns: STREAM_RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    report('protected-stream', cases);
    t.diagnostic(`stream cases=${cases} failing-as-expected=${failures}`);
    assert.ok(failures > cases / 4, 'the generator should mostly produce bad streams');
    forceGc();
    const grown = getHeapStatistics().used_heap_size - heapBefore;
    // Generous: the run allocates hundreds of MB in total; what is retained must be small.
    assert.ok(grown < 64 * 1024 * 1024, `heap grew by ${grown} bytes over the fuzz run`);
    assert.deepEqual(escapes.escaped, [], 'an exception or rejection escaped');
  });
});
