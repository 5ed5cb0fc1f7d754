/**
 * `npm run bench:compare -- --against DIR`: is a change faster? ALTS from this checkout ("B") and
 * from another built checkout ("A"), with TLS 1.3 from this one beside them, run the grpc-js
 * workloads of the benchmark round by round, the three pairs alternated (A B TLS, then TLS B A), so
 * that drifting load hits them alike. For every figure it prints the medians and the median and
 * range of the per-round ratios: on a shared 2-core machine identical code differs by up to ±25 %
 * from round to round, and a change is real only when its rounds agree (docs/performance.md, "How
 * small a difference one run can show").
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { guardExit } from '@grpc-alts/test-support/exit-guard';
import { type Started, startEmulator, type Worker } from '@grpc-alts/test-support/processes';
import {
  type BenchContext,
  CLIENT_SA,
  SERVER_SA,
  startClient,
  startServer,
  WORKERS,
  workersIn,
} from './lib/context.js';
import { load1 } from './lib/machine.js';
import type { Mode } from './lib/services.js';
import { fmt, median } from './lib/stats.js';
import { makeSelfSignedCert } from './lib/tls.js';

const EXIT_USAGE = 2;
const ROUNDS = { default: 6, max: 40 } as const;
const WORKLOADS = ['echo', 'seq', 'stream', 'tuned', 'newch'] as const;
type Workload = (typeof WORKLOADS)[number];
/** Each workload's measuring time, as in the benchmark's grpc-js section. */
const MEASURE_MS = 1500;
const WARMUP_MS = 300;
const NEW_CHANNELS = 15;
const REQUEST_TIMEOUT_MS = 60_000;

const USAGE = `Usage: npm run bench:compare -- --against DIR [options]

ALTS from this checkout (B) against ALTS from the checkout DIR (A), TLS 1.3 beside them, on the
grpc-js workloads of 'npm run bench', alternated round by round. Prints each figure's medians and
the median and range of the per-round ratios B/A, A/TLS and B/TLS. DIR must be built ('npm ci' in
it); both use this checkout's emulator and TLS certificate.

Options:
  --against DIR      the checkout to compare against (required)
  --rounds N         rounds, 1-${ROUNDS.max} (default ${ROUNDS.default})
  --workloads LIST   of ${WORKLOADS.join(',')} (default all): 1 MB echo, 100 B sequential echo,
                     64 KiB server streaming with default and with 1 MiB client windows, new
                     channel + first RPC
  --pin              run every server on CPU 0 and every client on CPU 1 (taskset)
  -h, --help         print this help
`;

function usageError(message: string): never {
  process.stderr.write(`bench:compare: ${message}\nRun 'npm run bench:compare -- --help' for usage.\n`);
  process.exit(EXIT_USAGE);
}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        against: { type: 'string' },
        rounds: { type: 'string', default: String(ROUNDS.default) },
        workloads: { type: 'string', default: WORKLOADS.join(',') },
        pin: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    return usageError((err as Error).message.split('. ')[0] ?? '');
  }
}

const opts = parseOptions();
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (opts.against === undefined) usageError('--against DIR is required: the checkout to compare against');
const against = resolve(opts.against);
const workersA = workersIn(against);
if (!existsSync(against)) usageError(`--against: ${against} does not exist`);
if (!existsSync(workersA.server) || !existsSync(workersA.client)) {
  usageError(`${against} has no built benchmark workers: run 'npm ci' there first`);
}
const rounds = Number(opts.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > ROUNDS.max)
  usageError(`--rounds must be a whole number 1-${ROUNDS.max}, got '${opts.rounds}'`);
const workloads = opts.workloads.split(',') as Workload[];
for (const w of workloads) {
  if (!WORKLOADS.includes(w)) usageError(`--workloads takes ${WORKLOADS.join(',')}, got '${w}'`);
}

const tmpDir = mkdtempSync(join(tmpdir(), 'alts-bench-compare-'));
const guard = guardExit(tmpDir);
const log = (line: string) => {
  if (!guard.quiet) console.log(line);
};
const childLines: string[] = [];

interface Pair {
  label: 'A' | 'B' | 'TLS';
  server: Worker;
  client: Worker;
}

async function startPair(ctx: BenchContext, label: Pair['label'], mode: Mode, workers: typeof WORKERS) {
  const server = await startServer(ctx, mode, [], workers);
  const client = await startClient(ctx, mode, Number(server.info.port), [], workers);
  if (opts.pin) {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(server.pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(client.pid)], { stdio: 'ignore' });
  }
  return { label, server, client };
}

async function cpuUs(worker: Worker): Promise<number> {
  const c = await worker.request<{ user: number; system: number }>('cpu');
  return c.user + c.system;
}

type Figures = Record<string, number>;

