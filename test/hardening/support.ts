// Shared by the hardening tests, the soak and the stress runner (not a test itself): an ALTS
// OtBooking stack over the emulator, a minimal raw ALTS client built only on the public handshaker
// contract and node:crypto (to send tampered records after a real handshake), and Node's own
// resource accounting for leak checks.
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { appendFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { AltsServer } from '@grpc-alts/alts';
import { type RunningEmulator, startEmulator } from '@grpc-alts/alts-emulator';
import {
  HandshakeProtocol,
  type HandshakerReq,
  type HandshakerResp,
  type HandshakerResult,
  HandshakerServiceClient,
} from '@grpc-alts/handshaker-proto';
import {
  type Booking,
  type BookingResponse,
  createBookingService,
  createOtBookingClient,
  createOtBookingServer,
  type OtBookingServiceClient,
} from '@grpc-alts/ot-booking';

export const CLIENT_SA = 'frontend@hospital.iam.gserviceaccount.com';
export const SERVER_SA = 'theatre@hospital.iam.gserviceaccount.com';
export const REKEY = 'ALTSRP_GCM_AES128_REKEY';
const RPC_VERSIONS = { maxRpcVersion: { major: 2, minor: 1 }, minRpcVersion: { major: 2, minor: 1 } };

/** Bookings PT-0 … PT-(n-1) with DC-1; each condition names its patient, so replies can be matched. */
export function bookings(n: number): Map<string, Booking> {
  const map = new Map<string, Booking>();
  for (let i = 0; i < n; i++) {
    const patientID = `PT-${i}`;
    map.set(`${patientID}\u0000DC-1`, {
      patientID,
      doctorID: 'DC-1',
      bookingDate: '2026-12-01',
      condition: `c${i}`,
    });
  }
  return map;
}

export function getBooking(
  client: OtBookingServiceClient,
  patient: number,
  deadlineMs = 10_000,
): Promise<BookingResponse> {
  return new Promise((resolve, reject) =>
    client.getBookingInfo(
      { patientID: `PT-${patient}`, doctorID: 'DC-1', description: '' },
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, response?: BookingResponse) =>
        error ? reject(error) : resolve(response as BookingResponse),
    ),
  );
}

export interface Stack {
  stateDir: string;
  emulator: RunningEmulator;
  server: AltsServer;
  port: number;
  target: string;
  client(options?: { channelOptions?: Record<string, number | string> }): OtBookingServiceClient;
  /** Shuts the server down (graceful for `graceMs`, then forced) and starts a new one on the same port. */
  restartServer(graceMs: number): Promise<void>;
  /** Closes every client made here, the server, the emulator, and removes the state directory. */
  stop(): Promise<void>;
}

export async function startStack(
  options: { handshakeTimeoutMs?: number; patients?: number; port?: number; stateDir?: string } = {},
): Promise<Stack> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'alts-hardening-')));
  const emulator = await startEmulator({
    serviceAccount: SERVER_SA,
    clientServiceAccount: CLIENT_SA,
    stateDir,
  });
  const table = bookings(options.patients ?? 1000);
  const makeServer = () =>
    createOtBookingServer(createBookingService(table), {
      clientServiceAccounts: [CLIENT_SA],
      handshakerServiceAddress: emulator.address,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 2_000,
    });
  let server = makeServer();
  const port = await server.listen(`127.0.0.1:${options.port ?? 0}`);
  const clients: OtBookingServiceClient[] = [];
  const target = `127.0.0.1:${port}`;
  return {
    stateDir,
    emulator,
    get server() {
      return server;
    },
    port,
    target,
    client(clientOptions = {}) {
      const c = createOtBookingClient(target, {
        targetServiceAccounts: [SERVER_SA],
        handshakerServiceAddress: emulator.address,
        ...(clientOptions.channelOptions ? { channelOptions: clientOptions.channelOptions } : {}),
      });
      clients.push(c);
      return c;
    },
    async restartServer(graceMs) {
      const old = server;
      const force = setTimeout(() => old.forceShutdown(), graceMs);
      await old.tryShutdown();
      clearTimeout(force);
      server = makeServer();
      await server.listen(`127.0.0.1:${port}`);
    },
    async stop() {
      for (const c of clients.splice(0)) c.close();
      server.forceShutdown();
      await emulator.stop();
      if (options.stateDir === undefined) await rm(stateDir, { recursive: true, force: true });
    },
  };
}

