import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HandshakeProtocol } from '@grpc-alts/handshaker-proto';
import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';
import {
  CLIENT_FINISHED,
  CLIENT_INIT,
  FAKE_KEY,
  type FakeHandshaker,
  type FakeHandshakerOptions,
  SERVER_FRAME,
  startFakeHandshaker,
} from '../fake-handshaker.test.util.js';
import {
  type HandshakeParams,
  MAX_FIRST_MESSAGE_BYTES,
  MAX_HANDSHAKER_REQUESTS,
  runHandshake,
} from './driver.js';
import {
  acquireHandshakerChannel,
  type HandshakerChannelRef,
  openHandshakerChannelsForTesting,
} from './handshaker-client.js';
import { HandshakeLimiter } from './limiter.js';

/** The handshake deadline of params() below. */
const TIMEOUT_MS = 5_000;
/** "Fails fast": before half the deadline, so the failure did not wait for it, even on a loaded machine. */
const FAST_MS = TIMEOUT_MS / 2;

/** A dripping peer's byte interval, and how long it drips (its first-message deadline). */
const DRIP_INTERVAL_MS = 10;
const DRIP_MS = 2_000;

/** A server's deadline for the peer's next message, and for its first message, in the tests below. */
const PEER_MESSAGE_MS = 1_500;
const FIRST_MESSAGE_MS = 500;
/** The limiter's idle grace in the preemption test. */
const PREEMPT_IDLE_MS = 300;

/** Waits until `condition` holds, failing after 10 s (a loaded machine is slow, not this slow). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1_000 && !condition(); i++) await sleep(10);
  assert.ok(condition(), `timed out waiting until ${what}`);
}

/** A handshaker override: every `next` consumed whole and answered with `outFrames`, never a result. */
function answerNextWith(outFrames: Buffer): NonNullable<FakeHandshakerOptions['override']> {
  return (req) =>
    req.next
      ? {
          outFrames,
          bytesConsumed: req.next.inBytes.length,
          result: undefined,
          status: { code: 0, details: '' },
        }
      : undefined;
}

/** Every test socket, destroyed after each test so leak checks see only the library's resources. */
const testSockets: Socket[] = [];

