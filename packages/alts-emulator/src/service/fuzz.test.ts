// HARDENING 30 (emulator side): malformed DoHandshake requests and malformed peer handshake
// messages against the handshaker service. The emulator must answer every request with a status
// (or end the stream with one), never crash, never hang, and never complete a handshake whose
// peer messages were altered.
//
// Two properties:
//   1. in-process (volume): two sessions of the service (client role and server role) are driven
//      through a whole handshake by a stand-in for grpc-js's ServerDuplexStream, with random
//      start-request fields, flights split into random `next` chunks, altered flights (bit flips,
//      truncation, inserted/appended garbage, random bytes) and stray requests (empty, two fields
//      set, a second start, next before start, half-close, cancel);
//   2. over the wire: a real emulator receives random bytes as DoHandshake messages (garbage
//      protobuf), random valid-protobuf requests, and half-closes; every stream must end with a
//      status within its deadline, and a sanity handshake start works before and after.
// Invariants: exactly one response per request until the stream finishes; every response carries
// `status`; a non-OK status finishes the stream; bytes_consumed never exceeds in_bytes; an altered
// flight never yields a result on both sides; an unaltered run yields equal keys on both sides;
// idle timers are cleared; no exception escapes.
//
// Reproduce: FUZZ_SEED=<seed printed by the run> FUZZ_RUNS=<n> node --test <this file>.
// FUZZ_RUNS (default 1000, clamped to [10, 5 000 000]) is this file's case budget: the rest in-process,
// 10 % (at most 10 000) over the wire. FUZZ_REPORT=<file> appends one JSON line per property.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ClientDuplexStream,
  credentials,
  makeGenericClientConstructor,
  type ServerDuplexStream,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import {
  HandshakeProtocol,
  HandshakerReq,
  type HandshakerResp,
  type HandshakerServiceServer,
} from '@grpc-alts/handshaker-proto';
import { activeTimers, cutAt, EscapeRecorder, fuzzRun, within } from '@grpc-alts/test-support/fuzz';
import { REKEY, RPC_VERSIONS as VERSIONS } from '@grpc-alts/test-support/handshaker';
import { rawHandshakerService } from '@grpc-alts/test-support/handshaker-stream';
import {
  type ByteMutation,
  flipArb,
  insertArb,
  mutateBytes,
  noMutationArb,
  truncateArb,
} from '@grpc-alts/test-support/mutations';
import fc from 'fast-check';
import { startEmulator } from '../emulator.js';
import { issueTestBundles } from '../emulator.test.util.js';
import type { LocalIdentity, TrustAnchor } from '../protocol/certificate.js';
import { readDisabledServiceAccounts } from '../state/iam.js';
import { createHandshakerService } from './service.js';

const { seed: SEED, runs: RUNS, report } = fuzzRun('emulator', 1000);
const WIRE_RUNS = Math.max(5, Math.min(10_000, Math.round(RUNS * 0.1)));
const SESSION_RUNS = Math.max(5, RUNS - WIRE_RUNS);
/**
 * A request not answered within this is a hang. The emulator answers in about a millisecond; the
 * margin is for a loaded 2-core machine, and only a real hang ever waits for it.
 */
const ANSWER_DEADLINE_MS = 10_000;
/** The emulator's idle limit in the wire cases: it ends streams that stop talking. */
const WIRE_IDLE_MS = 2_000;
/**
 * Client deadline of a wire case: every stream must end with the emulator's status (at the latest
 * its idle limit) well before it, also on a loaded machine.
 */
const WIRE_DEADLINE_MS = WIRE_IDLE_MS * 4;

const CLIENT_SA = 'fuzz-client@project.iam.gserviceaccount.com';
const SERVER_SA = 'fuzz-server@project.iam.gserviceaccount.com';

const escapes = new EscapeRecorder();

