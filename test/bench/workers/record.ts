/**
 * Record-layer benchmark process (used when the record layer's own bench, packages/alts/dist/bench/
 * record-bench.js, is not there): `micro` times seal+open per frame size against raw per-frame
 * AES-128-GCM in one process; `receive`/`send` move bytes over loopback TCP between two processes
 * as plain TCP, Node TLS 1.3 (TLS_AES_128_GCM_SHA256) or an ALTS protected stream.
 * The record modules are internal to @grpc-alts/alts, so they are loaded from its dist by path.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { ROOT } from '../lib/context.js';
import { TLS_CIPHER_SUITE, TLS_SERVER_NAME } from '../lib/services.js';
import { serveWorker } from '../lib/worker-child.js';

interface Crypter {
  seal(plaintext: Uint8Array): { ciphertext: Buffer; tag: Buffer };
  open(ciphertext: Uint8Array, tag: Uint8Array): Buffer;
}
interface CrypterModule {
  ALTSRP_GCM_AES128_REKEY: string;
  createRecordCrypter(protocol: string, key: Uint8Array, side: 'client' | 'server'): Crypter;
}
interface StreamModule {
  createProtectedStream(
    socket: Socket,
    options: {
      recordProtocol: string;
      keyData: Uint8Array;
      side: 'client' | 'server';
      writeFrameSize: number;
    },
  ): Duplex;
}
const recordDir = join(ROOT, 'packages/alts/dist/record');
const crypterModule = (await import(join(recordDir, 'crypter.js'))) as CrypterModule;
const streamModule = (await import(join(recordDir, 'protected-stream.js'))) as StreamModule;
const REKEY = crypterModule.ALTSRP_GCM_AES128_REKEY;

const num = (args: Record<string, unknown>, key: string, def: number): number => {
  const v = args[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : def;
};

/** Runs `fn` repeatedly for about `ms` (at most `max` times); returns iterations per second. */
function timed(ms: number, max: number, fn: () => void): number {
  for (let i = 0; i < 20; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (n < max && now - start < ms) {
    for (let k = 0; k < 8; k++) fn();
    n += 8;
    now = performance.now();
  }
  return (n / (now - start)) * 1000;
}

function micro(args: Record<string, unknown>) {
  const sizes = (args.sizes as number[] | undefined) ?? [1024, 4096, 16384, 65536, 1048576];
  const ms = num(args, 'durationMs', 200);
  const out: Record<
    string,
    { rawMBps: number; altsMBps: number; rawUsPerFrame: number; altsUsPerFrame: number }
  > = {};
  for (const size of sizes) {
    const plaintext = randomBytes(size);
    const key = randomBytes(16);
    const nonce = Buffer.alloc(12);
    let counter = 0;
    // Raw per-frame AES-GCM: a new cipher and decipher per record (the nonce changes per frame).
    const rawPerS = timed(ms, 1e6, () => {
      nonce.writeUInt32LE(counter++, 0);
      const c = createCipheriv('aes-128-gcm', key, nonce);
      const ct = c.update(plaintext);
      c.final();
      const tag = c.getAuthTag();
      const d = createDecipheriv('aes-128-gcm', key, nonce);
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    });
    const keyData = randomBytes(44);
    const sealer = crypterModule.createRecordCrypter(REKEY, keyData, 'client');
    const opener = crypterModule.createRecordCrypter(REKEY, keyData, 'server');
    const altsPerS = timed(ms, 1e6, () => {
      const { ciphertext, tag } = sealer.seal(plaintext);
      opener.open(ciphertext, tag);
    });
    out[String(size)] = {
      rawMBps: (rawPerS * size) / 1e6,
      altsMBps: (altsPerS * size) / 1e6,
      rawUsPerFrame: 1e6 / rawPerS,
      altsUsPerFrame: 1e6 / altsPerS,
    };
  }
  return out;
}

type StreamMode = 'tcp' | 'tls' | 'alts';
interface StreamArgs {
  mode: StreamMode;
  certFile?: string;
  keyFile?: string;
  keyHex?: string;
  writeFrameSize?: number;
}

function wrap(socket: Socket, a: StreamArgs, side: 'client' | 'server'): Duplex {
  return streamModule.createProtectedStream(socket, {
    recordProtocol: REKEY,
    keyData: Buffer.from(a.keyHex ?? '', 'hex'),
    side,
    writeFrameSize: a.writeFrameSize ?? 131072,
  });
}

let receiver:
  | { port: number; done: Promise<{ mbPerS: number; cpuUsPerMB: number; bytes: number }> }
  | undefined;

/** Listens for one connection and counts `bytes` plaintext bytes from it. */
async function listen(args: Record<string, unknown>) {
  const a = args as unknown as StreamArgs;
  const expected = num(args, 'bytes', 64 * 1024 * 1024);
  let resolveDone!: (v: { mbPerS: number; cpuUsPerMB: number; bytes: number }) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<{ mbPerS: number; cpuUsPerMB: number; bytes: number }>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => undefined);
  const onStream = (stream: Duplex) => {
    let got = 0;
    let start = 0;
    let cpu = process.cpuUsage();
    stream.on('data', (chunk: Buffer) => {
      if (got === 0) {
        start = performance.now();
        cpu = process.cpuUsage();
      }
      got += chunk.length;
      if (got >= expected) {
        const s = (performance.now() - start) / 1000;
        const c = process.cpuUsage(cpu);
        resolveDone({ mbPerS: got / 1e6 / s, cpuUsPerMB: (c.user + c.system) / (got / 1e6), bytes: got });
        stream.destroy();
        server.close();
      }
    });
    stream.on('error', (e: Error) => rejectDone(e));
    stream.on('close', () => {
      if (got < expected) rejectDone(new Error(`stream closed after ${got} of ${expected} bytes`));
    });
  };
  const server =
    a.mode === 'tls'
      ? tls.createServer(
          {
            cert: readFileSync(a.certFile ?? ''),
            key: readFileSync(a.keyFile ?? ''),
            minVersion: 'TLSv1.3',
            ciphers: TLS_CIPHER_SUITE,
          },
          (s) => onStream(s),
        )
      : createServer({ noDelay: true }, (s) => onStream(a.mode === 'alts' ? wrap(s, a, 'server') : s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  receiver = { port, done };
  return { port };
}

async function received() {
  if (!receiver) throw new Error('listen first');
  return receiver.done;
}

/** Connects and writes `bytes` in `chunkBytes` writes, honouring backpressure. */
async function send(args: Record<string, unknown>) {
  const a = args as unknown as StreamArgs;
  const total = num(args, 'bytes', 64 * 1024 * 1024);
  const chunk = randomBytes(num(args, 'chunkBytes', 64 * 1024));
  const port = num(args, 'port', 0);
  const stream: Duplex = await new Promise((resolve, reject) => {
    if (a.mode === 'tls') {
      const s = tls.connect({
        host: '127.0.0.1',
        port,
        ca: readFileSync(a.certFile ?? ''),
        servername: TLS_SERVER_NAME,
        minVersion: 'TLSv1.3',
        ciphers: TLS_CIPHER_SUITE,
      });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    } else {
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      s.once('connect', () => resolve(a.mode === 'alts' ? wrap(s, a, 'client') : s));
      s.once('error', reject);
    }
  });
  const cipher = stream instanceof tls.TLSSocket ? stream.getCipher().name : undefined;
  const protocol = stream instanceof tls.TLSSocket ? stream.getProtocol() : undefined;
  const cpu = process.cpuUsage();
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    stream.on('error', reject);
    stream.once('finish', () => resolve());
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!stream.write(chunk)) {
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
  const c = process.cpuUsage(cpu);
  // Errors after the last byte was flushed (the reader hanging up) do not matter any more.
  stream.removeAllListeners('error');
  stream.on('error', () => undefined);
  stream.on('end', () => stream.destroy());
  stream.resume();
  return { cpuUsPerMB: (c.user + c.system) / (total / 1e6), cipher, protocol };
}

serveWorker({ micro, listen, received, send }, {});
