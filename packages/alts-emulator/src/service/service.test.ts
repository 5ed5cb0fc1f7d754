import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { HandshakerReq, type HandshakerServiceClient } from '@grpc-alts/handshaker-proto';
import { clientStart, next, REKEY, RPC_VERSIONS, serverStart } from '@grpc-alts/test-support/handshaker';
import { RawHandshakerStream } from '@grpc-alts/test-support/handshaker-stream';
import { type RunningEmulator, startEmulator } from '../emulator.js';
import {
  CLIENT,
  cleanupsAfterAll,
  connect,
  type Flight,
  type Outcome,
  relayHandshake,
  SERVER,
  tempStateDir,
} from '../emulator.test.util.js';
import { disableServiceAccount, enableServiceAccount } from '../state/iam.js';

const cleanups = cleanupsAfterAll();
const logs: string[] = [];

async function emulator(
  stateDir: string,
  serviceAccount: string,
  clientServiceAccount?: string,
  idleTimeoutMs?: number,
) {
  const e: RunningEmulator = await startEmulator({
    serviceAccount,
    ...(clientServiceAccount === undefined ? {} : { clientServiceAccount }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
    stateDir,
    logger: (line) => logs.push(line),
  });
  const client = connect(e.address);
  cleanups.push(
    () => client.close(),
    () => e.stop(),
  );
  return client;
}

let shared: string; // one trust root, used by `one`, `clientVm`, `serverVm`
let one: HandshakerServiceClient; // both identities in one emulator (single-host demo)
let clientVm: HandshakerServiceClient; // two emulators, one per "VM", sharing a trust root
let serverVm: HandshakerServiceClient;
let stranger: HandshakerServiceClient; // another state directory: another trust root
let iamDir: string;
let iam: HandshakerServiceClient; // its own state directory, so IAM flips do not race other tests

before(async () => {
  const a = await tempStateDir();
  const b = await tempStateDir();
  const c = await tempStateDir();
  cleanups.push(a.cleanup, b.cleanup, c.cleanup);
  shared = a.dir;
  iamDir = c.dir;
  // Started together on purpose: first use of a state directory must survive the race.
  [one, clientVm, serverVm, stranger, iam] = await Promise.all([
    emulator(shared, SERVER, CLIENT),
    emulator(shared, CLIENT),
    emulator(shared, SERVER),
    emulator(b.dir, SERVER),
    emulator(iamDir, SERVER, CLIENT),
  ]);
});

/** Polls `condition` until it holds; fails after 10 s rather than hang the file. */
async function waitFor(condition: () => boolean): Promise<void> {
  const until = Date.now() + 10_000;
  while (!condition()) {
    assert.ok(Date.now() < until, 'the condition did not come true within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function assertSuccess(o: Outcome): void {
  assert.equal(o.stalled, false);
  assert.equal(o.client.failure, undefined, o.client.failure?.details);
  assert.equal(o.server.failure, undefined, o.server.failure?.details);
  assert.ok(o.client.result && o.server.result);
}

async function assertFinalStatus(o: Outcome, code: status): Promise<void> {
  assert.equal((await o.client.final).code, code);
  assert.equal((await o.server.final).code, code);
}

describe('successful handshakes', () => {
  for (const [name, c, s] of [
    ['through one emulator', () => one, () => one],
    ['through two emulators sharing a trust root', () => clientVm, () => serverVm],
  ] as const) {
    test(name, async () => {
      const o = await relayHandshake(c(), s());
      assertSuccess(o);
      const cr = o.client.result;
      const sr = o.server.result;
      assert.ok(cr && sr);
      assert.deepEqual(cr.keyData, sr.keyData);
      assert.ok(cr.keyData.length >= 44);
      for (const r of [cr, sr]) {
        assert.equal(r.applicationProtocol, 'grpc');
        assert.equal(r.recordProtocol, REKEY);
        assert.deepEqual(r.peerRpcVersions, RPC_VERSIONS);
      }
      assert.equal(cr.peerIdentity?.serviceAccount, SERVER);
      assert.equal(cr.localIdentity?.serviceAccount, CLIENT);
      assert.equal(sr.peerIdentity?.serviceAccount, CLIENT);
      assert.equal(sr.localIdentity?.serviceAccount, SERVER);
      // Each side gets the max frame size the other advertised (the relay's: client 128 KiB, server 1 MiB).
      assert.equal(cr.maxFrameSize, 1048576);
      assert.equal(sr.maxFrameSize, 131072);
      assert.equal(o.client.leftover.length, 0);
      assert.equal(o.server.leftover.length, 0);
      await assertFinalStatus(o, status.OK);
    });
  }

  test('peer rpc versions are the ones the peer sent, and a missing max frame size is 0', async () => {
    const serverVersions = { maxRpcVersion: { major: 2, minor: 7 }, minRpcVersion: { major: 1, minor: 3 } };
    const o = await relayHandshake(one, one, {
      clientStart: { maxFrameSize: 0 },
      serverStart: { rpcVersions: serverVersions },
    });
    assertSuccess(o);
    assert.deepEqual(o.client.result?.peerRpcVersions, serverVersions);
    assert.deepEqual(o.server.result?.peerRpcVersions, RPC_VERSIONS);
    assert.equal(o.server.result?.maxFrameSize, 0);
  });

  test('two handshakes get different keys; concurrent streams are independent', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, (_, i) => relayHandshake(i % 2 ? one : clientVm, serverVm)),
    );
    outcomes.forEach(assertSuccess);
    const keys = new Set(outcomes.map((o) => o.client.result?.keyData.toString('hex')));
    assert.equal(keys.size, outcomes.length);
  });

  for (const serverStyle of ['empty', 'bytes'] as const) {
    test(`server_start with ${serverStyle} in_bytes, each message split into 1-byte next calls`, async () => {
      assertSuccess(await relayHandshake(one, one, { serverStyle }));
      assertSuccess(await relayHandshake(clientVm, serverVm, { serverStyle, chunkSize: 1 }));
    });
  }

  test("bytes after the peer's last message are left unconsumed (both sides)", async () => {
    const records = Buffer.from('first ALTS records from the client');
    const early = Buffer.from('records the server sent early');
    const o = await relayHandshake(one, one, {
      trailing: records,
      tamper: (flight, bytes) => (flight === 'serverFlight' ? Buffer.concat([bytes, early]) : bytes),
    });
    assertSuccess(o);
    assert.deepEqual(o.server.leftover, records);
    assert.deepEqual(o.client.leftover, early);
  });

  test('a requested local identity is honoured if the emulator holds it', async () => {
    const o = await relayHandshake(one, one, {
      clientStart: { localIdentity: { serviceAccount: SERVER } },
      serverStart: {
        handshakeParameters: {
          2: { recordProtocols: [REKEY], localIdentities: [{ serviceAccount: CLIENT }] },
        },
      },
    });
    assertSuccess(o);
    assert.equal(o.client.result?.localIdentity?.serviceAccount, SERVER);
    assert.equal(o.server.result?.localIdentity?.serviceAccount, CLIENT);
  });

  test('target identities that include the server pass', async () => {
    const targetIdentities = [{ serviceAccount: 'other@x.iam' }, { serviceAccount: SERVER }];
    assertSuccess(await relayHandshake(clientVm, serverVm, { clientStart: { targetIdentities } }));
  });
});