// ---- Node's own accounting ----

export interface Resources {
  sockets: number;
  servers: number;
  timers: number;
  processes: number;
  fds: number;
  rss: number;
  heap: number;
}

export function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export function resources(): Resources {
  const live = process.getActiveResourcesInfo();
  const count = (name: string) => live.filter((r) => r === name).length;
  let fds = -1;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    // not Linux: the handle counts still apply
  }
  const memory = process.memoryUsage();
  return {
    sockets: count('TCPSocketWrap'),
    servers: count('TCPServerWrap'),
    timers: count('Timeout'),
    processes: count('ProcessWrap'),
    fds,
    rss: memory.rss,
    heap: memory.heapUsed,
  };
}

/** Handles/fds above the baseline after letting closes settle (up to `ms`), after a GC. */
export async function leakedHandles(
  baseline: Resources,
  ms = 5_000,
): Promise<{ leaked: number; now: Resources }> {
  const over = (r: Resources) =>
    Math.max(0, r.sockets - baseline.sockets) +
    Math.max(0, r.servers - baseline.servers) +
    Math.max(0, r.timers - baseline.timers) +
    Math.max(0, r.processes - baseline.processes) +
    Math.max(0, r.fds - baseline.fds);
  let now = resources();
  for (let waited = 0; over(now) > 0 && waited < ms; waited += 100) {
    await sleep(100);
    forceGc();
    now = resources();
  }
  return { leaked: over(now), now };
}

