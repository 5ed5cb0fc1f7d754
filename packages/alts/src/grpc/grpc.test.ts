import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect as connectSocket, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CallCredentials,
  type Client,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { AltsError } from '../errors.js';
import { type FakeHandshaker, startFakeHandshaker } from '../fake-handshaker.test.util.js';
import { MAX_OPENED_AHEAD_MS, openHandshakerChannelsForTesting } from '../handshake/handshaker-client.js';
import { handshakeLimiter } from '../handshake/limiter.js';
import { setProductNameReaderForTesting } from '../handshake/platform.js';
import {
  type AltsPeerContext,
  type AltsServer,
  checkClientAuthorization,
  clientAuthorizationInterceptor,
  createAltsChannelCredentials,
  createAltsServer,
  getAltsContext,
} from '../index.js';
import { OPEN_AHEAD_MAX_BUSY } from './channel-credentials.js';
import { DEFAULT_MAX_CONCURRENT_HANDSHAKES } from './options.js';

const CLIENT_SA = 'frontend@hospital.iam.gserviceaccount.com';
const SERVER_SA = 'backend@hospital.iam.gserviceaccount.com';
const MAX_MESSAGE = 16 * 1024 * 1024;

const passthrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: passthrough.serialize,
  requestDeserialize: passthrough.deserialize,
  responseSerialize: passthrough.serialize,
  responseDeserialize: passthrough.deserialize,
});
const EchoService = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies ServiceDefinition;

interface EchoClient extends Client {
  unary(req: Buffer, md: Metadata, opts: object, cb: (e: ServiceError | null, r?: Buffer) => void): unknown;
  serverStream(req: Buffer): NodeJS.ReadableStream & { cancel(): void };
  clientStream(cb: (e: ServiceError | null, r?: Buffer) => void): NodeJS.WritableStream;
  bidi(): NodeJS.ReadWriteStream;
}
const EchoClient = makeGenericClientConstructor(EchoService, 'Echo') as unknown as new (
  address: string,
  creds: ReturnType<typeof createAltsChannelCredentials>,
  options?: object,
) => EchoClient;

const seen: {
  contexts: Array<AltsPeerContext | undefined>;
  metadata: Metadata[];
  handlerRuns: number;
  auth: unknown[];
} = {
  contexts: [],
  metadata: [],
  handlerRuns: 0,
  auth: [],
};

function echoImpl(delayMs = 0) {
  return {
    unary: (
      call: { request: Buffer; metadata: Metadata; getAuthContext(): object },
      cb: (e: null, r: Buffer) => void,
    ) => {
      seen.handlerRuns++;
      seen.contexts.push(getAltsContext(call as never));
      seen.metadata.push(call.metadata);
      seen.auth.push(call.getAuthContext());
      setTimeout(() => cb(null, call.request), delayMs);
    },
    serverStream: (call: { request: Buffer; write(b: Buffer): void; end(): void }) => {
      const count = call.request.readUInt32BE(0);
      for (let i = 0; i < count; i++) call.write(Buffer.alloc(64 * 1024, i));
      call.end();
    },
    clientStream: (call: NodeJS.ReadableStream, cb: (e: null, r: Buffer) => void) => {
      let total = 0;
      call.on('data', (d: Buffer) => {
        total += d.length;
      });
      call.on('end', () => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(total);
        cb(null, out);
      });
    },
    bidi: (call: NodeJS.ReadWriteStream) => {
      call.on('data', (d: Buffer) => call.write(d));
      call.on('end', () => call.end());
    },
  };
}

function unary(
  client: EchoClient,
  payload: Buffer,
  md = new Metadata(),
  deadlineMs = 10_000,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.unary(payload, md, { deadline: Date.now() + deadlineMs }, (e, r) =>
      e ? reject(e) : resolve(r as Buffer),
    ),
  );
}