/** One workload on one pair: its figures, CPU per unit on both sides included. */
async function measure({ server, client }: Pair, workload: Workload): Promise<Figures> {
  const serverBefore = await cpuUs(server);
  if (workload === 'echo' || workload === 'seq') {
    const r = await client.request<{ perS: number; mbPerS: number; p50Us: number; calls: number }>(
      'sequential',
      { payloadBytes: workload === 'echo' ? 1_000_000 : 100, warmupMs: WARMUP_MS, durationMs: MEASURE_MS },
      REQUEST_TIMEOUT_MS,
    );
    // The server's counter spans the warm-up too: scale the calls to the whole interval.
    const calls = r.calls * ((WARMUP_MS + MEASURE_MS) / MEASURE_MS);
    const serverCpu = ((await cpuUs(server)) - serverBefore) / Math.max(1, calls);
    return workload === 'echo'
      ? { 'echo 1 MB MB/s': r.mbPerS, 'echo server CPU µs/call': serverCpu }
      : { 'seq 100 B RPC/s': r.perS, 'seq p50 µs': r.p50Us, 'seq server CPU µs/call': serverCpu };
  }
  if (workload === 'newch') {
    const r = await client.request<{ p50Ms: number }>(
      'newChannel',
      { count: NEW_CHANNELS, maxMs: 15_000 },
      REQUEST_TIMEOUT_MS,
    );
    return { 'new channel p50 ms': r.p50Ms };
  }
  const gcsBefore = await server.request<number>('majorGcs');
  const r = await client.request<{
    mbPerS: number;
    bytes: number;
    totalBytes: number;
    clientCpuUsPerMB: number;
    clientMajorGcs: number;
  }>(
    'stream',
    {
      messageBytes: 64 * 1024,
      messagesPerCall: 128,
      warmupMs: WARMUP_MS,
      durationMs: MEASURE_MS,
      windows: workload === 'tuned' ? 'tuned' : 'default',
    },
    REQUEST_TIMEOUT_MS,
  );
  const serverMB = Math.max(1e-9, r.totalBytes / 1e6);
  const serverGcs = (await server.request<number>('majorGcs')) - gcsBefore;
  return {
    [`${workload} MB/s`]: r.mbPerS,
    [`${workload} client CPU µs/MB`]: r.clientCpuUsPerMB,
    [`${workload} server CPU µs/MB`]: ((await cpuUs(server)) - serverBefore) / serverMB,
    [`${workload} client major GCs/100 MB`]: r.clientMajorGcs / Math.max(1e-9, r.bytes / 1e8),
    [`${workload} server major GCs/100 MB`]: serverGcs / (serverMB / 100),
  };
}

/** "1.07 (0.86–1.21)": the median of per-round ratios and their range. */
function ratios(a: readonly number[], b: readonly number[]): string {
  const r = a.map((v, i) => v / (b[i] as number)).filter(Number.isFinite);
  if (r.length === 0) return 'n/a';
  return `${fmt(median(r))} (${fmt(Math.min(...r))}–${fmt(Math.max(...r))})`;
}

async function main(): Promise<void> {
  const cert = await makeSelfSignedCert(tmpDir);
  const stateDir = join(tmpDir, 'emulator-state');
  mkdirSync(stateDir, { mode: 0o700 });
  const childLog = (line: string) => {
    childLines.push(line);
    if (childLines.length > 200) childLines.shift();
  };
  const emulators: Started[] = [
    await startEmulator('emulator-client-vm', CLIENT_SA, stateDir, childLog),
    await startEmulator('emulator-server-vm', SERVER_SA, stateDir, childLog),
  ];
  const ctx: BenchContext = {
    quick: false,
    reps: rounds,
    tmpDir,
    emulators: { client: (emulators[0] as Started).address, server: (emulators[1] as Started).address },
    tls: cert,
    profileDir: undefined,
    log,
    childLog,
    checkBudget: () => undefined,
  };
  if ('skipped' in cert) throw new Error(`TLS cannot run: ${cert.skipped}`);
  log(
    `A: ALTS from ${against}\nB: ALTS from this checkout\nload ${load1()}; ${rounds} rounds of ${workloads.join(', ')}`,
  );
  const pairs: Pair[] = [
    await startPair(ctx, 'A', 'alts', workersA),
    await startPair(ctx, 'B', 'alts', WORKERS),
    await startPair(ctx, 'TLS', 'tls', WORKERS),
  ];
  const values = new Map<string, Record<Pair['label'], number[]>>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? pairs : [...pairs].reverse();
    for (const pair of order) {
      for (const workload of workloads) {
        for (const [figure, value] of Object.entries(await measure(pair, workload))) {
          const row = values.get(figure) ?? { A: [], B: [], TLS: [] };
          values.set(figure, row);
          row[pair.label].push(value);
        }
      }
    }
    log(`round ${round + 1}/${rounds} done, load ${load1()}`);
  }
  log(
    '\n| figure | TLS | A | B | B ÷ A | A ÷ TLS | B ÷ TLS |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const [figure, row] of values) {
    log(
      `| ${figure} | ${fmt(median(row.TLS))} | ${fmt(median(row.A))} | ${fmt(median(row.B))} | ` +
        `${ratios(row.B, row.A)} | ${ratios(row.A, row.TLS)} | ${ratios(row.B, row.TLS)} |`,
    );
  }
}

main().then(
  () => guard.exit(0),
  (err: unknown) => {
    if (!guard.quiet) {
      process.stderr.write(`bench:compare failed: ${err instanceof Error ? err.message : String(err)}\n`);
      for (const line of childLines.slice(-20)) process.stderr.write(`  ${line}\n`);
    }
    return guard.exit(1);
  },
);
