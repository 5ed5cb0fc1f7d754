/**
 * Record-layer benchmark, sections 1 and 2 of `npm run bench` (which runs it as a child with
 * `--json`); also runnable alone after `npx tsc -b`:
 *
 *   node test/dist/bench/record-bench.js [--quick] [--json <file>]
 *
 * 1. seal / open µs per frame and MB/s at 1, 4, 16, 64 KiB and 1 MiB, next to raw node:crypto
 *    AES-128-GCM with a new cipher per frame (the practical floor for any per-record AEAD in Node).
 * 2. The protected stream over loopback TCP, writer and reader in separate processes, next to Node
 *    TLS 1.3 (TLS_AES_128_GCM_SHA256) and plain TCP over the same loopback in the same run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer as netCreateServer, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, createServer as tlsCreateServer } from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as AltsConstants from '../../packages/alts/src/constants.js';
import type * as Crypter from '../../packages/alts/src/record/crypter.js';
import type * as ProtectedStream from '../../packages/alts/src/record/protected-stream.js';
import { ROOT } from './lib/context.js';
import { median } from './lib/stats.js';
import { type CertFiles, makeSelfSignedCert } from './lib/tls.js';

/**
 * The record layer is internal to @grpc-alts/alts (its exports map shows only the public API), so
 * this benchmark loads it from the built package by path; the types come from its sources.
 */
async function importAlts<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'packages/alts/dist', path)).href)) as T;
}
const { ALTSRP_GCM_AES128_REKEY, REKEY_KEY_SIZE } = await importAlts<typeof AltsConstants>('constants.js');
const { createRecordCrypter } = await importAlts<typeof Crypter>('record/crypter.js');
const { createProtectedStream } = await importAlts<typeof ProtectedStream>('record/protected-stream.js');
type Side = AltsConstants.Side;
type SealedRecord = Crypter.SealedRecord;

const MICRO_SIZES = [1024, 4096, 16 * 1024, 64 * 1024, 1024 * 1024];
/** Rounds per cell; the median is reported (the machine is shared and noisy). */
const ROUNDS = 5;
/** Plaintext processed per micro measurement. */
const MICRO_BYTES = 32 * 1024 * 1024;
/** Application write size in the stream benchmark (the loopback shape of `npm run bench`: 64 KiB writes). */
const WRITE_CHUNK = 64 * 1024;
const STREAM_ROUNDS = 3;
const TLS_CIPHER = 'TLS_AES_128_GCM_SHA256';

type Transport = 'tcp' | 'tls' | 'alts';

interface ChildArgs {
  role: 'reader' | 'writer';
  transport: Transport;
  frameSize: number;
  bytes: number;
  port: number;
  /** The TLS comparator's certificate, or undefined when there is none. */
  cert: CertFiles | undefined;
}

interface ChildReport {
  elapsedMs?: number;
  bytes?: number;
  cpuUs: number;
  port?: number;
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

// ---------------------------------------------------------------- child processes

function wrap(socket: Socket, transport: Transport, side: Side, frameSize: number): Duplex {
  if (transport !== 'alts') return socket;
  return createProtectedStream(socket, {
    recordProtocol: ALTSRP_GCM_AES128_REKEY,
    keyData: Buffer.alloc(REKEY_KEY_SIZE, 0x5a),
    side,
    writeFrameSize: frameSize,
  });
}

function send(message: ChildReport): void {
  process.send?.(message);
}

function runReader(a: ChildArgs): void {
  const onStream = (stream: Duplex): void => {
    let received = 0;
    let start = 0n;
    const cpuStart = process.cpuUsage();
    stream.on('data', (chunk: Buffer) => {
      if (received === 0) start = process.hrtime.bigint();
      received += chunk.length;
      if (received >= a.bytes) {
        const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
        const cpu = process.cpuUsage(cpuStart);
        send({ elapsedMs, bytes: received, cpuUs: cpu.user + cpu.system });
        stream.destroy();
        process.exit(0);
      }
    });
    stream.on('error', (err) => {
      console.error('reader error', err);
      process.exit(1);
    });
  };
  const server =
    a.transport === 'tls'
      ? tlsCreateServer(
          {
            key: readFileSync(a.cert?.keyFile ?? ''),
            cert: readFileSync(a.cert?.certFile ?? ''),
            minVersion: 'TLSv1.3',
            ciphers: TLS_CIPHER,
          },
          (s) => onStream(s),
        )
      : netCreateServer((s) => onStream(wrap(s, a.transport, 'server', a.frameSize)));
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address !== null && typeof address === 'object') send({ port: address.port, cpuUs: 0 });
  });
}