/** Polls `condition` until it holds; fails after 10 s rather than hang the file. */
async function waitFor(condition: () => boolean, state: () => string = () => ''): Promise<void> {
  const until = Date.now() + 10_000;
  while (!condition()) {
    assert.ok(Date.now() < until, `the condition did not come true within 10 s ${state()}`);
    await sleep(10);
  }
}

async function callError(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('expected the call to fail');
}

describe('ALTS for grpc-js', () => {
  let fake: FakeHandshaker;
  const servers: AltsServer[] = [];
  const clients: Client[] = [];
  let baselineResources = 0;

  async function startServer(port = 0, options: Parameters<typeof createAltsServer>[0] = {}, delayMs = 0) {
    const server = createAltsServer({
      handshakerServiceAddress: fake.address,
      serverOptions: {
        'grpc.max_receive_message_length': MAX_MESSAGE,
        'grpc.max_send_message_length': MAX_MESSAGE,
      },
      ...options,
    });
    server.addService(EchoService, echoImpl(delayMs));
    const bound = await server.listen(`127.0.0.1:${port}`);
    servers.push(server);
    return { server, port: bound };
  }

  function newClient(port: number, options: Parameters<typeof createAltsChannelCredentials>[0] = {}) {
    const client = new EchoClient(
      `127.0.0.1:${port}`,
      createAltsChannelCredentials({
        handshakerServiceAddress: fake.address,
        targetServiceAccounts: [SERVER_SA],
        ...options,
      }),
      { 'grpc.max_receive_message_length': MAX_MESSAGE, 'grpc.max_send_message_length': MAX_MESSAGE },
    );
    clients.push(client);
    return client;
  }

  before(async () => {
    baselineResources = process.getActiveResourcesInfo().length;
    fake = await startFakeHandshaker({
      clientIdentity: CLIENT_SA,
      serverIdentity: SERVER_SA,
      override: (req, def) =>
        req.clientStart && !req.clientStart.targetIdentities.some((t) => t.serviceAccount === SERVER_SA)
          ? {
              ...def,
              outFrames: Buffer.alloc(0),
              status: {
                code: status.PERMISSION_DENIED,
                details: `server ${SERVER_SA} is not a target identity`,
              },
            }
          : undefined,
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) s.forceShutdown();
    await fake.stop();
  });

  it('carries unary calls; the handler gets the client’s ALTS context and an alts AuthContext', async () => {
    const { port } = await startServer();
    const contexts: AltsPeerContext[] = [];
    const client = newClient(port, { onHandshake: (ctx) => contexts.push(ctx) });
    const reply = await unary(client, Buffer.from('PT-1204'));
    assert.equal(reply.toString(), 'PT-1204');
    const ctx = seen.contexts.at(-1);
    assert.equal(ctx?.peerServiceAccount, CLIENT_SA);
    assert.equal(ctx?.localServiceAccount, SERVER_SA);
    assert.equal(ctx?.recordProtocol, 'ALTSRP_GCM_AES128_REKEY');
    assert.equal(ctx?.securityLevel, 'INTEGRITY_AND_PRIVACY');
    assert.equal((seen.auth.at(-1) as { transportSecurityType?: string }).transportSecurityType, 'alts');
    assert.equal(contexts[0]?.peerServiceAccount, SERVER_SA, 'client sees the server identity');
  });

  it('streams: server, client and bidi; 1 MiB and 8 MiB messages', async () => {
    const { port } = await startServer();
    const client = newClient(port);
    for (const size of [1024 * 1024, 8 * 1024 * 1024]) {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4096) payload[i] = i & 0xff;
      assert.ok((await unary(client, payload)).equals(payload), `${size} bytes intact`);
    }
    const count = Buffer.alloc(4);
    count.writeUInt32BE(32);
    let received = 0;
    for await (const chunk of client.serverStream(count)) received += (chunk as Buffer).length;
    assert.equal(received, 32 * 64 * 1024);

    const total = await new Promise<Buffer>((resolve, reject) => {
      const w = client.clientStream((e, r) => (e ? reject(e) : resolve(r as Buffer)));
      for (let i = 0; i < 100; i++) w.write(Buffer.alloc(10_000, i));
      w.end();
    });
    assert.equal(total.readUInt32BE(0), 1_000_000);

    const bidi = client.bidi();
    const echoed: string[] = [];
    bidi.on('data', (d: Buffer) => echoed.push(d.toString()));
    for (const word of ['a', 'b', 'c']) bidi.write(Buffer.from(word));
    bidi.end();
    await new Promise((r) => bidi.on('end', r));
    assert.deepEqual(echoed, ['a', 'b', 'c']);
  });

  it('200 concurrent calls on one channel', async () => {
    const { port } = await startServer();
    const client = newClient(port);
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => unary(client, Buffer.from(`call-${i}`))),
    );
    assert.deepEqual(
      replies.map((r) => r.toString()),
      replies.map((_, i) => `call-${i}`),
    );
  });

  it('two channels with equal options share one connection', async () => {
    const { port } = await startServer();
    const before = fake.requests.filter((r) => r.serverStart).length;
    const a = newClient(port);
    const b = newClient(port);
    await unary(a, Buffer.from('a'));
    await unary(b, Buffer.from('b'));
    assert.equal(fake.requests.filter((r) => r.serverStart).length - before, 1, 'one handshake');
  });

  it('the authorization interceptor admits the allowed account, others fail before the handler', async () => {
    const allowed = await startServer(0, {
      interceptors: [clientAuthorizationInterceptor([CLIENT_SA.toUpperCase()])],
    });
    assert.equal((await unary(newClient(allowed.port), Buffer.from('ok'))).toString(), 'ok');

    const denied = await startServer(0, {
      interceptors: [clientAuthorizationInterceptor(['intruder@x.iam.gserviceaccount.com'])],
    });
    const runs = seen.handlerRuns;
    const err = await callError(unary(newClient(denied.port), Buffer.from('no')));
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.equal(err.details, `Client ${CLIENT_SA} is not authorized`);
    assert.equal(seen.handlerRuns, runs, 'handler never ran');
  });

  it('checkClientAuthorization returns java-style statuses', () => {
    const altsCall = { getAuthContext: () => seen.auth.at(-1) as object };
    assert.equal(checkClientAuthorization(altsCall, [CLIENT_SA]).code, status.OK);
    assert.deepEqual(
      [checkClientAuthorization(altsCall, ['x@y']).code, checkClientAuthorization(altsCall, ['x@y']).details],
      [status.PERMISSION_DENIED, `Client ${CLIENT_SA} is not authorized`],
    );
    const spoof = {
      getAuthContext: () => ({
        transportSecurityType: 'alts',
        altsContext: { peerServiceAccount: CLIENT_SA },
      }),
    };
    assert.equal(checkClientAuthorization(spoof, [CLIENT_SA]).details, 'Peer ALTS AuthContext not found');
    assert.throws(
      () => checkClientAuthorization(altsCall, ['']),
      (e) => AltsError.is(e) && e.code === 'INVALID_ARGUMENT',
    );
  });

  it('HARDENING 36: an empty allow-list denies every caller, never throws', async () => {
    const altsCall = { getAuthContext: () => seen.auth.at(-1) as object };
    assert.deepEqual(
      [checkClientAuthorization(altsCall, []).code, checkClientAuthorization(altsCall, []).details],
      [status.PERMISSION_DENIED, `Client ${CLIENT_SA} is not authorized`],
    );
    const { port } = await startServer(0, { interceptors: [clientAuthorizationInterceptor([])] });
    const runs = seen.handlerRuns;
    const err = await callError(unary(newClient(port), Buffer.from('no')));
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.equal(seen.handlerRuns, runs, 'handler never ran');
  });

  it('a target service account mismatch fails UNAVAILABLE with the handshaker’s reason', async () => {
    const { port } = await startServer();
    const client = newClient(port, {
      targetServiceAccounts: ['someone-else@hospital.iam.gserviceaccount.com'],
    });
    const err = await callError(unary(client, Buffer.from('x'), new Metadata(), 3_000));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /is not a target identity/);
  });

  it('a plaintext grpc-js client: the server says it does not speak ALTS (an HTTP/2 preface)', async () => {
    const failures: AltsError[] = [];
    const { port } = await startServer(0, { onHandshakeFailure: (error) => failures.push(error) });
    const plaintext = new EchoClient(`127.0.0.1:${port}`, credentials.createInsecure());
    clients.push(plaintext);
    const err = await callError(unary(plaintext, Buffer.from('x'), new Metadata(), 3_000));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.ok(failures.length > 0, 'the server reported the failed handshake');
    assert.equal(failures[0]?.code, 'CONNECTION_REFUSED');
    assert.match(
      failures[0]?.message ?? '',
      new RegExp(
        'the client does not speak ALTS, its first bytes are an HTTP/2 client preface ' +
          String.raw`\(a plaintext gRPC or HTTP/2 client\); give it ALTS channel credentials`,
      ),
    );
  });

  it('an ALTS client of a plaintext grpc-js server is told the server does not speak ALTS', async () => {
    const plain = new Server();
    plain.addService(EchoService, echoImpl());
    const port = await new Promise<number>((resolve, reject) =>
      plain.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    try {
      const err = await callError(unary(newClient(port), Buffer.from('x'), new Metadata(), 3_000));
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(
        err.details,
        new RegExp(
          'the server does not speak ALTS, its first bytes are an HTTP/2 SETTINGS frame ' +
            String.raw`\(a plaintext gRPC or HTTP/2 server\); call it with the credentials it serves`,
        ),
      );
    } finally {
      plain.forceShutdown();
    }
  });

  it('a server that accepts TCP and never answers: the call fails naming the silent side', async () => {
    const accepted: Socket[] = [];
    const silent = createServer((socket) => accepted.push(socket.on('error', () => {})));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const silentAddress = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    // The documented way: a handshake deadline shorter than the call's, so the handshake's reason
    // reaches the call instead of grpc-js's "Deadline exceeded ... Waiting for LB pick".
    const handshakeTimeoutMs = 1_500;
    try {
      const toSilentServer = newClient(Number(silentAddress.split(':')[1]), { handshakeTimeoutMs });
      const err = await callError(unary(toSilentServer, Buffer.from('x'), new Metadata(), 20_000));
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(
        err.details,
        new RegExp(
          String.raw`the ALTS client handshake to 127\.0\.0\.1:\d+ did not finish within 1500 ms: ` +
            'the server accepted the connection but never answered its first handshake message; ' +
            String.raw`is an ALTS server listening there, and is its handshaker up\?`,
        ),
      );
      const { port } = await startServer();
      const silentHandshaker = newClient(port, {
        handshakeTimeoutMs,
        handshakerServiceAddress: silentAddress,
      });
      const viaSilent = await callError(unary(silentHandshaker, Buffer.from('x'), new Metadata(), 20_000));
      assert.equal(viaSilent.code, status.UNAVAILABLE);
      assert.match(
        viaSilent.details,
        new RegExp(
          `did not finish within 1500 ms: nothing was sent to the server: the handshaker service at ` +
            `${silentAddress} did not answer in time`,
        ),
      );
    } finally {
      for (const c of clients.splice(-2)) c.close();
      silent.close();
      for (const socket of accepted) socket.destroy();
    }
  });

  it('composed call credentials reach the server', async () => {
    const { port } = await startServer();
    const callCreds = CallCredentials.createFromMetadataGenerator((_p, cb) => {
      const md = new Metadata();
      md.set('x-booking-token', 'token-123');
      cb(null, md);
    });
    const client = new EchoClient(
      `127.0.0.1:${port}`,
      credentials.combineChannelCredentials(
        createAltsChannelCredentials({
          handshakerServiceAddress: fake.address,
          targetServiceAccounts: [SERVER_SA],
        }),
        callCreds,
      ),
    );
    clients.push(client);
    await unary(client, Buffer.from('x'));
    assert.deepEqual(seen.metadata.at(-1)?.get('x-booking-token'), ['token-123']);
  });

  it('reconnects after a server restart', async () => {
    const first = await startServer();
    const client = newClient(first.port);
    await unary(client, Buffer.from('before'));
    first.server.forceShutdown();
    const second = await startServer(first.port);
    assert.equal(second.port, first.port);
    let reply: Buffer | undefined;
    for (let attempt = 0; attempt < 50 && !reply; attempt++) {
      reply = await unary(client, Buffer.from('after')).catch(() => undefined);
      if (!reply) await sleep(100);
    }
    assert.equal(reply?.toString(), 'after');
  });

  it('tryShutdown lets calls in flight finish; forceShutdown closes everything', async () => {
    const { server, port } = await startServer(0, {}, 300);
    const client = newClient(port);
    await unary(client, Buffer.from('warm'));
    const inFlight = unary(client, Buffer.from('in-flight'));
    await sleep(50);
    const shutdown = server.tryShutdown();
    assert.equal((await inFlight).toString(), 'in-flight');
    await shutdown;

    const forced = await startServer(0, {}, 5_000);
    const client2 = newClient(forced.port);
    const doomed = unary(client2, Buffer.from('x'));
    await sleep(200);
    forced.server.forceShutdown();
    const err = await callError(doomed);
    assert.ok([status.UNAVAILABLE, status.CANCELLED, status.INTERNAL].includes(err.code), `code ${err.code}`);
  });

  it('bad options are INVALID_ARGUMENT; the default handshaker off Google Cloud UNTRUSTED_PLATFORM', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return AltsError.is(e) ? e.code : String(e);
      }
      return 'no error';
    };
    setProductNameReaderForTesting(() => 'KVM');
    try {
      assert.equal(
        code(() => createAltsChannelCredentials()),
        'UNTRUSTED_PLATFORM',
      );
      assert.equal(
        code(() => createAltsServer()),
        'UNTRUSTED_PLATFORM',
      );
    } finally {
      setProductNameReaderForTesting(undefined);
    }
    assert.equal(
      code(() => createAltsChannelCredentials({ handshakerServiceAddress: 'h:1', maxFrameSize: 100 })),
      'INVALID_ARGUMENT',
    );
    assert.equal(
      code(() => createAltsChannelCredentials({ handshakerServiceAddress: 'h:1', handshakeTimeoutMs: 0 })),
      'INVALID_ARGUMENT',
    );
    assert.equal(
      code(() =>
        createAltsChannelCredentials({ handshakerServiceAddress: 'h:1', targetServiceAccounts: [''] }),
      ),
      'INVALID_ARGUMENT',
    );
    const server = createAltsServer({ handshakerServiceAddress: 'h:1' });
    return assert.rejects(server.listen('nonsense'), (e) => AltsError.is(e) && e.code === 'INVALID_ARGUMENT');
  });

  describe('the DoHandshake stream opened while TCP connects', () => {
    // A handshaker of its own, so that no other test's streams move the counts.
    let own: FakeHandshaker;
    before(async () => {
      own = await startFakeHandshaker({ clientIdentity: CLIENT_SA, serverIdentity: SERVER_SA });
    });
    after(() => own.stop());

    const connectorFor = (port: number) =>
      createAltsChannelCredentials({
        handshakerServiceAddress: own.address,
        targetServiceAccounts: [SERVER_SA],
      })._createSecureConnector({ path: `127.0.0.1:${port}` }, {});
    const startOwnServer = () => startServer(0, { handshakerServiceAddress: own.address });

    async function connectTcp(port: number): Promise<Socket> {
      const socket = connectSocket(port, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    }

    it('a new attempt or destroy() closes one left unused', async () => {
      // First in this block: nothing else has used this handshaker, so the counts are absolute.
      const connector = connectorFor(1);
      await connector.waitForReady();
      await waitFor(() => own.streams === 1);
      await connector.waitForReady();
      await waitFor(
        () => own.streams === 2 && own.open === 1,
        () => `streams ${own.streams} open ${own.open}`,
      );
      connector.destroy();
      await waitFor(() => own.open === 0);
      await connector.waitForReady();
      await sleep(100);
      assert.equal(own.streams, 2, 'a destroyed connector opens nothing');
    });

    it('takes a free handshake slot, opens nothing when a quarter are busy, gives the slot back', async () => {
      const limiter = handshakeLimiter('client', DEFAULT_MAX_CONCURRENT_HANDSHAKES);
      const busy = Math.ceil(limiter.limit * OPEN_AHEAD_MAX_BUSY) - limiter.active;
      const held = Array.from({ length: busy }, () => limiter.tryAcquire());
      const connector = connectorFor(1);
      try {
        const before = own.streams;
        const active = limiter.active;
        await connector.waitForReady();
        assert.equal(limiter.active, active, 'handshakes queueing: no slot taken for a stream ahead');
        await sleep(100);
        assert.equal(own.streams, before, 'and no stream opened');
        for (const slot of held.splice(0)) slot?.release();
        await connector.waitForReady();
        assert.equal(limiter.active, active - busy + 1, 'the stream opened ahead holds a slot');
        await waitFor(() => own.streams === before + 1);
        // Unused, the stream is closed and its slot given back MAX_OPENED_AHEAD_MS later.
        await waitFor(() => limiter.active === active - busy && own.open === 0);
      } finally {
        for (const slot of held) slot?.release();
        connector.destroy();
      }
    });

    /**
     * One handshake through a connector of its own, `pause` running between waitForReady and the
     * TCP connect; returns how many streams the handshaker saw opened, the server's included.
     */
    async function streamsForOneHandshake(pause: (before: number) => Promise<void>): Promise<number> {
      const { port } = await startOwnServer();
      const connector = connectorFor(port);
      const before = own.streams;
      try {
        await connector.waitForReady();
        await pause(before);
        const { socket } = await connector.connect(await connectTcp(port));
        socket.destroy();
        return own.streams - before;
      } finally {
        connector.destroy();
      }
    }

    it('opens before the TCP connection, and the handshake uses it', async () => {
      const opened = await streamsForOneHandshake((before) => waitFor(() => own.streams === before + 1));
      // The client's stream opened ahead and the server's: the client opened no second one.
      assert.equal(opened, 2);
    });

    it('is dropped when it waited too long, and the handshake opens a fresh one', async () => {
      assert.equal(await streamsForOneHandshake(() => sleep(MAX_OPENED_AHEAD_MS + 200)), 3);
      await waitFor(() => own.open === 0);
    });
  });

  it('leaves no handles, handshaker channels or servers behind', async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(servers.splice(0).map((s) => s.tryShutdown()));
    for (let i = 0; i < 100 && openHandshakerChannelsForTesting() > 0; i++) await sleep(20);
    assert.equal(openHandshakerChannelsForTesting(), 0);
    let live = process.getActiveResourcesInfo();
    for (
      let i = 0;
      i < 100 && live.filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length > 1;
      i++
    ) {
      await sleep(50);
      live = process.getActiveResourcesInfo();
    }
    // The fake handshaker's own listener is the one TCPServerWrap left until after().
    assert.deepEqual(
      live.filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap'),
      ['TCPServerWrap'],
      `live: ${live.join(',')} (baseline ${baselineResources})`,
    );
  });
});
