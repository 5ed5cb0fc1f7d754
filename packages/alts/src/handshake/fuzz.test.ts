// docs/hardening.md 30 (with 21, 22, 26): fuzzing the handshake driver with malformed handshaker
// responses — random fields, out-of-range bytes_consumed, huge out_frames, unknown record
// protocols, short keys, bad RPC versions, unrequested/duplicate responses, ended/failed/hanging
// streams, truncated and garbage protobuf — and a peer that sends random bytes or closes.
//
// Three properties:
//   1. in-process: a stub HandshakerServiceClient plays a scripted response per request (volume);
//   2. gRPC: the fake handshaker's `override` hook mutates real responses while both sides of a
//      real loopback connection handshake;
//   3. wire garbage: a gRPC server answers DoHandshake with random or truncated protobuf bytes.
// Invariants on every case: the handshake settles (never hangs past its deadline); a failure is an AltsError
// and the socket is destroyed; a success happens only for a response that passes every check of
// docs/protocol.md §3.13; a non-OK status's out_frames reach the peer (docs/hardening.md 21); the limiter
// slot is released; every DoHandshake stream is closed; no exception escapes; timers return to baseline.
//
// Reproduce: FUZZ_SEED=<seed printed by the run> FUZZ_RUNS=<n> node --test <this file>.
// FUZZ_RUNS (default 1000, clamped to [10, 5 000 000]) is this file's case budget: the rest (≥ 94 %) for the
// in-process property, 3 % each (at most 3 000) for the two gRPC properties, which cost up to
// tens of ms per case. FUZZ_REPORT=<file> appends one JSON line per property (used by `npm run test:stress`).
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  HandshakerReq,
  HandshakerResp,
  type HandshakerResult,
  HandshakerServiceClient,
} from '@grpc-alts/handshaker-proto';
import { activeTimers, EscapeRecorder, fuzzRun, settleWithin } from '@grpc-alts/test-support/fuzz';
import { rawHandshakerService } from '@grpc-alts/test-support/handshaker-stream';
import { FakeSocket } from '@grpc-alts/test-support/sockets';
import fc from 'fast-check';
import {
  ALTS_APPLICATION_PROTOCOL,
  ALTSRP_GCM_AES128,
  ALTSRP_GCM_AES128_REKEY,
  LOCAL_RPC_VERSIONS,
  REKEY_KEY_SIZE,
  type Side,
} from '../constants.js';
import { AltsError } from '../errors.js';
import { type FakeHandshaker, startFakeHandshaker } from '../fake-handshaker.test.util.js';
import { type HandshakeOutcome, type HandshakeParams, runHandshake } from './driver.js';
import { acquireHandshakerChannel, openHandshakerChannelsForTesting } from './handshaker-client.js';
import { HandshakeLimiter } from './limiter.js';
import { validateResult } from './result.js';

const { seed: SEED, runs: RUNS, report } = fuzzRun('handshake', 1000);
const GRPC_RUNS = Math.max(5, Math.min(3_000, Math.round(RUNS * 0.03)));
const STUB_RUNS = Math.max(5, RUNS - 2 * GRPC_RUNS);
/** How long a settled case may take to close its socket (the alert flush waits at most 1 s). */
const CLOSE_WAIT_MS = 2_000;
/**
 * Handshake deadlines of the real-handshaker cases: a short one only where the handshaker hangs
 * (the deadline is what ends those cases), and otherwise one no loaded machine misses, so an
 * unmutated handshake can be required to succeed (at 200 ms it failed at load 9).
 */
const HANG_TIMEOUT_MS = 200;
const SETTLED_TIMEOUT_MS = 5_000;

const escapes = new EscapeRecorder();

async function closedWithin(socket: { destroyed: boolean }, ms: number): Promise<boolean> {
  for (let waited = 0; !socket.destroyed && waited < ms; waited += 5) await sleep(5);
  return socket.destroyed;
}