function runWriter(a: ChildArgs): void {
  const chunk = randomBytes(WRITE_CHUNK);
  const start = (stream: Duplex): void => {
    const cpuStart = process.cpuUsage();
    let written = 0;
    const pump = (): void => {
      while (written < a.bytes) {
        written += chunk.length;
        if (!stream.write(chunk)) {
          stream.once('drain', pump);
          return;
        }
      }
      const cpu = process.cpuUsage(cpuStart);
      send({ cpuUs: cpu.user + cpu.system });
    };
    pump();
  };
  if (a.transport === 'tls') {
    const s = tlsConnect({
      port: a.port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      ciphers: TLS_CIPHER,
    });
    s.once('secureConnect', () => start(s));
    s.on('error', () => process.exit(0));
  } else {
    const s = netConnect(a.port, '127.0.0.1', () => start(wrap(s, a.transport, 'client', a.frameSize)));
    s.on('error', () => process.exit(0));
  }
}

// ---------------------------------------------------------------- micro benchmark

function timeUs(iterations: number, fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / iterations;
}

/** One row of the micro benchmark (µs per frame, medians). */
export interface MicroRow {
  size: number;
  altsSealUs: number;
  altsOpenUs: number;
  rawSealUs: number;
  rawOpenUs: number;
}

function altsRound(size: number, iterations: number): { sealUs: number; openUs: number } {
  const key = randomBytes(REKEY_KEY_SIZE);
  const plaintext = randomBytes(size);
  const sender = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, key, 'client');
  const sealUs = timeUs(iterations, () => sender.seal(plaintext));
  const sealer = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, key, 'client');
  const sealed: SealedRecord[] = Array.from({ length: iterations }, () => sealer.seal(plaintext));
  const opener = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, key, 'server');
  const openUs = timeUs(iterations, (i) => {
    const r = sealed[i] as SealedRecord;
    opener.open(r.ciphertext, r.tag);
  });
  return { sealUs, openUs };
}

/** The comparator: a new AES-128-GCM cipher per frame, opening distinct records like the ALTS run. */
function rawRound(size: number, iterations: number): { sealUs: number; openUs: number } {
  const key = randomBytes(16);
  const plaintext = randomBytes(size);
  const nonce = (i: number): Buffer => {
    const n = Buffer.alloc(12);
    n.writeUInt32LE(i);
    return n;
  };
  const seal = (i: number): SealedRecord => {
    const cipher = createCipheriv('aes-128-gcm', key, nonce(i));
    const ciphertext = cipher.update(plaintext);
    cipher.final();
    return { ciphertext, tag: cipher.getAuthTag() };
  };
  const sealUs = timeUs(iterations, seal);
  const sealed = Array.from({ length: iterations }, (_, i) => seal(i));
  const openUs = timeUs(iterations, (i) => {
    const r = sealed[i] as SealedRecord;
    const decipher = createDecipheriv('aes-128-gcm', key, nonce(i));
    decipher.setAuthTag(r.tag);
    decipher.update(r.ciphertext);
    decipher.final();
  });
  return { sealUs, openUs };
}

function microRound(size: number, iterations: number, rawFirst: boolean): MicroRow {
  const raw = rawFirst ? rawRound(size, iterations) : undefined;
  const alts = altsRound(size, iterations);
  const raw2 = raw ?? rawRound(size, iterations);
  return {
    size,
    altsSealUs: alts.sealUs,
    altsOpenUs: alts.openUs,
    rawSealUs: raw2.sealUs,
    rawOpenUs: raw2.openUs,
  };
}