/** Stands in for grpc-js's ServerDuplexStream: records responses and how the stream finished. */
class FakeCall extends EventEmitter {
  readonly responses: HandshakerResp[] = [];
  finished: 'ok' | 'cancelled' | { code: number } | undefined;
  #waiter: (() => void) | undefined;
  constructor() {
    super();
    // The service reports failures by emitting 'error' on the call (grpc-js sends it as the status).
    this.on('error', (e: { code?: number }) => {
      this.finished ??= { code: e.code ?? -1 };
      this.#wake();
    });
  }
  write(resp: HandshakerResp): boolean {
    assert.equal(this.finished, undefined, 'a response was written after the stream finished');
    this.responses.push(resp);
    this.#wake();
    return true;
  }
  end(): void {
    this.finished ??= 'ok';
    this.#wake();
  }
  /** Sends a request and waits for its response or the end of the stream. */
  async send(req: HandshakerReq): Promise<HandshakerResp | undefined> {
    if (this.finished !== undefined) return undefined;
    const before = this.responses.length;
    const answered = new Promise<void>((resolve) => {
      this.#waiter = resolve;
    });
    this.emit('data', req);
    await within(answered, ANSWER_DEADLINE_MS, 'the emulator answering a request or ending the stream');
    // Let a failure's status write and its 'error' both land.
    await new Promise((r) => setImmediate(r));
    assert.ok(this.responses.length <= before + 1, 'more than one response to one request');
    const resp = this.responses[before];
    if (resp !== undefined) {
      assert.ok(resp.status !== undefined, 'a response without status');
      const inLength = req.serverStart?.inBytes.length ?? req.next?.inBytes.length ?? 0;
      assert.ok(
        resp.bytesConsumed <= inLength,
        `bytes_consumed ${resp.bytesConsumed} > in_bytes ${inLength}`,
      );
      if (resp.status.code !== 0) {
        assert.notEqual(this.finished, undefined, 'a non-OK status did not finish the stream');
        assert.notEqual(this.finished, 'ok');
      }
    } else {
      assert.notEqual(this.finished, undefined, 'no response and the stream is still open');
    }
    return resp;
  }
  /** The client half-closes; the stream must finish. */
  async halfClose(): Promise<void> {
    if (this.finished !== undefined) return;
    const done = new Promise<void>((resolve) => {
      this.#waiter = resolve;
    });
    this.emit('end');
    await within(done, ANSWER_DEADLINE_MS, 'the stream finishing after the client half-closed');
  }
  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

type Alteration =
  | ByteMutation
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'random'; bytes: Uint8Array }
  | { kind: 'header'; at: number; value: number };

const alterationArb: fc.Arbitrary<Alteration> = fc.oneof(
  { weight: 12, arbitrary: noMutationArb },
  { weight: 4, arbitrary: flipArb(1) },
  { weight: 1, arbitrary: truncateArb },
  { weight: 1, arbitrary: insertArb(16) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
  },
  {
    weight: 1,
    // The 8-byte message header: magic, version, type, length.
    arbitrary: fc.record({ kind: fc.constant('header' as const), at: fc.nat(7), value: fc.nat(255) }),
  },
);

function alter(bytes: Buffer, a: Alteration): Buffer {
  switch (a.kind) {
    case 'none':
    case 'flip':
    case 'truncate':
    case 'insert':
      return mutateBytes(bytes, a);
    case 'append':
      return Buffer.concat([bytes, a.bytes]);
    case 'random':
      return Buffer.from(a.bytes);
    case 'header': {
      if (bytes.length <= a.at) return bytes;
      const out = Buffer.from(bytes);
      out[a.at] = a.value;
      return out;
    }
  }
}

/** A flight cut into `next` pieces; an empty flight is still one (empty) `next`. */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  return bytes.length === 0 ? [bytes] : cutAt(bytes, cuts);
}

