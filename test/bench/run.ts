/**
 * `npm run bench`: ALTS vs TLS 1.3 vs insecure for grpc-js, in one invocation on this machine.
 *
 *   node test/dist/bench/run.js [--quick] [--reps N] [--sections 1,2,3,4,5] [--out DIR]
 *                               [--wait-idle] [--profile DIR] [--verbose]
 *
 * Sections: (1) record micro, (2) byte stream over loopback TCP, (3) handshakes against the
 * emulator, (4) grpc-js end to end, (5) RSS per idle connection. Writes results.json, results.md
 * and chart.svg to --out (default docs/bench). Every child process is stopped and the temp dir
 * (certificate, emulator state) removed on every exit path. --quick is a smoke run (< 1 min).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Started, startReady } from 'ot-booking-demo/processes';
import { type BenchContext, CLIENT_SA, EMULATOR_CLI, ROOT, SERVER_SA } from './lib/context.js';
import { load1, machineInfo } from './lib/machine.js';
import { killAllChildrenSync, runToCompletion, stopAllChildren } from './lib/processes.js';
import { renderMarkdown, renderSvg } from './lib/report.js';
import type { BenchResults } from './lib/results.js';
import { evaluateTargets } from './lib/targets.js';
import { makeSelfSignedCert } from './lib/tls.js';
import { runGrpcSection } from './sections/grpc.js';
import { runHandshakeSection } from './sections/handshakes.js';
import { runMemorySection } from './sections/memory.js';
import { runRecordSection } from './sections/record.js';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    sections: { type: 'string', default: '1,2,3,4,5' },
    out: { type: 'string' },
    'wait-idle': { type: 'boolean', default: false },
    profile: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    'budget-s': { type: 'string' },
  },
});

const quick = opts.quick ?? false;
const reps = Math.max(1, Math.min(20, Number(opts.reps ?? (quick ? 1 : 5)) || 1));
const sections = new Set(
  (opts.sections ?? '')
    .split(',')
    .map(Number)
    .filter((n) => n >= 1 && n <= 5),
);
const outDir = resolve(opts.out ?? join(ROOT, 'docs/bench'));
const budgetMs = Number(opts['budget-s'] ?? (quick ? 110 : 570)) * 1000;
/** When measuring began (after any --wait-idle): the budget and durationS count from here. */
let started = Date.now();
const tmpDir = mkdtempSync(join(tmpdir(), 'alts-bench-'));
const childLines: string[] = [];