function micro(quick: boolean): MicroRow[] {
  const rows: MicroRow[] = [];
  const budget = quick ? MICRO_BYTES / 4 : MICRO_BYTES;
  const samples = new Map<number, MicroRow[]>();
  microRound(16 * 1024, 2000, true);
  for (let round = 0; round < (quick ? 3 : ROUNDS); round++) {
    for (const size of MICRO_SIZES) {
      const iterations = Math.max(64, Math.floor(budget / size));
      const list = samples.get(size) ?? [];
      list.push(microRound(size, iterations, round % 2 === 0));
      samples.set(size, list);
    }
  }
  for (const size of MICRO_SIZES) {
    const list = samples.get(size) ?? [];
    rows.push({
      size,
      altsSealUs: median(list.map((r) => r.altsSealUs)),
      altsOpenUs: median(list.map((r) => r.altsOpenUs)),
      rawSealUs: median(list.map((r) => r.rawSealUs)),
      rawOpenUs: median(list.map((r) => r.rawOpenUs)),
    });
  }
  return rows;
}

// ---------------------------------------------------------------- stream benchmark

/** One row of the stream benchmark. */
export interface StreamRow {
  name: string;
  transport: Transport;
  frameSize: number;
  mbPerS: number;
  mbPerSRuns: number[];
  readerCpuUsPerMB: number;
  writerCpuUsPerMB: number;
}

/** What `--json <file>` writes. */
export interface RecordBenchJson {
  node: string;
  cpus: number;
  micro: MicroRow[];
  stream: StreamRow[];
}

function childArgs(a: Omit<ChildArgs, 'port'> & { port?: number }): string[] {
  return [
    '--role',
    a.role,
    '--transport',
    a.transport,
    '--frame',
    String(a.frameSize),
    '--bytes',
    String(a.bytes),
    '--port',
    String(a.port ?? 0),
    ...(a.cert ? ['--cert-file', a.cert.certFile, '--key-file', a.cert.keyFile] : []),
  ];
}