/** Appends one JSON line to HARDENING_REPORT, if set (read by the stress runner). */
export function reportFigures(figures: Record<string, number | string>): void {
  const file = process.env.HARDENING_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(figures)}\n`);
}

// ---- a raw ALTS client (public handshaker contract + docs/protocol.md §4 record crypto, nothing internal) ----

export function connectRaw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves with the ms until the peer closed `socket` (end or close), or -1 after `limitMs`. */
export function closedBy(socket: Socket, limitMs: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => finish(-1), limitMs);
    socket.on('error', () => undefined);
    socket.once('end', () => finish(performance.now() - started));
    socket.once('close', () => finish(performance.now() - started));
    socket.resume();
  });
}

/** One DoHandshake stream in lock-step. */
class HandshakeStream {
  readonly #call;
  readonly #queue: HandshakerResp[] = [];
  #waiter: ((r: HandshakerResp | Error) => void) | undefined;
  #failure: Error | undefined;
  constructor(client: HandshakerServiceClient) {
    this.#call = client.doHandshake({ deadline: Date.now() + 10_000 });
    this.#call.on('data', (r: HandshakerResp) => {
      const w = this.#waiter;
      this.#waiter = undefined;
      if (w) w(r);
      else this.#queue.push(r);
    });
    this.#call.on('error', (e: Error) => {
      this.#failure = e;
      this.#waiter?.(e);
    });
  }
  async send(req: HandshakerReq): Promise<HandshakerResp> {
    this.#call.write(req);
    const ready = this.#queue.shift();
    if (ready) return ready;
    if (this.#failure) throw this.#failure;
    const r = await new Promise<HandshakerResp | Error>((resolve) => {
      this.#waiter = resolve;
    });
    if (r instanceof Error) throw r;
    return r;
  }
  close(): void {
    this.#call.end();
    this.#call.cancel();
  }
}

function readSome(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      cleanup();
      socket.pause();
      resolve(b);
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('peer closed during the raw handshake'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/** The client_start every raw client here sends, as grpc-go would (docs/protocol.md §3.1). */
const CLIENT_START: HandshakerReq = {
  clientStart: {
    handshakeSecurityProtocol: HandshakeProtocol.ALTS,
    applicationProtocols: ['grpc'],
    recordProtocols: [REKEY],
    targetIdentities: [],
    localIdentity: undefined,
    localEndpoint: undefined,
    remoteEndpoint: undefined,
    targetName: '',
    rpcVersions: RPC_VERSIONS,
    maxFrameSize: 131072,
    accessToken: '',
    transportProtocolPreferences: undefined,
  },
};

/** The ALTS client handshake over `socket` through the emulator; returns the result and leftover. */
export async function rawClientHandshake(
  socket: Socket,
  handshakerAddress: string,
): Promise<{ result: HandshakerResult; leftover: Buffer }> {
  const client = new HandshakerServiceClient(handshakerAddress, credentials.createInsecure());
  const stream = new HandshakeStream(client);
  try {
    let resp = await stream.send(CLIENT_START);
    let pending = Buffer.alloc(0);
    for (;;) {
      if (resp.status && resp.status.code !== 0) throw new Error(`handshaker: ${resp.status.details}`);
      if (resp.outFrames.length > 0) socket.write(resp.outFrames);
      if (resp.result) return { result: resp.result, leftover: pending.subarray(resp.bytesConsumed) };
      pending = Buffer.concat([pending.subarray(resp.bytesConsumed), await readSome(socket)]);
      resp = await stream.send({ next: { inBytes: pending, networkLatencyMs: 0 } });
    }
  } finally {
    stream.close();
    client.close();
  }
}

/** ALTSRP_GCM_AES128_REKEY for one direction (docs/protocol.md §4.3–4.4), written from the spec. */
export class RawRecords {
  #counter = 0n;
  readonly #kdfKey: Buffer;
  readonly #mask: Buffer;
  readonly #serverBit: number;
  constructor(keyData: Uint8Array, sender: 'client' | 'server') {
    this.#kdfKey = Buffer.from(keyData.subarray(0, 32));
    this.#mask = Buffer.from(keyData.subarray(32, 44));
    this.#serverBit = sender === 'server' ? 0x80 : 0;
  }
  #next(): { key: Buffer; nonce: Buffer } {
    const counter = Buffer.alloc(12);
    counter.writeBigUInt64LE(this.#counter++);
    counter[11] = this.#serverBit;
    const key = createHmac('sha256', this.#kdfKey)
      .update(Buffer.concat([counter.subarray(2, 8), Buffer.from([1])]))
      .digest()
      .subarray(0, 16);
    const nonce = Buffer.alloc(12);
    for (let i = 0; i < 12; i++) nonce[i] = (counter[i] as number) ^ (this.#mask[i] as number);
    return { key, nonce };
  }
  seal(plaintext: Buffer): Buffer {
    const { key, nonce } = this.#next();
    const cipher = createCipheriv('aes-128-gcm', key, nonce);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(4 + ciphertext.length + 16, 0);
    header.writeUInt32LE(6, 4);
    return Buffer.concat([header, ciphertext, cipher.getAuthTag()]);
  }
  /** Opens one whole frame (header included). Throws on a bad tag. */
  open(frame: Buffer): Buffer {
    const { key, nonce } = this.#next();
    const decipher = createDecipheriv('aes-128-gcm', key, nonce);
    decipher.setAuthTag(frame.subarray(frame.length - 16));
    return Buffer.concat([decipher.update(frame.subarray(8, frame.length - 16)), decipher.final()]);
  }
}

/** Reads whole frames from `socket` (after `leftover`) until one is complete; returns it. */
export async function readFrame(socket: Socket, leftover: Buffer): Promise<{ frame: Buffer; rest: Buffer }> {
  let buffer = leftover;
  for (;;) {
    if (buffer.length >= 4) {
      const total = 4 + buffer.readUInt32LE(0);
      if (buffer.length >= total) return { frame: buffer.subarray(0, total), rest: buffer.subarray(total) };
    }
    buffer = Buffer.concat([buffer, await readSome(socket)]);
  }
}

/** The HTTP/2 client connection preface plus an empty SETTINGS frame. */
export const HTTP2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

/** Runs `tasks` with at most `limit` in flight. */
export async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** The ClientInit a client would send first (a valid handshake prefix), from a client_start. */
export async function clientInitBytes(handshakerAddress: string): Promise<Buffer> {
  const client = new HandshakerServiceClient(handshakerAddress, credentials.createInsecure());
  const stream = new HandshakeStream(client);
  try {
    const resp = await stream.send(CLIENT_START);
    return Buffer.from(resp.outFrames);
  } finally {
    stream.close();
    client.close();
  }
}