describe('authentication failures', () => {
  test('a server under another trust root fails the client', async () => {
    const o = await relayHandshake(clientVm, stranger);
    assert.equal(o.client.result, undefined);
    assert.equal(o.client.failure?.code, status.UNAUTHENTICATED);
    assert.match(o.client.failure?.details ?? '', /another trust root/);
    assert.equal((await o.client.final).code, status.UNAUTHENTICATED);
  });

  test('a client under another trust root fails the server', async () => {
    const o = await relayHandshake(stranger, serverVm);
    assert.equal(o.client.failure?.code, status.UNAUTHENTICATED);
  });

  test('a flipped byte in any handshake message fails the handshake', async () => {
    const cases: Array<[Flight, number]> = [];
    for (const flight of ['clientInit', 'serverFlight', 'clientFinished'] as const) {
      // Header, first body byte, middle and last byte (protocol.test.ts flips every byte).
      for (const at of [1, 9, 0.5, -1]) cases.push([flight, at]);
    }
    await Promise.all(
      cases.map(async ([flight, at]) => {
        const o = await relayHandshake(one, one, {
          tamper: (f, bytes) => {
            if (f !== flight) return bytes;
            const copy = Buffer.from(bytes);
            const i = at === -1 ? copy.length - 1 : at < 1 ? Math.floor(copy.length * at) : at;
            copy[i] = (copy[i] ?? 0) ^ 0x80;
            return copy;
          },
        });
        const victim = flight === 'clientFinished' ? o.server : o.client;
        assert.equal(victim.result, undefined, `${flight}@${at} accepted`);
        assert.ok(o.stalled || victim.failure !== undefined || o.server.failure !== undefined);
      }),
    );
  });

  test('a server outside target_identities fails the client, naming both', async () => {
    const targetIdentities = [{ serviceAccount: 'expected@x.iam' }, { hostname: 'db.example' }];
    const o = await relayHandshake(clientVm, serverVm, { clientStart: { targetIdentities } });
    assert.equal(o.client.failure?.code, status.PERMISSION_DENIED);
    const details = o.client.failure?.details ?? '';
    assert.match(details, new RegExp(SERVER.replace(/\./g, '\\.')));
    assert.match(details, /expected@x\.iam/);
    assert.match(details, /db\.example/);
    assert.equal(o.server.result, undefined);
  });

  test('a local identity the emulator does not hold is refused', async () => {
    const o = await relayHandshake(serverVm, serverVm, {
      clientStart: { localIdentity: { serviceAccount: CLIENT } },
    });
    assert.equal(o.client.failure?.code, status.PERMISSION_DENIED);
    assert.match(o.client.failure?.details ?? '', /cannot speak for/);
    const s = await relayHandshake(one, clientVm, {
      serverStart: {
        handshakeParameters: { 2: { recordProtocols: [REKEY], localIdentities: [{ hostname: 'h' }] } },
      },
    });
    assert.equal(s.server.failure?.code, status.PERMISSION_DENIED);
  });
});