function nextMessage(child: ChildProcess): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as ChildReport));
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting`)));
  });
}

async function streamRun(
  transport: Transport,
  frameSize: number,
  bytes: number,
  cert: CertFiles | undefined,
): Promise<{ mbPerS: number; readerCpu: number; writerCpu: number }> {
  const self = fileURLToPath(import.meta.url);
  const common = { transport, frameSize, bytes, cert };
  const reader = fork(self, childArgs({ ...common, role: 'reader' }), { stdio: 'inherit' });
  const { port } = await nextMessage(reader);
  const readerDone = nextMessage(reader);
  const writer = fork(self, childArgs({ ...common, role: 'writer', port: port ?? 0 }), { stdio: 'inherit' });
  const writerDone = nextMessage(writer);
  const [r, w] = await Promise.all([readerDone, writerDone]);
  writer.kill();
  reader.kill();
  const mb = (r.bytes ?? bytes) / 1e6;
  return { mbPerS: mb / ((r.elapsedMs ?? 1) / 1e3), readerCpu: r.cpuUs / mb, writerCpu: w.cpuUs / mb };
}

async function streams(quick: boolean, cert: CertFiles | undefined): Promise<StreamRow[]> {
  const bytes = (quick ? 64 : 256) * 1024 * 1024;
  const cells: Array<{ name: string; transport: Transport; frameSize: number }> = [
    { name: 'tcp (no security)', transport: 'tcp', frameSize: 0 },
    ...(cert === undefined ? [] : [{ name: 'tls 1.3 aes-128-gcm', transport: 'tls' as const, frameSize: 0 }]),
    { name: 'alts frame 16 KiB', transport: 'alts', frameSize: 16 * 1024 },
    { name: 'alts frame 128 KiB', transport: 'alts', frameSize: 128 * 1024 },
    { name: 'alts frame 1 MiB', transport: 'alts', frameSize: 1024 * 1024 },
  ];
  const runs = new Map<string, Array<{ mbPerS: number; readerCpu: number; writerCpu: number }>>();
  for (let round = 0; round < (quick ? 1 : STREAM_ROUNDS); round++) {
    for (const cell of cells) {
      const list = runs.get(cell.name) ?? [];
      list.push(await streamRun(cell.transport, cell.frameSize, bytes, cert));
      runs.set(cell.name, list);
    }
  }
  return cells.map((cell) => {
    const list = runs.get(cell.name) ?? [];
    return {
      ...cell,
      mbPerS: median(list.map((r) => r.mbPerS)),
      mbPerSRuns: list.map((r) => Math.round(r.mbPerS)),
      readerCpuUsPerMB: median(list.map((r) => r.readerCpu)),
      writerCpuUsPerMB: median(list.map((r) => r.writerCpu)),
    };
  });
}

// ---------------------------------------------------------------- report

function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const jsonPath = argValue(args, '--json');
  console.log(
    `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; medians; shared machine, noisy`,
  );

  const microRows = micro(quick);
  const mbs = (size: number, us: number) => size / us;
  console.log('\nseal / open per frame (ALTS rekey crypter vs raw AES-128-GCM, new cipher per frame)');
  console.log(
    table(
      [
        'size',
        'alts seal µs',
        'raw seal µs',
        'alts open µs',
        'raw open µs',
        'alts MB/s s+o',
        'raw MB/s s+o',
        'ratio',
      ],
      microRows.map((r) => {
        const alts = r.altsSealUs + r.altsOpenUs;
        const raw = r.rawSealUs + r.rawOpenUs;
        return [
          String(r.size),
          fixed(r.altsSealUs, 2),
          fixed(r.rawSealUs, 2),
          fixed(r.altsOpenUs, 2),
          fixed(r.rawOpenUs, 2),
          fixed(mbs(r.size, alts / 2), 0),
          fixed(mbs(r.size, raw / 2), 0),
          fixed(raw / alts, 2),
        ];
      }),
    ),
  );

  const certDir = mkdtempSync(join(tmpdir(), 'alts-record-bench-'));
  let streamRows: StreamRow[];
  try {
    const cert = await makeSelfSignedCert(certDir);
    if ('skipped' in cert) console.log(`\n(TLS comparator skipped: ${cert.skipped})`);
    streamRows = await streams(quick, 'skipped' in cert ? undefined : cert);
  } finally {
    rmSync(certDir, { recursive: true, force: true });
  }
  const tls = streamRows.find((r) => r.transport === 'tls');
  console.log('\nloopback TCP, writer and reader in separate processes, 64 KiB writes');
  console.log(
    table(
      ['transport', 'MB/s', 'runs', 'reader CPU µs/MB', 'writer CPU µs/MB', 'vs TLS'],
      streamRows.map((r) => [
        r.name,
        fixed(r.mbPerS, 0),
        r.mbPerSRuns.join('/'),
        fixed(r.readerCpuUsPerMB, 0),
        fixed(r.writerCpuUsPerMB, 0),
        tls === undefined ? '-' : fixed(r.mbPerS / tls.mbPerS, 2),
      ]),
    ),
  );
  if (jsonPath !== undefined) {
    const json: RecordBenchJson = {
      node: process.version,
      cpus: cpus().length,
      micro: microRows,
      stream: streamRows,
    };
    writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nJSON written to ${jsonPath}`);
  }
}

function certArg(certFile: string | undefined, keyFile: string | undefined): CertFiles | undefined {
  return certFile === undefined || keyFile === undefined ? undefined : { certFile, keyFile };
}

const role = argValue(process.argv, '--role');
if (role === 'reader' || role === 'writer') {
  const a: ChildArgs = {
    role,
    transport: (argValue(process.argv, '--transport') ?? 'tcp') as Transport,
    frameSize: Number(argValue(process.argv, '--frame')),
    bytes: Number(argValue(process.argv, '--bytes')),
    port: Number(argValue(process.argv, '--port')),
    cert: certArg(argValue(process.argv, '--cert-file'), argValue(process.argv, '--key-file')),
  };
  if (role === 'reader') runReader(a);
  else runWriter(a);
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