/** A connected loopback socket pair: [client side, server side]. */
async function socketPair(): Promise<[Socket, Socket, NetServer]> {
  const listener = createServer({ pauseOnConnect: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  assert.ok(address && typeof address === 'object');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(address.port, '127.0.0.1');
  const [[server]] = await Promise.all([accepted, once(client, 'connect')]);
  listener.close();
  testSockets.push(client, server);
  return [client, server, listener];
}

function params(
  ref: HandshakerChannelRef,
  side: Side,
  extra: Partial<HandshakeParams> = {},
): HandshakeParams {
  return {
    side,
    client: ref.client,
    handshakerAddress: 'test',
    limiter: new HandshakeLimiter(100),
    timeoutMs: TIMEOUT_MS,
    maxFrameSize: 1_048_576,
    ...(side === 'client'
      ? { targetServiceAccounts: ['server@test.iam.gserviceaccount.com'], targetName: 'booking:8080' }
      : {}),
    ...extra,
  };
}

async function withFake<T>(
  options: FakeHandshakerOptions,
  fn: (fake: FakeHandshaker, ref: HandshakerChannelRef) => Promise<T>,
) {
  const fake = await startFakeHandshaker(options);
  const ref = acquireHandshakerChannel(fake.address);
  try {
    return await fn(fake, ref);
  } finally {
    ref.release();
    await fake.stop();
  }
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: AltsError['code'],
  pattern?: RegExp,
): Promise<AltsError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(AltsError.is(err), `expected an AltsError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a ${code} failure`);
}

/** Resources (sockets, timers, handles) still alive, ignoring the test runner's own. */
function liveResources(): number {
  return process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap').length;
}

async function settleTo(baseline: number): Promise<number> {
  for (let i = 0; i < 50 && liveResources() > baseline; i++) await sleep(20);
  return liveResources();
}

describe('ALTS handshake driver', () => {
  let baseline = 0;
  before(async () => {
    await sleep(10);
    baseline = liveResources();
  });
  afterEach(() => {
    for (const socket of testSockets.splice(0)) socket.destroy();
  });
  after(() => assert.equal(openHandshakerChannelsForTesting(), 0, 'handshaker channels released'));

  it('completes both sides on loopback with the exact start requests of docs/protocol.md §3.1', async () => {
    await withFake({}, async (fake, ref) => {
      const [c, s] = await socketPair();
      const [client, server] = await Promise.all([
        runHandshake(c, params(ref, 'client')),
        runHandshake(s, params(ref, 'server')),
      ]);
      assert.deepEqual(client.keyData, FAKE_KEY.subarray(0, 44));
      assert.deepEqual(server.keyData, client.keyData);
      assert.equal(client.context.peerServiceAccount, 'server@test.iam.gserviceaccount.com');
      assert.equal(client.context.localServiceAccount, 'client@test.iam.gserviceaccount.com');
      assert.equal(server.context.peerServiceAccount, 'client@test.iam.gserviceaccount.com');
      assert.equal(client.context.securityLevel, 'INTEGRITY_AND_PRIVACY');
      assert.deepEqual(client.context.peerRpcVersions, {
        max: { major: 2, minor: 1 },
        min: { major: 2, minor: 1 },
      });
      assert.equal(client.peerMaxFrameSize, 16384);
      assert.equal(client.leftover.length, 0);

      const clientStart = fake.requests.find((r) => r.clientStart)?.clientStart;
      assert.deepEqual(clientStart, {
        handshakeSecurityProtocol: HandshakeProtocol.ALTS,
        applicationProtocols: ['grpc'],
        recordProtocols: ['ALTSRP_GCM_AES128_REKEY'],
        targetIdentities: [
          { serviceAccount: 'server@test.iam.gserviceaccount.com', hostname: undefined, attributes: {} },
        ],
        localIdentity: undefined,
        localEndpoint: undefined,
        remoteEndpoint: undefined,
        targetName: 'booking:8080',
        rpcVersions: { maxRpcVersion: { major: 2, minor: 1 }, minRpcVersion: { major: 2, minor: 1 } },
        maxFrameSize: 1_048_576,
        accessToken: '',
        transportProtocolPreferences: undefined,
      });
      const serverStart = fake.requests.find((r) => r.serverStart)?.serverStart;
      assert.ok(serverStart);
      assert.deepEqual(serverStart.applicationProtocols, ['grpc']);
      assert.deepEqual(Object.keys(serverStart.handshakeParameters), ['2']);
      assert.deepEqual(serverStart.handshakeParameters[2]?.recordProtocols, ['ALTSRP_GCM_AES128_REKEY']);
      assert.deepEqual(serverStart.inBytes, CLIENT_INIT);
      assert.deepEqual(serverStart.rpcVersions, {
        maxRpcVersion: { major: 2, minor: 1 },
        minRpcVersion: { major: 2, minor: 1 },
      });
      assert.equal(serverStart.maxFrameSize, 1_048_576);
      c.destroy();
      s.destroy();
    });
  });

  it('hands the bytes after the peer’s last handshake message to the record layer (leftover)', async () => {
    const trailer = Buffer.from('first-records');
    await withFake({ clientTrailer: trailer }, async (_fake, ref) => {
      const [c, s] = await socketPair();
      const [, server] = await Promise.all([
        runHandshake(c, params(ref, 'client')),
        runHandshake(s, params(ref, 'server')),
      ]);
      assert.deepEqual(server.leftover, trailer);
      c.destroy();
      s.destroy();
    });
  });

  it('accepts peer messages split over many reads; resends bytes the handshaker did not use', async () => {
    for (const consume of ['all', 'none'] as const) {
      await withFake({ consume }, async (fake, ref) => {
        const [peer, s] = await socketPair();
        const done = runHandshake(s, params(ref, 'server'));
        // As a real client: ClientInit, then ClientFinished once the server's flight arrived.
        const serverFlight = once(peer, 'data');
        for (const message of [CLIENT_INIT, CLIENT_FINISHED]) {
          for (const byte of message) {
            peer.write(Buffer.from([byte]));
            await sleep(1);
          }
          await serverFlight;
        }
        const server = await done;
        assert.equal(server.context.peerServiceAccount, 'client@test.iam.gserviceaccount.com');
        const sentToHandshaker = fake.requests.length;
        assert.ok(sentToHandshaker > 3, `several next requests (${sentToHandshaker})`);
        if (consume === 'none') {
          const last = fake.requests.at(-1)?.next?.inBytes;
          assert.deepEqual(last, CLIENT_FINISHED, 'unconsumed bytes were re-sent in front of new ones');
        }
        peer.destroy();
        s.destroy();
      });
    }
  });

  it('HARDENING 18: handshaker service down fails fast with HANDSHAKER_UNAVAILABLE', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const ref = acquireHandshakerChannel(`127.0.0.1:${port}`);
    const [c] = await socketPair();
    const started = Date.now();
    await rejectsWith(runHandshake(c, params(ref, 'client')), 'HANDSHAKER_UNAVAILABLE');
    assert.ok(Date.now() - started < FAST_MS, 'failed fast');
    assert.ok(c.destroyed, 'socket destroyed');
    ref.release();
  });

  it('HARDENING 19: a hung handshaker trips the deadline: stream cancelled, socket destroyed', async () => {
    await withFake({ override: () => 'hang' }, async (fake, ref) => {
      const [c] = await socketPair();
      await rejectsWith(
        runHandshake(c, params(ref, 'client', { timeoutMs: 300 })),
        'HANDSHAKE_TIMEOUT',
        /300 ms/,
      );
      assert.ok(c.destroyed);
      for (let i = 0; i < 50 && fake.open > 0; i++) await sleep(10);
      assert.equal(fake.open, 0, 'handshaker stream closed');
    });
  });

  it('HARDENING 20: a silent peer trips the deadline; a peer closing mid-handshake fails fast', async () => {
    await withFake({}, async (_fake, ref) => {
      const [c, s] = await socketPair();
      s.pause();
      await rejectsWith(runHandshake(c, params(ref, 'client', { timeoutMs: 300 })), 'HANDSHAKE_TIMEOUT');
      s.destroy();

      const [c2, s2] = await socketPair();
      const failing = runHandshake(c2, params(ref, 'client'));
      s2.once('data', () => s2.destroy());
      s2.resume();
      const started = Date.now();
      await rejectsWith(failing, 'PEER_CLOSED');
      assert.ok(Date.now() - started < FAST_MS, 'failed fast');

      const [c3, s3] = await socketPair();
      const silentClient = runHandshake(s3, params(ref, 'server', { timeoutMs: 300 }));
      await rejectsWith(silentClient, 'HANDSHAKE_TIMEOUT');
      c3.destroy();
    });
  });

  it('HARDENING 21: a non-OK status fails with its details once its out_frames reach the peer', async () => {
    const alert = Buffer.from('ALERT: bad peer');
    await withFake(
      {
        override: (req) =>
          req.clientStart
            ? {
                outFrames: alert,
                bytesConsumed: 0,
                result: undefined,
                status: { code: 7, details: 'service account refused' },
              }
            : undefined,
      },
      async (_fake, ref) => {
        const [c, s] = await socketPair();
        const received: Buffer[] = [];
        s.on('data', (d: Buffer) => received.push(d));
        s.resume();
        await rejectsWith(
          runHandshake(c, params(ref, 'client')),
          'HANDSHAKER_ERROR',
          /service account refused/,
        );
        await once(s, 'end');
        assert.deepEqual(Buffer.concat(received), alert);
        s.destroy();
      },
    );
  });

  const badResults: Array<
    [string, NonNullable<FakeHandshakerOptions['override']>, AltsError['code'], RegExp]
  > = [
    [
      'HARDENING 22: bytes_consumed beyond in_bytes',
      (req, def) => (req.serverStart ? { ...def, bytesConsumed: 11 } : undefined),
      'BAD_HANDSHAKER_RESPONSE',
      /out of bound/,
    ],
    [
      'HARDENING 22: key_data shorter than 44 bytes',
      (_req, def) =>
        def.result ? { ...def, result: { ...def.result, keyData: Buffer.alloc(43) } } : undefined,
      'BAD_HANDSHAKER_RESPONSE',
      /43 bytes of key data/,
    ],
    [
      'HARDENING 22: unknown record protocol',
      (_req, def) =>
        def.result ? { ...def, result: { ...def.result, recordProtocol: 'ALTSRP_GCM_AES256' } } : undefined,
      'BAD_HANDSHAKER_RESPONSE',
      /unknown resulted record protocol/,
    ],
    [
      'HARDENING 23: missing peer RPC versions',
      (_req, def) =>
        def.result ? { ...def, result: { ...def.result, peerRpcVersions: undefined } } : undefined,
      'RPC_VERSION_MISMATCH',
      /did not send/,
    ],
    [
      'HARDENING 23: incompatible peer RPC versions',
      (_req, def) =>
        def.result
          ? {
              ...def,
              result: {
                ...def.result,
                peerRpcVersions: {
                  maxRpcVersion: { major: 3, minor: 0 },
                  minRpcVersion: { major: 3, minor: 0 },
                },
              },
            }
          : undefined,
      'RPC_VERSION_MISMATCH',
      /not compatible/,
    ],
  ];
  for (const [name, override, code, pattern] of badResults) {
    it(name, async () => {
      await withFake({ override }, async (_fake, ref) => {
        const [c, s] = await socketPair();
        const results = await Promise.allSettled([
          runHandshake(c, params(ref, 'client', { timeoutMs: 2_000 })),
          runHandshake(s, params(ref, 'server', { timeoutMs: 2_000 })),
        ]);
        const failure = results.find(
          (r) => r.status === 'rejected' && AltsError.is(r.reason) && r.reason.code === code,
        );
        assert.ok(
          failure && failure.status === 'rejected',
          `one side fails with ${code}: ${JSON.stringify(results.map((r) => r.status))}`,
        );
        assert.match((failure.reason as Error).message, pattern);
        assert.ok(c.destroyed || s.destroyed);
        c.destroy();
        s.destroy();
      });
    });
  }

  it('HARDENING 24: a target identity the handshaker refuses fails the client with the reason', async () => {
    await withFake(
      {
        override: (req) =>
          req.clientStart &&
          !req.clientStart.targetIdentities.some(
            (t) => t.serviceAccount === 'server@test.iam.gserviceaccount.com',
          )
            ? {
                outFrames: Buffer.alloc(0),
                bytesConsumed: 0,
                result: undefined,
                status: { code: 7, details: 'peer server@test is not a target identity' },
              }
            : undefined,
      },
      async (_fake, ref) => {
        const [c] = await socketPair();
        await rejectsWith(
          runHandshake(
            c,
            params(ref, 'client', { targetServiceAccounts: ['other@test.iam.gserviceaccount.com'] }),
          ),
          'HANDSHAKER_ERROR',
          /not a target identity/,
        );
      },
    );
  });

  it('HARDENING 25: 10× the concurrency limit all succeed, never more than the limit in flight', async () => {
    await withFake({}, async (fake, ref) => {
      const limit = 3;
      const clientLimiter = new HandshakeLimiter(limit);
      const serverLimiter = new HandshakeLimiter(limit);
      const pairs = await Promise.all(Array.from({ length: 10 * limit }, () => socketPair()));
      const outcomes = await Promise.all(
        pairs.flatMap(([c, s]) => [
          runHandshake(c, params(ref, 'client', { limiter: clientLimiter })),
          runHandshake(s, params(ref, 'server', { limiter: serverLimiter })),
        ]),
      );
      assert.equal(outcomes.length, 20 * limit);
      assert.ok(fake.maxOpen <= 2 * limit, `at most ${2 * limit} streams at once, saw ${fake.maxOpen}`);
      assert.equal(clientLimiter.active + serverLimiter.active, 0);
      for (const [c, s] of pairs) {
        c.destroy();
        s.destroy();
      }
    });
  });

  it('a queued handshake’s wait counts against its deadline', async () => {
    await withFake({ override: () => 'hang' }, async (_fake, ref) => {
      const limiter = new HandshakeLimiter(1);
      const [c1] = await socketPair();
      const [c2] = await socketPair();
      const first = runHandshake(c1, params(ref, 'client', { limiter, timeoutMs: 400 }));
      const second = runHandshake(c2, params(ref, 'client', { limiter, timeoutMs: 200 }));
      await rejectsWith(second, 'HANDSHAKE_TIMEOUT');
      await rejectsWith(first, 'HANDSHAKE_TIMEOUT');
      assert.equal(limiter.active, 0);
      assert.equal(limiter.waiting, 0);
    });
  });

  it('cancellation through the signal aborts an in-flight handshake', async () => {
    await withFake({ override: () => 'hang' }, async (_fake, ref) => {
      const [c] = await socketPair();
      const abort = new AbortController();
      const running = runHandshake(c, params(ref, 'client', { signal: abort.signal }));
      setTimeout(() => abort.abort(), 50);
      await rejectsWith(running, 'CANCELLED');
      assert.ok(c.destroyed);
    });
  });

  it('a handshake cancelled while queued, or before it starts, takes no slot', async () => {
    await withFake({ override: () => 'hang' }, async (_fake, ref) => {
      const limiter = new HandshakeLimiter(1);
      const [c1] = await socketPair();
      const [c2] = await socketPair();
      const [c3] = await socketPair();
      const holder = new AbortController();
      const first = runHandshake(c1, params(ref, 'client', { limiter, signal: holder.signal }));
      const queued = new AbortController();
      const second = runHandshake(c2, params(ref, 'client', { limiter, signal: queued.signal }));
      assert.deepEqual([limiter.active, limiter.waiting], [1, 1]);
      queued.abort();
      await rejectsWith(second, 'CANCELLED');
      assert.deepEqual([limiter.active, limiter.waiting], [1, 0]);
      const early = new AbortController();
      early.abort();
      await rejectsWith(
        runHandshake(c3, params(ref, 'client', { limiter, signal: early.signal })),
        'CANCELLED',
      );
      assert.deepEqual([limiter.active, limiter.waiting], [1, 0]);
      assert.ok(c2.destroyed && c3.destroyed);
      holder.abort();
      await rejectsWith(first, 'CANCELLED');
      assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
    });
  });

  it('HARDENING 31: an alert written to a peer that already reset ends only that connection', async () => {
    const alert = Buffer.from('ALERT: refused');
    let peer: Socket | undefined;
    await withFake(
      {
        // The peer resets while the handshaker is answering: the server's socket, paused after
        // its 64 KiB read step, learns of it only when it writes the alert.
        override: (req) => {
          if (!req.serverStart) return undefined;
          peer?.resetAndDestroy();
          return {
            outFrames: alert,
            bytesConsumed: 0,
            result: undefined,
            status: { code: 3, details: 'no' },
          };
        },
      },
      async (_fake, ref) => {
        for (let i = 0; i < 5; i++) {
          const [c, s] = await socketPair();
          peer = c;
          c.write(Buffer.alloc(256 * 1024, 1));
          await sleep(20);
          await rejectsWith(runHandshake(s, params(ref, 'server')), 'HANDSHAKER_ERROR');
          await sleep(50);
          assert.ok(s.listenerCount('error') > 0, 'the socket keeps an error listener');
        }
      },
    );
  });

  it('HARDENING 32: a peer without a whole first message holds no server slot, has a deadline', async () => {
    await withFake({}, async (fake, ref) => {
      const limiter = new HandshakeLimiter(1);
      const [slowPeer, slowServer] = await socketPair();
      slowPeer.write(CLIENT_INIT.subarray(0, 1));
      const slow = runHandshake(slowServer, params(ref, 'server', { limiter, firstMessageTimeoutMs: 3_000 }));
      for (let i = 0; i < 200 && fake.requests.length === 0; i++) await sleep(10);
      await sleep(50);
      assert.equal(limiter.active, 0, 'no slot while the first message is incomplete');
      for (let i = 0; i < 200 && fake.open > 0; i++) await sleep(10);
      assert.equal(fake.open, 0, 'no DoHandshake stream while the first message is incomplete');
      slowPeer.write(CLIENT_INIT.subarray(1, 2));
      for (let i = 0; i < 200 && fake.requests.length < 2; i++) await sleep(10);
      assert.ok(
        fake.requests[1]?.serverStart?.inBytes.equals(CLIENT_INIT.subarray(0, 2)),
        'the next attempt starts afresh with every byte so far',
      );
      for (let i = 0; i < 200 && (fake.open > 0 || limiter.active > 0); i++) await sleep(10);

      const [c, s] = await socketPair();
      const done = await Promise.all([
        runHandshake(c, params(ref, 'client', { limiter: new HandshakeLimiter(1) })),
        runHandshake(s, params(ref, 'server', { limiter })),
      ]);
      assert.equal(done.length, 2, 'a good handshake completes with the only slot free');
      await rejectsWith(slow, 'HANDSHAKE_TIMEOUT', /no complete first handshake message within 3000 ms/);
      assert.ok(slowServer.destroyed);
      assert.equal(limiter.active, 0);
    });
  });

  it('HARDENING 32: a peer dripping its first message costs few handshaker requests', async () => {
    await withFake(
      {
        override: (req) =>
          req.serverStart
            ? {
                outFrames: Buffer.alloc(0),
                bytesConsumed: 0,
                result: undefined,
                status: { code: 0, details: '' },
              }
            : undefined,
      },
      async (fake, ref) => {
        const [c, s] = await socketPair();
        c.on('error', () => {});
        const failing = runHandshake(s, params(ref, 'server', { firstMessageTimeoutMs: DRIP_MS }));
        let dripped = 0;
        const drip = setInterval(() => {
          c.write(Buffer.from([dripped++ & 0xff]));
        }, DRIP_INTERVAL_MS);
        try {
          await rejectsWith(failing, 'HANDSHAKE_TIMEOUT', /no complete first handshake message/);
        } finally {
          clearInterval(drip);
        }
        assert.ok(dripped > 50, `the peer dripped ${dripped} bytes`);
        assert.ok(
          fake.requests.length <= 10,
          `${fake.requests.length} handshaker requests for ${dripped} bytes`,
        );
      },
    );
  });

  it('HARDENING 32: a first message that never completes is refused past 64 KiB', async () => {
    await withFake(
      {
        override: (req) => {
          const inBytes = req.serverStart?.inBytes ?? req.next?.inBytes;
          return inBytes
            ? {
                outFrames: Buffer.alloc(0),
                bytesConsumed: 0,
                result: undefined,
                status: { code: 0, details: '' },
              }
            : undefined;
        },
      },
      async (_fake, ref) => {
        const [c, s] = await socketPair();
        c.on('error', () => {});
        const failing = runHandshake(s, params(ref, 'server'));
        c.write(Buffer.alloc(MAX_FIRST_MESSAGE_BYTES + 1024, 7));
        await rejectsWith(failing, 'CONNECTION_REFUSED', /first handshake message is not complete/);
        assert.ok(s.destroyed);
      },
    );
  });

  it('HARDENING 33: handshaker text reaches the error escaped and bounded', async () => {
    const forged =
      `refused\n${new Date().toISOString()} ot-booking-server: getBookingInfo from ` +
      `admin@x\u001b[2K${'x'.repeat(5_000)}`;
    await withFake(
      {
        override: (req) =>
          req.clientStart
            ? {
                outFrames: Buffer.alloc(0),
                bytesConsumed: 0,
                result: undefined,
                status: { code: 7, details: forged },
              }
            : undefined,
      },
      async (_fake, ref) => {
        const [c] = await socketPair();
        const err = await rejectsWith(runHandshake(c, params(ref, 'client')), 'HANDSHAKER_ERROR');
        assert.doesNotMatch(err.message, /\p{Cc}/u);
        assert.match(err.message, /refused\\u000a/);
        assert.ok(err.message.length < 600, `bounded: ${err.message.length} chars`);
      },
    );
  });

  it('HARDENING 35: the client matches the server identity to its targets, ASCII case folded', async () => {
    const kelvin = 'server@test.iam.gserviceaccount.com'.replace('a', '\u212a');
    for (const [serverIdentity, target, ok] of [
      ['SERVER@test.iam.gserviceaccount.com', 'server@TEST.iam.gserviceaccount.com', true],
      ['kelvin@test.iam.gserviceaccount.com', '\u212aelvin@test.iam.gserviceaccount.com', false],
      [kelvin, kelvin, false],
    ] as const) {
      await withFake({ serverIdentity }, async (_fake, ref) => {
        const [c, s] = await socketPair();
        const client = runHandshake(c, params(ref, 'client', { targetServiceAccounts: [target] }));
        const server = runHandshake(s, params(ref, 'server')).catch(() => undefined);
        if (ok) assert.equal((await client).context.peerServiceAccount, serverIdentity);
        else await rejectsWith(client, 'BAD_HANDSHAKER_RESPONSE', /not one of the target service accounts/);
        c.destroy();
        s.destroy();
        await server;
      });
    }
  });

  for (const [name, change, pattern] of [
    ['no peer service account', { peerIdentity: undefined }, /no peer service account/],
    [
      'an empty peer service account',
      { peerIdentity: { serviceAccount: '', attributes: {} } },
      /no peer service account/,
    ],
    ['an empty application protocol', { applicationProtocol: '' }, /no application protocol/],
  ] as const) {
    it(`HARDENING 36: a result with ${name} fails both sides`, async () => {
      await withFake(
        {
          override: (_req, def) =>
            def.result ? { ...def, result: { ...def.result, ...change } } : undefined,
        },
        async (_fake, ref) => {
          const [c, s] = await socketPair();
          const client = runHandshake(c, params(ref, 'client'));
          s.write(SERVER_FRAME);
          await rejectsWith(client, 'BAD_HANDSHAKER_RESPONSE', pattern);
          const [c2, s2] = await socketPair();
          const server = runHandshake(s2, params(ref, 'server'));
          c2.write(CLIENT_INIT);
          await once(c2, 'data');
          c2.write(CLIENT_FINISHED);
          await rejectsWith(server, 'BAD_HANDSHAKER_RESPONSE', pattern);
          for (const socket of [c, s, c2, s2]) socket.destroy();
        },
      );
    });
  }

  it('HARDENING 39: the handshaker’s 128-byte key_data is wiped once its keys are taken', async () => {
    await withFake({}, async (_fake, ref) => {
      const results: Buffer[] = [];
      const spy = Object.create(ref.client) as HandshakerChannelRef['client'];
      spy.doHandshake = ((options: { deadline: Date }) => {
        const call = ref.client.doHandshake(options);
        call.on('data', (resp: { result?: { keyData: Buffer } }) => {
          if (resp.result) results.push(resp.result.keyData);
        });
        return call;
      }) as typeof spy.doHandshake;
      const [c, s] = await socketPair();
      const [client] = await Promise.all([
        runHandshake(c, params(ref, 'client', { client: spy })),
        runHandshake(s, params(ref, 'server', { client: spy })),
      ]);
      assert.deepEqual(client.keyData, FAKE_KEY.subarray(0, 44), 'the record layer still gets its key');
      assert.equal(results.length, 2);
      for (const keyData of results) {
        assert.equal(keyData.length, FAKE_KEY.length);
        assert.ok(
          keyData.every((b) => b === 0),
          'wiped',
        );
      }
    });
  });

  it('HARDENING 40: a replayed first message, then silence, holds a slot peerMessageTimeoutMs', async () => {
    await withFake({}, async (fake, ref) => {
      const limiter = new HandshakeLimiter(1);
      const [replayer, server] = await socketPair();
      replayer.on('error', () => {});
      replayer.write(CLIENT_INIT);
      const started = performance.now();
      const stalled = runHandshake(
        server,
        params(ref, 'server', { limiter, peerMessageTimeoutMs: PEER_MESSAGE_MS, source: '10.0.0.66' }),
      );
      await until(() => fake.requests.length === 1 && limiter.active === 1, 'the server answered the replay');
      await rejectsWith(stalled, 'HANDSHAKE_TIMEOUT', new RegExp(`within ${PEER_MESSAGE_MS} ms of ours`));
      assert.ok(performance.now() - started < TIMEOUT_MS, 'it did not wait for the handshake deadline');
      assert.deepEqual([limiter.active, limiter.waiting], [0, 0]);
      assert.ok(server.destroyed);
    });
  });

  it('HARDENING 40: while a handshake waits, a replaying source keeps no slot idle past grace', async () => {
    await withFake({}, async (fake, ref) => {
      const limiter = new HandshakeLimiter(2, PREEMPT_IDLE_MS);
      const stalled: Array<Promise<unknown>> = [];
      for (let i = 0; i < 2; i++) {
        const [replayer, replayed] = await socketPair();
        replayer.on('error', () => {});
        replayer.write(CLIENT_INIT);
        stalled.push(runHandshake(replayed, params(ref, 'server', { limiter, source: '10.0.0.66' })));
      }
      await until(
        () => fake.requests.length === 2 && limiter.active === 2,
        'the server answered both replays',
      );
      const [c, s] = await socketPair();
      const good = Promise.all([
        runHandshake(c, params(ref, 'client')),
        runHandshake(s, params(ref, 'server', { limiter, source: '10.0.0.1' })),
      ]);
      await rejectsWith(stalled[0] as Promise<unknown>, 'HANDSHAKE_TIMEOUT', /while other handshakes waited/);
      assert.equal((await good).length, 2);
      await rejectsWith(stalled[1] as Promise<unknown>, 'HANDSHAKE_TIMEOUT');
    });
  });

  it('HARDENING 42: a first message whole while queued for a slot outlives its deadline', async () => {
    await withFake({}, async (_fake, ref) => {
      const limiter = new HandshakeLimiter(1);
      const busy = limiter.tryAcquire('someone else');
      const [c, s] = await socketPair();
      const client = runHandshake(c, params(ref, 'client'));
      const server = runHandshake(
        s,
        params(ref, 'server', { limiter, firstMessageTimeoutMs: FIRST_MESSAGE_MS }),
      );
      await until(() => limiter.waiting === 1, 'the server queued for the only slot');
      await sleep(FIRST_MESSAGE_MS * 2);
      busy?.release();
      const [clientDone, serverDone] = await Promise.all([client, server]);
      assert.equal(serverDone.context.peerServiceAccount, 'client@test.iam.gserviceaccount.com');
      assert.equal(clientDone.context.peerServiceAccount, 'server@test.iam.gserviceaccount.com');
    });
  });

  it('HARDENING 41: a connection closed to admit another fails so and leaves the queue at once', async () => {
    await withFake({}, async (_fake, ref) => {
      const limiter = new HandshakeLimiter(1);
      const busy = limiter.tryAcquire('someone else');
      const [peer, s] = await socketPair();
      peer.on('error', () => {});
      peer.write(CLIENT_INIT);
      const queued = runHandshake(s, params(ref, 'server', { limiter }));
      await until(() => limiter.waiting === 1, 'the server queued for the only slot');
      s.destroy(new AltsError('CONNECTION_REFUSED', 'connection closed to admit another: test'));
      await rejectsWith(queued, 'CONNECTION_REFUSED', /closed to admit another: test/);
      assert.deepEqual([limiter.active, limiter.waiting], [1, 0]);
      busy?.release();
    });
  });

  it('HARDENING 43: a peer dripping a later message costs few requests and meets its deadline', async () => {
    await withFake(
      {
        override: answerNextWith(Buffer.alloc(0)),
      },
      async (fake, ref) => {
        const [c, s] = await socketPair();
        c.on('error', () => {});
        c.write(CLIENT_INIT);
        const failing = runHandshake(s, params(ref, 'server', { peerMessageTimeoutMs: DRIP_MS }));
        await until(() => fake.requests.length === 1, 'the server answered the first message');
        let dripped = 0;
        const drip = setInterval(() => c.write(Buffer.from([dripped++ & 0xff])), DRIP_INTERVAL_MS);
        try {
          await rejectsWith(failing, 'HANDSHAKE_TIMEOUT', /no complete handshake message within/);
        } finally {
          clearInterval(drip);
        }
        assert.ok(dripped > 50, `the peer dripped ${dripped} bytes`);
        assert.ok(
          fake.requests.length <= 12,
          `${fake.requests.length} handshaker requests for ${dripped} bytes`,
        );
      },
    );
  });

  it(`HARDENING 43: an endless handshake is refused after ${MAX_HANDSHAKER_REQUESTS} requests`, async () => {
    await withFake(
      {
        override: answerNextWith(Buffer.from('more?')),
      },
      async (fake, ref) => {
        const [c, s] = await socketPair();
        c.on('error', () => {});
        c.on('data', () => c.write('yes'));
        c.write(CLIENT_INIT);
        await rejectsWith(
          runHandshake(s, params(ref, 'server')),
          'CONNECTION_REFUSED',
          /more than 32 handshaker requests/,
        );
        assert.equal(fake.requests.length, MAX_HANDSHAKER_REQUESTS);
      },
    );
  });

  it('HARDENING 26: no handles, timers or streams are left after the failures above', async () => {
    const now = await settleTo(baseline);
    assert.ok(
      now <= baseline,
      `live resources ${now} > baseline ${baseline}: ${process.getActiveResourcesInfo().join(',')}`,
    );
    assert.equal(openHandshakerChannelsForTesting(), 0);
  });
});