describe('IAM', () => {
  test('a disabled client account fails the client at once; the reason reaches the server', async () => {
    await disableServiceAccount(iamDir, CLIENT);
    try {
      const c = new RawHandshakerStream(iam);
      const resp = await c.send(clientStart());
      assert.equal(resp.status?.code, status.PERMISSION_DENIED);
      assert.match(resp.status?.details ?? '', /client@project.*is disabled/);
      assert.equal((await c.status).code, status.PERMISSION_DENIED);
      // Its out_frames carry an alert: forwarded to the server, it tells the server's handshaker why.
      const s = new RawHandshakerStream(iam);
      const sresp = await s.send(serverStart(resp.outFrames));
      assert.equal(sresp.status?.code, status.PERMISSION_DENIED);
      assert.match(sresp.status?.details ?? '', /aborted.*client@project.*is disabled/);
    } finally {
      await enableServiceAccount(iamDir, CLIENT);
    }
    assertSuccess(await relayHandshake(iam, iam));
  });

  test('a disabled server account fails new handshakes; the client learns why', async () => {
    await disableServiceAccount(iamDir, SERVER);
    try {
      const o = await relayHandshake(iam, iam);
      assert.equal(o.server.failure?.code, status.PERMISSION_DENIED);
      assert.match(o.server.failure?.details ?? '', /server@project.*is disabled/);
      const c = new RawHandshakerStream(iam);
      await c.send(clientStart());
      const s = new RawHandshakerStream(iam);
      const failed = await s.send(serverStart(Buffer.alloc(0)));
      const told = await c.send(next(failed.outFrames));
      assert.equal(told.status?.code, status.PERMISSION_DENIED);
      assert.match(told.status?.details ?? '', /aborted.*server@project.*is disabled/);
    } finally {
      await enableServiceAccount(iamDir, SERVER);
    }
    assertSuccess(await relayHandshake(iam, iam));
  });

  test('an account disabled mid-handshake fails the peer check', async () => {
    const disableAt = async (flight: Flight, sa: string) =>
      relayHandshake(iam, iam, {
        tamper: async (f, bytes) => {
          if (f === flight) await disableServiceAccount(iamDir, sa);
          return bytes;
        },
      });
    try {
      const o = await disableAt('serverFlight', SERVER);
      assert.match(o.client.failure?.details ?? '', /peer's service account "server@project.*is disabled/);
      await enableServiceAccount(iamDir, SERVER);
      const p = await disableAt('clientFinished', CLIENT);
      assert.match(p.server.failure?.details ?? '', /peer's service account "client@project.*is disabled/);
    } finally {
      await enableServiceAccount(iamDir, SERVER);
      await enableServiceAccount(iamDir, CLIENT);
    }
  });
});

describe('request validation', () => {
  const params = { 2: { recordProtocols: [REKEY], localIdentities: [] } };
  const invalid: Array<[string, HandshakerReq, RegExp]> = [
    ['empty request', HandshakerReq.fromPartial({}), /request is empty/],
    [
      'no handshake protocol',
      clientStart({ handshakeSecurityProtocol: 0 }),
      /handshake_security_protocol must be ALTS/,
    ],
    ['TLS handshake protocol', clientStart({ handshakeSecurityProtocol: 1 }), /must be ALTS \(2\), got 1/],
    [
      'client: no application protocols',
      clientStart({ applicationProtocols: [] }),
      /application_protocols is empty/,
    ],
    ['client: no record protocols', clientStart({ recordProtocols: [] }), /record_protocols is empty/],
    [
      'client: no common record protocol',
      clientStart({ recordProtocols: ['ALTSRP_GCM_AES128'] }),
      /supports only/,
    ],
    [
      'client: no rpc_versions',
      clientStart({ rpcVersions: undefined }),
      /client_start\.rpc_versions is required/,
    ],
    [
      'server: no application protocols',
      serverStart(Buffer.alloc(0), { applicationProtocols: [] }),
      /application_protocols is empty/,
    ],
    [
      'server: no ALTS handshake parameters',
      serverStart(Buffer.alloc(0), { handshakeParameters: { 1: params[2] } }),
      /no entry for ALTS \(key 2\)/,
    ],
    [
      'server: no record protocols',
      serverStart(Buffer.alloc(0), { handshakeParameters: { 2: { recordProtocols: [] } } }),
      /handshake_parameters\[2\]\.record_protocols is empty/,
    ],
    [
      'server: no common record protocol',
      serverStart(Buffer.alloc(0), {
        handshakeParameters: { 2: { recordProtocols: ['ALTSRP_GCM_AES128'] } },
      }),
      /supports only/,
    ],
    [
      'server: no rpc_versions',
      serverStart(Buffer.alloc(0), { rpcVersions: undefined }),
      /rpc_versions is required/,
    ],
    ['server: not our message', serverStart(Buffer.from('ClientInit')), /bad magic/],
  ];
  for (const [name, req, details] of invalid) {
    test(`INVALID_ARGUMENT: ${name}`, async () => {
      const s = new RawHandshakerStream(one);
      const resp = await s.send(req);
      assert.equal(resp.status?.code, status.INVALID_ARGUMENT);
      assert.match(resp.status?.details ?? '', details);
      const final = await s.status;
      assert.equal(final.code, status.INVALID_ARGUMENT);
      assert.equal(final.details, resp.status?.details);
    });
  }

  const outOfOrder: Array<[string, HandshakerReq[]]> = [
    ['next before start', [next(Buffer.from('x'))]],
    ['client_start twice', [clientStart(), clientStart()]],
    ['server_start after client_start', [clientStart(), serverStart(Buffer.alloc(0))]],
  ];
  for (const [name, reqs] of outOfOrder) {
    test(`FAILED_PRECONDITION: ${name}`, async () => {
      const s = new RawHandshakerStream(one);
      let resp = await s.send(reqs[0] as HandshakerReq);
      for (const req of reqs.slice(1)) resp = await s.send(req);
      assert.equal(resp.status?.code, status.FAILED_PRECONDITION);
      assert.equal((await s.status).code, status.FAILED_PRECONDITION);
    });
  }
});

describe('stream lifecycle', () => {
  test('an idle stream is ended with DEADLINE_EXCEEDED', async () => {
    const { dir, cleanup } = await tempStateDir();
    cleanups.push(cleanup);
    const quick = await emulator(dir, SERVER, undefined, 100);
    const s = new RawHandshakerStream(quick);
    assert.equal((await s.send(clientStart())).status?.code, status.OK);
    const final = await s.status;
    assert.equal(final.code, status.DEADLINE_EXCEEDED);
    assert.equal(s.unsolicited, 0, 'no response without a request');
  });

  test('a stream a client opened ahead and dropped unused ends quietly: no handshake is logged', async () => {
    const { dir, cleanup } = await tempStateDir();
    cleanups.push(cleanup);
    const lines: string[] = [];
    const e = await startEmulator({ serviceAccount: SERVER, stateDir: dir, logger: (l) => lines.push(l) });
    const client = connect(e.address);
    cleanups.push(
      () => client.close(),
      () => e.stop(),
    );
    const cancelled = new RawHandshakerStream(client);
    const halfClosed = new RawHandshakerStream(client);
    cancelled.cancel();
    halfClosed.end();
    assert.equal((await cancelled.status).code, status.CANCELLED);
    assert.equal((await halfClosed.status).code, status.OK);
    // A stream that did make a request is still logged when it is abandoned.
    const used = new RawHandshakerStream(client);
    await used.send(clientStart());
    used.cancel();
    await used.status;
    await waitFor(() => lines.some((l) => l.includes('handshake #')));
    const handshakes = lines.filter((l) => l.includes('handshake #'));
    assert.equal(handshakes.length, 1, handshakes.join('\n'));
    assert.match(handshakes[0] as string, /role=client .* failed code=CANCELLED/);
  });

  test('a client that half-closes mid-handshake gets CANCELLED', async () => {
    const s = new RawHandshakerStream(one);
    await s.send(clientStart());
    s.end();
    assert.equal((await s.status).code, status.CANCELLED);
    assert.equal(s.unsolicited, 0, 'no response without a request');
  });

  test('logs name identities and outcomes but never key material', async () => {
    const o = await relayHandshake(one, one);
    assertSuccess(o);
    const key = o.client.result?.keyData ?? Buffer.alloc(0);
    const text = logs.join('\n');
    assert.match(text, /role=server local="server@project\S*" ok peer="client@project/);
    assert.match(text, /failed code=PERMISSION_DENIED/);
    for (const encoding of ['hex', 'base64'] as const) {
      assert.ok(!text.includes(key.subarray(0, 12).toString(encoding)));
    }
  });
});