function isAcceptable(resp: HandshakerResp, sentLength: number): boolean {
  if (resp.status && resp.status.code !== 0) return false;
  if (resp.bytesConsumed > sentLength || !resp.result) return false;
  try {
    validateResult(resp.result);
    return true;
  } catch {
    return false;
  }
}

// ---- arbitraries for handshaker responses ----

type Consumed = 'all' | 'zero' | 'some' | 'over' | 'huge';
interface RespSpec {
  consumed: Consumed;
  some: number;
  outFrames: 'none' | 'small' | 'large';
  outLength: number;
  status: 'absent' | 'ok' | 'error';
  code: number;
  details: string;
  result:
    | undefined
    | {
        recordProtocol: string;
        keyLength: number;
        versions: 'valid' | 'absent' | 'incompatible' | 'inverted' | 'partial';
        maxFrameSize: number;
        identities: boolean;
      };
}
type StepSpec =
  | { kind: 'resp'; resp: RespSpec }
  | { kind: 'twice'; resp: RespSpec }
  | { kind: 'end' }
  | { kind: 'error' }
  | { kind: 'hang' };

const resultArb = fc.record({
  recordProtocol: fc.oneof(
    { weight: 6, arbitrary: fc.constant(ALTSRP_GCM_AES128_REKEY) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(ALTSRP_GCM_AES128, '', 'altsrp_gcm_aes128_rekey', 'ALTSRP_GMAC_128'),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  ),
  keyLength: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(REKEY_KEY_SIZE, 128) },
    { weight: 2, arbitrary: fc.nat(200) },
  ),
  versions: fc.constantFrom('valid', 'valid', 'valid', 'absent', 'incompatible', 'inverted', 'partial'),
  maxFrameSize: fc.oneof(fc.constantFrom(0, 16384, 131072, 1048576), fc.integer({ min: 0, max: 0xffffffff })),
  identities: fc.boolean(),
});

const respArb: fc.Arbitrary<RespSpec> = fc.record({
  consumed: fc.constantFrom<Consumed>('all', 'all', 'all', 'zero', 'some', 'over', 'huge'),
  some: fc.nat(),
  outFrames: fc.constantFrom('none', 'small', 'small', 'large'),
  outLength: fc.nat(),
  status: fc.constantFrom('absent', 'ok', 'ok', 'ok', 'error'),
  code: fc.integer({ min: 1, max: 16 }),
  details: fc.string({ maxLength: 40 }),
  result: fc.option(resultArb, { freq: 2 }),
});