const log = (line: string) => console.log(line);
function childLog(line: string): void {
  if (opts.verbose) console.error(line);
  childLines.push(line);
  if (childLines.length > 200) childLines.shift();
}
let cleaned = false;
function cleanupSync(): void {
  if (cleaned) return;
  cleaned = true;
  killAllChildrenSync();
  rmSync(tmpDir, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping`);
    void stopAllChildren().finally(() => {
      cleanupSync();
      process.exit(130);
    });
  });
}

class BudgetExceeded extends Error {}

/** Results written into the repository are formatted as `npm run lint` expects (Biome). */
async function formatForRepository(dir: string): Promise<void> {
  const biome = join(ROOT, 'node_modules/.bin/biome');
  if (relative(ROOT, dir).startsWith('..') || !existsSync(biome)) return;
  const files = ['results.json', 'results.md'].map((f) => join(dir, f));
  const r = await runToCompletion(biome, ['format', '--write', ...files], 30_000);
  if (r.code !== 0) log(`biome format failed (${r.code}): ${r.stderr.split('\n')[0] ?? ''}`);
}

let maxLoad = load1();
const sampler = setInterval(() => {
  maxLoad = Math.max(maxLoad, load1());
}, 1000);
sampler.unref();

async function waitForIdle(): Promise<void> {
  const until = Date.now() + 10 * 60_000;
  while (load1() >= 0.5 && Date.now() < until) {
    log(`waiting for the machine to be idle: load ${load1()}`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
}

async function main(): Promise<number> {
  if (opts['wait-idle']) await waitForIdle();
  started = Date.now();
  const startLoad = load1();
  maxLoad = startLoad;
  const machine = machineInfo();
  log(
    `ALTS benchmark${quick ? ' (quick)' : ''}: ${machine.cores} × ${machine.cpuModel}, Node ${machine.node}, ` +
      `OpenSSL ${machine.openssl}, grpc-js ${machine.grpcJs}; load ${startLoad}; ${reps} reps; sections ${[...sections].join(',')}`,
  );
  const notes: string[] = [];
  const needTls = [3, 4, 5].some((s) => sections.has(s));
  const needAlts = [3, 4, 5].some((s) => sections.has(s));
  const tls = needTls ? await makeSelfSignedCert(tmpDir) : { skipped: 'not needed' };
  if ('skipped' in tls && needTls) notes.push(`TLS skipped: ${tls.skipped}`);
  let emulators: Started[] = [];
  if (needAlts) {
    const stateDir = join(tmpDir, 'emulator-state');
    mkdirSync(stateDir, { mode: 0o700 });
    const emulator = (name: string, sa: string) =>
      startReady(
        name,
        EMULATOR_CLI,
        ['serve', '--listen', '127.0.0.1:0', '--service-account', sa, '--state-dir', stateDir],
        childLog,
      );
    try {
      // The first creates the trust root; the second reuses it.
      emulators = [await emulator('emulator-client-vm', CLIENT_SA)];
      emulators.push(await emulator('emulator-server-vm', SERVER_SA));
    } catch (err) {
      notes.push(`ALTS skipped: the emulator did not start (${String(err)})`);
    }
  }
  const ctx: BenchContext = {
    quick,
    reps,
    tmpDir,
    emulators:
      emulators.length === 2
        ? { client: (emulators[0] as Started).address, server: (emulators[1] as Started).address }
        : undefined,
    tls,
    profileDir: opts.profile ? resolve(opts.profile) : undefined,
    log,
    childLog,
    checkBudget() {
      if (Date.now() - started > budgetMs)
        throw new BudgetExceeded(`time budget of ${budgetMs / 1000} s used up`);
    },
  };
  if (ctx.profileDir) mkdirSync(ctx.profileDir, { recursive: true });

  const results: BenchResults = {
    schema: 1,
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick,
    durationS: 0,
    machine,
    load: { start: startLoad, end: startLoad, max: startLoad },
    reps,
    targets: [],
    notes,
  };
  let failed = false;
  const run = async (name: string, fn: () => Promise<void>) => {
    log(`\n== ${name}`);
    const t = Date.now();
    try {
      await fn();
      log(`   (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed = true;
      const message = err instanceof Error ? err.message : String(err);
      notes.push(`${name} failed: ${message}`);
      log(`   FAILED: ${message}`);
      if (!(err instanceof BudgetExceeded)) {
        for (const l of childLines.slice(-15)) log(`   | ${l}`);
      }
    }
  };
  try {
    if (sections.has(1) || sections.has(2)) {
      await run(
        '1-2. record layer (packages/alts record-bench): micro, stream over loopback TCP',
        async () => {
          results.record = await runRecordSection(ctx);
        },
      );
    }
    if (sections.has(3) && ctx.emulators) {
      await run('3. handshakes against the emulator', async () => {
        results.handshakes = await runHandshakeSection(ctx);
      });
    }
    if (sections.has(4)) {
      await run('4. grpc-js end to end', async () => {
        results.grpc = await runGrpcSection(ctx);
      });
    }
    if (sections.has(5)) {
      await run('5. RSS per idle connection', async () => {
        results.memory = await runMemorySection(ctx);
      });
    }
  } finally {
    await Promise.all(emulators.map((e) => e.stop()));
  }
  results.durationS = Math.round((Date.now() - started) / 100) / 10;
  results.load = { start: startLoad, end: load1(), max: Math.max(maxLoad, load1()) };
  results.targets = evaluateTargets(results);
  if (results.load.max >= 1) {
    notes.push(
      `The machine was busy (1-minute load up to ${results.load.max} on ${machine.cores} cores): figures are noisy.`,
    );
  }
  const markdown = renderMarkdown(results);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, 'results.md'), markdown);
  writeFileSync(join(outDir, 'chart.svg'), renderSvg(results));
  await formatForRepository(outDir);
  log(`\n${markdown}`);
  log(
    `wrote ${relative(process.cwd(), outDir) || '.'}/{results.json,results.md,chart.svg} in ${results.durationS} s`,
  );
  return failed ? 1 : 0;
}

main().then(
  async (code) => {
    clearInterval(sampler);
    await stopAllChildren();
    cleanupSync();
    process.exit(code);
  },
  async (err: unknown) => {
    console.error(err);
    await stopAllChildren();
    cleanupSync();
    process.exit(1);
  },
);