const stringList = fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 });
/** Fields both starts carry: mostly the usual value, sometimes a random list. */
const applicationProtocolsArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant<string[]>(['grpc']) },
  { weight: 1, arbitrary: stringList },
);
const recordProtocolsArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant<string[]>([REKEY]) },
  { weight: 1, arbitrary: stringList },
);
/** client_start fields: mostly valid, sometimes each one broken. */
const clientStartArb = fc.record({
  protocol: fc.oneof(
    { weight: 8, arbitrary: fc.constant(HandshakeProtocol.ALTS) },
    { weight: 1, arbitrary: fc.nat(5) },
  ),
  applicationProtocols: applicationProtocolsArb,
  recordProtocols: recordProtocolsArb,
  rpcVersions: fc.oneof(
    { weight: 8, arbitrary: fc.constant<typeof VERSIONS | undefined>(VERSIONS) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.nat(4), fc.nat(4), fc.nat(4), fc.nat(4)).map(([a, b, c, d]) => ({
        maxRpcVersion: { major: a, minor: b },
        minRpcVersion: { major: c, minor: d },
      })),
    },
  ),
  targets: fc.oneof(
    { weight: 6, arbitrary: fc.constant<string[]>([]) },
    { weight: 2, arbitrary: fc.constant<string[]>([SERVER_SA]) },
    { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }) },
  ),
  localIdentity: fc.oneof(
    { weight: 8, arbitrary: fc.constant<string | undefined>(undefined) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  ),
  maxFrameSize: fc.oneof(fc.constant(131072), fc.nat()),
});
const serverStartArb = fc.record({
  applicationProtocols: applicationProtocolsArb,
  withAltsParams: fc.oneof(
    { weight: 8, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  recordProtocols: recordProtocolsArb,
  rpcVersions: fc.oneof(
    { weight: 8, arbitrary: fc.constant<typeof VERSIONS | undefined>(VERSIONS) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  /** C-core starts with empty in_bytes; go/java with the first bytes. */
  emptyStart: fc.boolean(),
});
type Stray = 'none' | 'empty' | 'both' | 'restart' | 'next-first' | 'cancel';

const strayArb: fc.Arbitrary<Stray> = fc.oneof(
  { weight: 15, arbitrary: fc.constant<Stray>('none') },
  { weight: 1, arbitrary: fc.constantFrom<Stray>('empty', 'both', 'restart', 'next-first', 'cancel') },
);

function strayRequest(kind: Stray): HandshakerReq | undefined {
  switch (kind) {
    case 'empty':
      return HandshakerReq.fromPartial({});
    case 'both':
      return HandshakerReq.fromPartial({
        next: { inBytes: Buffer.alloc(1) },
        clientStart: { recordProtocols: [REKEY] },
      });
    case 'restart':
      return HandshakerReq.fromPartial({ clientStart: { recordProtocols: [REKEY] } });
    default:
      return undefined;
  }
}

type ClientStartFields = typeof clientStartArb extends fc.Arbitrary<infer T> ? T : never;
type ServerStartFields = typeof serverStartArb extends fc.Arbitrary<infer T> ? T : never;

function clientStartRequest(cs: ClientStartFields): HandshakerReq {
  return HandshakerReq.fromPartial({
    clientStart: {
      handshakeSecurityProtocol: cs.protocol,
      applicationProtocols: cs.applicationProtocols,
      recordProtocols: cs.recordProtocols,
      rpcVersions: cs.rpcVersions,
      targetIdentities: cs.targets.map((serviceAccount) => ({ serviceAccount })),
      ...(cs.localIdentity === undefined ? {} : { localIdentity: { serviceAccount: cs.localIdentity } }),
      maxFrameSize: cs.maxFrameSize,
    },
  });
}

function serverStartRequest(ss: ServerStartFields, inBytes: Buffer): HandshakerReq {
  return HandshakerReq.fromPartial({
    serverStart: {
      applicationProtocols: ss.applicationProtocols,
      handshakeParameters: ss.withAltsParams
        ? { [HandshakeProtocol.ALTS]: { recordProtocols: ss.recordProtocols, localIdentities: [] } }
        : {},
      rpcVersions: ss.rpcVersions,
      maxFrameSize: 1048576,
      inBytes,
    },
  });
}

/**
 * Whether `changed` is `original` with bytes appended: those are records (leftover), not an
 * alteration, and must come back unconsumed. Anything else changes the handshake.
 */
function extendsFlight(changed: Buffer, original: Buffer): boolean {
  return changed.length >= original.length && changed.subarray(0, original.length).equals(original);
}

/** DoHandshake messages for the wire: garbage, a valid start, a flipped start, `next` with garbage. */
function wireMessagesArb(validStart: Buffer): fc.Arbitrary<Buffer[]> {
  return fc.array(
    fc.oneof(
      fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
      fc.constant(validStart),
      fc.tuple(fc.nat(validStart.length - 1), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => {
        const b = Buffer.from(validStart);
        b[at] = (b[at] as number) ^ (1 << bit);
        return b;
      }),
      fc
        .uint8Array({ maxLength: 200 })
        .map((b) =>
          Buffer.from(
            HandshakerReq.encode(HandshakerReq.fromPartial({ next: { inBytes: Buffer.from(b) } })).finish(),
          ),
        ),
    ),
    { minLength: 1, maxLength: 4 },
  );
}

/**
 * Checks one wire case's outcome; true when it was the known grpc-js deadline race. Strict
 * lock-step: never more responses than requests (an idle or half-closed stream ends with a status
 * only; the fuzzer first found an unrequested CANCELLED response).
 */
function wireOutcomeRaced(messages: readonly Buffer[], responses: readonly Buffer[], code: status): boolean {
  assert.ok(responses.length <= messages.length, 'more responses than requests');
  if (code !== status.DEADLINE_EXCEEDED) return false;
  // Known grpc-js race (reported): when the handler fails the call (emit 'error') while grpc-js is
  // rejecting a later undecodable message, neither status is ever sent and the stream waits for the
  // client's deadline (~1 in 20 for [start, start, garbage]). Nothing else may leave a stream to the
  // deadline.
  const undecodableAfterFirst = messages.slice(1).some((m) => {
    try {
      HandshakerReq.decode(m);
      return false;
    } catch {
      return true;
    }
  });
  assert.ok(undecodableAfterFirst, 'the stream only ended by the client deadline');
  return true;
}

describe('HARDENING 30: emulator fuzzing with malformed requests and peer messages', () => {
  let stateDir: string;
  let anchor: TrustAnchor;
  let identities: LocalIdentity[];
  let service: HandshakerServiceServer;
  let timerBaseline = 0;

  before(async () => {
    escapes.start();
    stateDir = await mkdtemp(join(tmpdir(), 'alts-emulator-fuzz-'));
    const issued = await issueTestBundles(stateDir, [CLIENT_SA, SERVER_SA]);
    anchor = issued.root.anchor;
    identities = issued.bundles.map((b) => b.identity);
    service = createHandshakerService({
      anchor,
      identities,
      clientServiceAccount: CLIENT_SA,
      serverServiceAccount: SERVER_SA,
      disabledServiceAccounts: () => readDisabledServiceAccounts(stateDir),
      log: () => undefined,
      idleTimeoutMs: 30_000,
    });
    await sleep(10);
    timerBaseline = activeTimers();
  });
  after(async () => {
    escapes.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  function open(): FakeCall {
    const call = new FakeCall();
    service.doHandshake(call as unknown as ServerDuplexStream<HandshakerReq, HandshakerResp>);
    return call;
  }

  /** Feeds a flight as `next` requests; returns the out_frames produced and the final response. */
  async function feed(
    call: FakeCall,
    pieces: readonly Buffer[],
  ): Promise<{ out: Buffer; last?: HandshakerResp; sent: number; lastLength: number; pieces: number }> {
    const outs: Buffer[] = [];
    let last: HandshakerResp | undefined;
    let sent = 0;
    let lastLength = 0;
    let count = 0;
    for (const piece of pieces) {
      const resp = await call.send(HandshakerReq.fromPartial({ next: { inBytes: piece } }));
      if (resp === undefined) break;
      last = resp;
      sent += piece.length;
      lastLength = piece.length;
      count++;
      outs.push(resp.outFrames);
      if (resp.status?.code !== 0 || resp.result) break;
    }
    return { out: Buffer.concat(outs), ...(last ? { last } : {}), sent, lastLength, pieces: count };
  }

  /** Stray requests before the start: a `next` first, or the client cancelling. */
  async function strayBeforeStart(call: FakeCall, stray: Stray): Promise<void> {
    if (stray === 'next-first')
      await call.send(HandshakerReq.fromPartial({ next: { inBytes: Buffer.from('x') } }));
    if (stray === 'cancel') {
      // The client cancelled: grpc-js ends the stream, nothing more can be sent on it.
      call.emit('cancelled');
      call.finished = 'cancelled';
    }
  }

  interface SessionCase {
    cs: ClientStartFields;
    ss: ServerStartFields;
    /** Of ClientInit, the server flight and ClientFinished. */
    alterations: readonly [Alteration, Alteration, Alteration];
    cuts: readonly [number[], number[], number[]];
    /** Of the client and the server stream. */
    strays: readonly [Stray, Stray];
  }

  /** One handshake through both roles with its alterations, cuts and strays; true if both completed. */
  async function sessionCase(client: FakeCall, server: FakeCall, c: SessionCase): Promise<boolean> {
    const [altInit, altServer, altFinished] = c.alterations;
    const [cutInit, cutServer, cutFinished] = c.cuts;
    const [strayC, strayS] = c.strays;
    await strayBeforeStart(client, strayC);
    await strayBeforeStart(server, strayS);
    const start = await client.send(clientStartRequest(c.cs));
    const clientInit = alter(start?.outFrames ?? Buffer.alloc(0), altInit);
    let altered = altInit.kind !== 'none' && !clientInit.equals(start?.outFrames ?? Buffer.alloc(0));
    const initPieces = split(clientInit, cutInit);
    const first = c.ss.emptyStart ? Buffer.alloc(0) : (initPieces.shift() ?? Buffer.alloc(0));
    const sStart = await server.send(serverStartRequest(c.ss, first));
    const strayAfter = strayRequest(strayS);
    if (strayAfter) await server.send(strayAfter);
    let serverFlight = sStart?.outFrames ?? Buffer.alloc(0);
    if (sStart?.status?.code === 0 && serverFlight.length === 0) {
      const fed = await feed(server, initPieces);
      serverFlight = fed.out;
      initPieces.splice(0, fed.pieces);
    }
    const alteredFlight = alter(serverFlight, altServer);
    altered ||= !extendsFlight(alteredFlight, serverFlight);
    const strayC2 = strayRequest(strayC);
    if (strayC2) await client.send(strayC2);
    const clientDone = await feed(client, split(alteredFlight, cutServer));
    const finished = alter(clientDone.out, altFinished);
    altered ||= !extendsFlight(finished, clientDone.out);
    // ClientInit bytes the server answered before seeing (anything after ClientInit) travel
    // with the next flight, as they would on a TCP connection.
    const unsentInit = initPieces.reduce((n, p) => n + p.length, 0);
    const serverDone = await feed(server, [...initPieces, ...split(finished, cutFinished)]);
    return checkSessionOutcome(clientDone, serverDone, altered, unsentInit);
  }

  type Fed = Awaited<ReturnType<typeof feed>>;

  /** No altered handshake completes; a completed one agrees on keys, identities and leftovers. */
  function checkSessionOutcome(
    clientDone: Fed,
    serverDone: Fed,
    altered: boolean,
    unsentInit: number,
  ): boolean {
    const clientResult = clientDone.last?.result;
    const serverResult = serverDone.last?.result;
    if (altered) {
      assert.ok(!(clientResult && serverResult), 'both sides completed although a flight was altered');
    }
    if (!(clientResult && serverResult)) return false;
    // Everything sent after the end of ClientFinished, and only that, is left unconsumed in
    // the request that completed the handshake (those bytes are the client's first records).
    const serverLast = serverDone.last as HandshakerResp;
    const unconsumed = serverDone.lastLength - serverLast.bytesConsumed;
    assert.equal(unconsumed, serverDone.sent - unsentInit - clientDone.out.length);
    assert.ok(clientResult.keyData.equals(serverResult.keyData), 'the two sides derived different keys');
    assert.equal(serverResult.peerIdentity?.serviceAccount, CLIENT_SA);
    assert.equal(clientResult.peerIdentity?.serviceAccount, SERVER_SA);
    return true;
  }

  test(`in-process: random starts, altered and split flights, stray requests (seed ${SEED})`, async (t) => {
    t.diagnostic(`FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} session cases=${SESSION_RUNS}`);
    let cases = 0;
    let completed = 0;
    await fc.assert(
      fc.asyncProperty(
        clientStartArb,
        serverStartArb,
        fc.tuple(alterationArb, alterationArb, alterationArb),
        fc.tuple(
          fc.array(fc.nat(), { maxLength: 4 }),
          fc.array(fc.nat(), { maxLength: 4 }),
          fc.array(fc.nat(), { maxLength: 4 }),
        ),
        fc.tuple(strayArb, strayArb),
        async (cs, ss, alterations, cuts, strays) => {
          cases++;
          const client = open();
          const server = open();
          try {
            if (await sessionCase(client, server, { cs, ss, alterations, cuts, strays })) completed++;
          } finally {
            // However the case went, a half-close finishes both streams (never left hanging).
            await client.halfClose();
            await server.halfClose();
          }
          assert.notEqual(client.finished, undefined);
          assert.notEqual(server.finished, undefined);
        },
      ),
      { seed: SEED, numRuns: SESSION_RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    report('service-sessions', cases);
    t.diagnostic(`session cases=${cases} completed handshakes=${completed}`);
    assert.ok(completed > 0, 'the generator should sometimes leave the handshake intact');
    for (let i = 0; i < 50 && activeTimers() > timerBaseline; i++) await sleep(20);
    assert.ok(activeTimers() <= timerBaseline, `idle timers left: ${activeTimers()} > ${timerBaseline}`);
    assert.deepEqual(escapes.escaped, []);
  });

  /** A valid client_start, encoded: the sanity request and the seed of flipped ones. */
  const validStart = Buffer.from(
    HandshakerReq.encode(
      HandshakerReq.fromPartial({
        clientStart: {
          handshakeSecurityProtocol: HandshakeProtocol.ALTS,
          applicationProtocols: ['grpc'],
          recordProtocols: [REKEY],
          rpcVersions: VERSIONS,
        },
      }),
    ).finish(),
  );

  /** A client of the emulator at `address` that sends and receives raw DoHandshake messages. */
  function rawClient(address: string) {
    const RawClient = makeGenericClientConstructor(rawHandshakerService, 'RawHandshaker');
    const client = new RawClient(address, credentials.createInsecure()) as unknown as {
      doHandshake(options: { deadline: number }): ClientDuplexStream<Buffer, Buffer>;
      close(): void;
    };
    /** Sends messages on one stream; resolves with the responses and the final status. */
    const exchange = (messages: readonly Buffer[], halfClose: boolean) =>
      new Promise<{ responses: Buffer[]; status: StatusObject }>((resolve) => {
        const call = client.doHandshake({ deadline: Date.now() + WIRE_DEADLINE_MS });
        const responses: Buffer[] = [];
        call.on('data', (b: Buffer) => responses.push(b));
        call.on('error', () => undefined);
        call.on('status', (status: StatusObject) => resolve({ responses, status }));
        for (const m of messages) call.write(m);
        if (halfClose) call.end();
        else setTimeout(() => call.end(), 10);
      });
    const sanity = async () => {
      const { responses, status } = await exchange([validStart], true);
      const resp = responses[0];
      assert.ok(
        resp !== undefined && resp.length > 0,
        `no answer to a valid client_start (status ${status.code})`,
      );
    };
    return { exchange, sanity, close: () => client.close() };
  }

  test(
    'over the wire: garbage protobuf, random requests and half-closes against a running emulator ' +
      `(seed ${SEED})`,
    async (t) => {
      t.diagnostic(`FUZZ_SEED=${SEED} wire cases=${WIRE_RUNS}`);
      const emulator = await startEmulator({
        serviceAccount: SERVER_SA,
        clientServiceAccount: CLIENT_SA,
        stateDir,
        idleTimeoutMs: WIRE_IDLE_MS,
      });
      const client = rawClient(emulator.address);
      let cases = 0;
      let deadlineRaces = 0;
      try {
        await client.sanity();
        await fc.assert(
          fc.asyncProperty(wireMessagesArb(validStart), fc.boolean(), async (messages, halfClose) => {
            cases++;
            const outcome = await within(
              client.exchange(messages, halfClose),
              WIRE_DEADLINE_MS + 2_000,
              'the stream ending with a status',
            );
            if (wireOutcomeRaced(messages, outcome.responses, outcome.status.code)) deadlineRaces++;
          }),
          { seed: SEED, numRuns: WIRE_RUNS, endOnFailure: true, includeErrorInReport: true },
        );
        await client.sanity();
      } finally {
        client.close();
        await emulator.stop();
      }
      report('wire', cases);
      t.diagnostic(`wire cases=${cases}, grpc-js deadline races=${deadlineRaces}`);
      assert.deepEqual(escapes.escaped, []);
    },
  );
});