const stepArb: fc.Arbitrary<StepSpec> = fc.oneof(
  { weight: 20, arbitrary: respArb.map((resp) => ({ kind: 'resp' as const, resp })) },
  { weight: 1, arbitrary: respArb.map((resp) => ({ kind: 'twice' as const, resp })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'end' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'error' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hang' as const }) },
);

function version(major: number, minor: number) {
  return { major, minor };
}

function buildResult(r: NonNullable<RespSpec['result']>): HandshakerResult {
  const versions =
    r.versions === 'valid'
      ? LOCAL_RPC_VERSIONS
      : r.versions === 'incompatible'
        ? { maxRpcVersion: version(3, 0), minRpcVersion: version(3, 0) }
        : r.versions === 'inverted'
          ? { maxRpcVersion: version(1, 0), minRpcVersion: version(9, 9) }
          : r.versions === 'partial'
            ? { maxRpcVersion: version(2, 1), minRpcVersion: undefined }
            : undefined;
  return {
    applicationProtocol: ALTS_APPLICATION_PROTOCOL,
    recordProtocol: r.recordProtocol,
    keyData: Buffer.alloc(r.keyLength, 7),
    peerIdentity: r.identities ? { serviceAccount: 'peer@fuzz', attributes: {} } : undefined,
    localIdentity: r.identities ? { serviceAccount: 'me@fuzz', attributes: {} } : undefined,
    keepChannelOpen: false,
    peerRpcVersions: versions,
    maxFrameSize: r.maxFrameSize,
    transportProtocol: undefined,
  };
}

function buildResp(spec: RespSpec, inLength: number): HandshakerResp {
  const bytesConsumed =
    spec.consumed === 'all'
      ? inLength
      : spec.consumed === 'zero'
        ? 0
        : spec.consumed === 'some'
          ? spec.some % (inLength + 1)
          : spec.consumed === 'over'
            ? inLength + 1 + (spec.some % 1000)
            : 0xffffffff;
  const outLength =
    spec.outFrames === 'none'
      ? 0
      : spec.outFrames === 'small'
        ? 1 + (spec.outLength % 64)
        : 64 * 1024 + (spec.outLength % (1024 * 1024));
  return {
    outFrames: Buffer.alloc(outLength, 0xa5),
    bytesConsumed,
    result: spec.result ? buildResult(spec.result) : undefined,
    status:
      spec.status === 'absent'
        ? undefined
        : spec.status === 'ok'
          ? { code: 0, details: '' }
          : { code: spec.code, details: spec.details },
  };
}

function inLengthOf(req: HandshakerReq): number {
  return req.serverStart?.inBytes.length ?? req.next?.inBytes.length ?? 0;
}

/** A grpc-js ClientDuplexStream stand-in answering each request from a script. */
class StubCall extends EventEmitter {
  closedByDriver = false;
  #index = 0;
  constructor(
    private readonly script: readonly StepSpec[],
    private readonly delivered: Array<{ resp: HandshakerResp; inLength: number }>,
  ) {
    super();
  }
  write(req: HandshakerReq): boolean {
    const step = this.script[this.#index++] ?? { kind: 'hang' };
    const inLength = inLengthOf(req);
    setImmediate(() => {
      if (step.kind === 'resp' || step.kind === 'twice') {
        const resp = buildResp(step.resp, inLength);
        this.delivered.push({ resp, inLength });
        this.emit('data', resp);
        if (step.kind === 'twice') this.emit('data', resp);
      } else if (step.kind === 'end') this.emit('end');
      else if (step.kind === 'error')
        this.emit('error', Object.assign(new Error('14 UNAVAILABLE: boom'), { code: 14, details: 'boom' }));
    });
    return true;
  }
  end(): void {
    this.closedByDriver = true;
  }
  cancel(): void {
    this.closedByDriver = true;
    setImmediate(() =>
      this.emit(
        'error',
        Object.assign(new Error('1 CANCELLED'), { code: 1, details: 'Cancelled on client' }),
      ),
    );
  }
}

describe('HARDENING 30: handshake driver fuzzing with malformed handshaker responses', () => {
  let timerBaseline = 0;
  before(() => {
    escapes.start();
    timerBaseline = activeTimers();
  });
  after(() => escapes.stop());

  test(`in-process stub handshaker: malformed responses, random peer bytes (seed ${SEED})`, async (t) => {
    t.diagnostic(`FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} stub cases=${STUB_RUNS}`);
    const limiter = new HandshakeLimiter(2);
    let cases = 0;
    let successes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Side>('client', 'server'),
        fc.array(stepArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 80 }), { maxLength: 4 }),
        fc.constantFrom('eof', 'eof', 'eof', 'eof', 'eof', 'eof', 'eof', 'open'),
        fc.option(fc.nat(3), { freq: 8 }),
        // docs/hardening.md 31: a peer that reset, so every write of ours fails.
        fc.boolean(),
        async (side, script, peerChunks, peerEnd, cancelAfterMs, writesFail) => {
          cases++;
          const delivered: Array<{ resp: HandshakerResp; inLength: number }> = [];
          const calls: StubCall[] = [];
          const client = {
            doHandshake: () => {
              const call = new StubCall(script, delivered);
              calls.push(call);
              return call;
            },
          } as unknown as HandshakerServiceClient;
          const fake = new FakeSocket();
          fake.failWrites = writesFail;
          const cancel = new AbortController();
          const params: HandshakeParams = {
            side,
            client,
            handshakerAddress: 'stub',
            limiter,
            timeoutMs: 20,
            maxFrameSize: 131072,
            signal: cancel.signal,
            ...(side === 'client' ? { targetServiceAccounts: ['peer@fuzz'], targetName: 'fuzz:1' } : {}),
          };
          const running = runHandshake(fake.asSocket(), params);
          for (const c of peerChunks) fake.feed(c);
          if (peerEnd === 'eof') fake.feedEnd();
          const cancelTimer =
            cancelAfterMs === null ? undefined : setTimeout(() => cancel.abort(), cancelAfterMs);
          const settled = await settleWithin(running, 2_000, 'the handshake');
          clearTimeout(cancelTimer);
          if (settled.status === 'rejected') {
            assert.ok(AltsError.is(settled.reason), `not an AltsError: ${String(settled.reason)}`);
            assert.equal(
              await closedWithin(fake, CLOSE_WAIT_MS),
              true,
              'socket not destroyed after a failure',
            );
            const last = delivered.at(-1);
            if (
              !writesFail &&
              settled.reason.code === 'HANDSHAKER_ERROR' &&
              last &&
              last.resp.outFrames.length > 0
            ) {
              // docs/hardening.md 21: the error's out_frames (alerts) were sent to the peer before closing.
              const written = fake.written;
              assert.ok(
                written.subarray(written.length - last.resp.outFrames.length).equals(last.resp.outFrames),
                'the alert out_frames of a non-OK response did not reach the peer',
              );
            }
          } else {
            successes++;
            const outcome: HandshakeOutcome = settled.value;
            const last = delivered.at(-1);
            assert.ok(last && isAcceptable(last.resp, last.inLength), 'accepted an invalid final response');
            assert.equal(outcome.keyData.length, 44);
            // A failed write may have destroyed the socket already; the record layer then fails.
            if (!writesFail) assert.equal(fake.destroyed, false);
            fake.destroy();
          }
          assert.equal(limiter.active, 0, 'a handshake slot was not released');
          assert.equal(limiter.waiting, 0);
          for (const call of calls)
            assert.equal(call.closedByDriver, true, 'a DoHandshake stream was left open');
        },
      ),
      { seed: SEED, numRuns: STUB_RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    report('driver-stub', cases);
    t.diagnostic(`stub cases=${cases} successes=${successes}`);
    assert.ok(successes > 0, 'the generator should sometimes produce a valid handshake');
  });

  describe('over gRPC', () => {
    let fake: FakeHandshaker;
    let mutate:
      | ((req: HandshakerReq, def: HandshakerResp, index: number) => HandshakerResp | 'hang' | undefined)
      | undefined;
    before(async () => {
      fake = await startFakeHandshaker({ override: (req, def, index) => mutate?.(req, def, index) });
    });
    after(async () => {
      await fake.stop();
    });

    test(`fake handshaker with mutated responses, both sides on loopback (seed ${SEED})`, async (t) => {
      t.diagnostic(`FUZZ_SEED=${SEED} grpc cases=${GRPC_RUNS}`);
      const ref = acquireHandshakerChannel(fake.address);
      const listener = createServer({ pauseOnConnect: true });
      listener.listen(0, '127.0.0.1');
      await once(listener, 'listening');
      const port = (listener.address() as { port: number }).port;
      const limiter = new HandshakeLimiter(4);
      let cases = 0;
      const mutation = fc.record({
        which: fc.nat(5),
        kind: fc.constantFrom(
          'consumed-over',
          'consumed-huge',
          'huge-out-frames',
          'too-big-for-grpc',
          'status',
          'no-result-fields',
          'short-key',
          'record-protocol',
          'versions',
          'hang',
          'none',
        ),
        n: fc.nat(),
      });
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(mutation, { maxLength: 2 }), async (mutations) => {
            cases++;
            let request = 0;
            mutate = (_req, def) => {
              const here = request++;
              const m = mutations.find((x) => x.which % 4 === here);
              if (!m) return undefined;
              switch (m.kind) {
                case 'consumed-over':
                  return { ...def, bytesConsumed: def.bytesConsumed + 1 + (m.n % 100) };
                case 'consumed-huge':
                  return { ...def, bytesConsumed: 0xffffffff };
                case 'huge-out-frames':
                  return { ...def, outFrames: Buffer.alloc(256 * 1024 + (m.n % (2 * 1024 * 1024)), 1) };
                case 'too-big-for-grpc':
                  // Over grpc-js's 4 MiB default receive limit: the stream fails RESOURCE_EXHAUSTED.
                  return { ...def, outFrames: Buffer.alloc(5 * 1024 * 1024, 2) };
                case 'status':
                  return { ...def, status: { code: 1 + (m.n % 16), details: `fuzz ${m.n}` } };
                case 'no-result-fields':
                  return def.result
                    ? { ...def, result: HandshakerResp.fromPartial({ result: {} }).result }
                    : undefined;
                case 'short-key':
                  return def.result
                    ? { ...def, result: { ...def.result, keyData: Buffer.alloc(m.n % REKEY_KEY_SIZE) } }
                    : undefined;
                case 'record-protocol':
                  return def.result
                    ? { ...def, result: { ...def.result, recordProtocol: `X${m.n}` } }
                    : undefined;
                case 'versions':
                  return def.result
                    ? {
                        ...def,
                        result: {
                          ...def.result,
                          peerRpcVersions: {
                            maxRpcVersion: version(1, m.n % 3),
                            minRpcVersion: version(1, 0),
                          },
                        },
                      }
                    : undefined;
                case 'hang':
                  return 'hang';
                default:
                  return undefined;
              }
            };
            const accepted = once(listener, 'connection') as Promise<[Socket]>;
            const c = connect(port, '127.0.0.1');
            const [[s]] = await Promise.all([accepted, once(c, 'connect')]);
            const hangs = mutations.some((m) => m.kind === 'hang');
            const timeoutMs = hangs ? HANG_TIMEOUT_MS : SETTLED_TIMEOUT_MS;
            const base = {
              client: ref.client,
              handshakerAddress: fake.address,
              limiter,
              timeoutMs,
              maxFrameSize: 131072,
            };
            const settleMs = timeoutMs + CLOSE_WAIT_MS;
            const results = await Promise.all([
              settleWithin(
                runHandshake(c, { ...base, side: 'client', targetName: 'fuzz:1' }),
                settleMs,
                'client',
              ),
              settleWithin(runHandshake(s, { ...base, side: 'server' }), settleMs, 'server'),
            ]);
            const mutatesNothing = mutations.every((m) => m.kind === 'none');
            for (const [r, socket] of [
              [results[0], c],
              [results[1], s],
            ] as const) {
              if (r.status === 'rejected') {
                assert.ok(AltsError.is(r.reason), `not an AltsError: ${String(r.reason)}`);
                assert.equal(
                  await closedWithin(socket, CLOSE_WAIT_MS),
                  true,
                  'socket not destroyed after a failure',
                );
              } else {
                assert.equal(r.value.keyData.length, 44);
              }
            }
            if (mutatesNothing)
              assert.deepEqual(
                results.map((r) => r.status),
                ['fulfilled', 'fulfilled'],
              );
            c.destroy();
            s.destroy();
            assert.equal(limiter.active, 0, 'a handshake slot was not released');
            // Every DoHandshake stream ends on the handshaker's side too (no leaked streams).
            for (let i = 0; i < 200 && fake.open > 0; i++) await sleep(5);
            assert.equal(fake.open, 0, 'a DoHandshake stream was left open');
          }),
          { seed: SEED, numRuns: GRPC_RUNS, endOnFailure: true, includeErrorInReport: true },
        );
      } finally {
        mutate = undefined;
        listener.close();
        ref.release();
      }
      report('driver-grpc-fake', cases);
    });

    test(`garbage and truncated protobuf on the DoHandshake stream (seed ${SEED})`, async (t) => {
      t.diagnostic(`FUZZ_SEED=${SEED} garbage cases=${GRPC_RUNS}`);
      let answers: Buffer[] = [];
      /** The last answer sent and the in_bytes length of the request it answered. */
      let lastAnswer: { bytes: Buffer; inLength: number } | undefined;
      const server = new Server();
      server.addService(rawHandshakerService, {
        doHandshake: (call: ServerDuplexStream<Buffer, Buffer>) => {
          let i = 0;
          call.on('data', (request: Buffer) => {
            const answer = answers[i++];
            if (answer === undefined) call.end();
            else {
              lastAnswer = { bytes: answer, inLength: inLengthOf(HandshakerReq.decode(request)) };
              call.write(answer);
            }
          });
          call.on('end', () => call.end());
          call.on('error', () => undefined);
        },
      });
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
          e ? reject(e) : resolve(p),
        ),
      );
      const client = new HandshakerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
      const limiter = new HandshakeLimiter(2);
      const valid = Buffer.from(
        HandshakerResp.encode(
          HandshakerResp.fromPartial({
            outFrames: Buffer.from('x'),
            bytesConsumed: 0,
            status: { code: 0, details: '' },
            result: buildResult({
              recordProtocol: ALTSRP_GCM_AES128_REKEY,
              keyLength: REKEY_KEY_SIZE,
              versions: 'valid',
              maxFrameSize: 0,
              identities: true,
            }),
          }),
        ).finish(),
      );
      let cases = 0;
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.oneof(
                fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
                fc.nat(valid.length).map((n) => valid.subarray(0, n)),
                fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => {
                  const b = Buffer.from(valid);
                  b[at] = (b[at] as number) ^ (1 << bit);
                  return b;
                }),
              ),
              { maxLength: 3 },
            ),
            async (chunks) => {
              cases++;
              answers = chunks;
              lastAnswer = undefined;
              const fakeSocket = new FakeSocket();
              const running = runHandshake(fakeSocket.asSocket(), {
                side: 'client',
                client,
                handshakerAddress: 'garbage',
                limiter,
                timeoutMs: 500,
                maxFrameSize: 131072,
                targetName: 'fuzz:1',
              });
              fakeSocket.feed(Buffer.from('peer bytes'));
              fakeSocket.feedEnd();
              const r = await settleWithin(running, 3_000, 'the handshake');
              if (r.status === 'rejected') {
                assert.ok(AltsError.is(r.reason), `not an AltsError: ${String(r.reason)}`);
                assert.equal(await closedWithin(fakeSocket, CLOSE_WAIT_MS), true);
              } else {
                // Only a last answer that decodes to an acceptable response may succeed.
                const answered = lastAnswer as { bytes: Buffer; inLength: number } | undefined;
                assert.ok(answered !== undefined);
                assert.ok(
                  isAcceptable(HandshakerResp.decode(answered.bytes), answered.inLength),
                  'accepted an invalid response',
                );
                fakeSocket.destroy();
              }
              assert.equal(limiter.active, 0);
            },
          ),
          { seed: SEED, numRuns: GRPC_RUNS, endOnFailure: true, includeErrorInReport: true },
        );
      } finally {
        client.close();
        await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      }
      report('driver-grpc-garbage', cases);
    });
  });

  test('HARDENING 26: no exception escaped; timers, channels and streams back to baseline', async () => {
    assert.deepEqual(escapes.escaped, []);
    for (let i = 0; i < 100 && activeTimers() > timerBaseline; i++) await sleep(20);
    assert.ok(activeTimers() <= timerBaseline, `timers: ${activeTimers()} > ${timerBaseline}`);
    assert.equal(openHandshakerChannelsForTesting(), 0);
  });
});
