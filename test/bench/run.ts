/**
 * `npm run bench`: ALTS vs TLS 1.3 vs insecure for grpc-js, with grpc-go and C-core ALTS where the
 * interop peers are built, in one invocation on this machine;
 * `npm run bench -- --help` lists the options.
 *
 * Results go to bench-results/ (git-ignored) so that a run, quick or not, leaves the working tree
 * clean; only --write-docs publishes to docs/bench. Every child process is stopped and the temp dir
 * (certificate, emulator state) removed on every exit path, signals and a closed stdout included.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { guardExit } from '@grpc-alts/test-support/exit-guard';
import { runToCompletion, type Started, startEmulator } from '@grpc-alts/test-support/processes';
import { type BenchContext, CLIENT_SA, ROOT, SERVER_SA } from './lib/context.js';
import { load1, machineInfo } from './lib/machine.js';
import { renderMarkdown, renderSvg } from './lib/report.js';
import type { BenchResults } from './lib/results.js';
import { evaluateTargets } from './lib/targets.js';
import { makeSelfSignedCert } from './lib/tls.js';
import { runGrpcSection } from './sections/grpc.js';
import { runHandshakeSection } from './sections/handshakes.js';
import { runMemorySection } from './sections/memory.js';
import { runRecordSection } from './sections/record.js';

/** Where results go unless --out or --write-docs says otherwise: git-ignored, so a run leaves the tree clean. */
const DEFAULT_OUT = join(ROOT, 'bench-results');
/** The published results, which the README links and shows. */
const DOCS_OUT = join(ROOT, 'docs/bench');
const REPS = { default: 5, quick: 1, max: 20 } as const;
/** Seconds of measuring before the remaining sections are skipped; --quick stays under two minutes. */
const BUDGET_S = { default: 570, quick: 110 } as const;
const ALL_SECTIONS = [1, 2, 3, 4, 5] as const;
/** Bad usage, as for every CLI here. */
const EXIT_USAGE = 2;

const USAGE = `Usage: npm run bench -- [options]

ALTS against grpc-js over TLS 1.3 and insecure, measured on this machine. Writes results.json,
results.md and chart.svg to bench-results/ (git-ignored) unless --out or --write-docs is given.

Options:
  --quick            smoke run of under a minute (tiny counts, one repetition): figures are not meaningful
  --reps N           repetitions of every measurement, 1-${REPS.max} (default ${REPS.default}; ${REPS.quick} with --quick)
  --sections LIST    which sections to run (default ${ALL_SECTIONS.join(',')}): 1 record micro, 2 byte stream
                     over loopback TCP, 3 handshakes against the emulator, 4 grpc-js end to end
                     (with grpc-go and C-core ALTS where the interop peers are built), 5 RSS per
                     idle connection
  --out DIR          write the results to DIR
  --write-docs       write the results to docs/bench, formatted for commit (publishes this run)
  --render-only      measure nothing: re-render results.md and chart.svg from results.json in the
                     output directory (with --write-docs: the committed docs/bench/results.json),
                     judging its figures by the current targets
  --budget-s N       stop measuring after N seconds (default ${BUDGET_S.default}; ${BUDGET_S.quick} with --quick)
  --wait-idle        first wait up to 10 minutes for a 1-minute load average below 0.5
  --profile DIR      write V8 CPU profiles of the worker processes to DIR
  --verbose          print the child processes' stderr
  -h, --help         print this help
`;

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\nRun 'npm run bench -- --help' for usage.\n`);
  process.exit(EXIT_USAGE);
}

function parseOptions() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        reps: { type: 'string' },
        sections: { type: 'string', default: ALL_SECTIONS.join(',') },
        out: { type: 'string' },
        'write-docs': { type: 'boolean', default: false },
        'render-only': { type: 'boolean', default: false },
        'wait-idle': { type: 'boolean', default: false },
        profile: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        'budget-s': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    // parseArgs goes on after its first sentence with advice about positionals, which fits no flag here.
    return usageError((err as Error).message.split('. ')[0] ?? '');
  }
}

/** A whole number within [min, max], or a usage error naming the flag. */
function intOption(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    usageError(`${flag} must be a whole number ${min}-${max}, got '${text}'`);
  return n;
}

const opts = parseOptions();
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (opts.out !== undefined && opts['write-docs'])
  usageError('--out and --write-docs name two places: give one');
const quick = opts.quick;
const reps =
  opts.reps === undefined ? REPS[quick ? 'quick' : 'default'] : intOption('--reps', opts.reps, 1, REPS.max);
const sections = new Set(
  opts.sections.split(',').map((s) => intOption('--sections', s, 1, ALL_SECTIONS.length)),
);
const budgetS =
  opts['budget-s'] === undefined ? BUDGET_S[quick ? 'quick' : 'default'] : Number(opts['budget-s']);
if (!(budgetS > 0)) usageError(`--budget-s must be a positive number of seconds, got '${opts['budget-s']}'`);
const budgetMs = budgetS * 1000;
const outDir = opts['write-docs'] ? DOCS_OUT : resolve(opts.out ?? DEFAULT_OUT);

/** A path as the user can best read it: relative below the current directory, absolute elsewhere. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel || '.';
}

/** Writes the table and the chart (and, after a measurement, the results) to `outDir`. */
async function writeReports(results: BenchResults, log: (line: string) => void, measured: boolean) {
  const markdown = renderMarkdown(results);
  mkdirSync(outDir, { recursive: true });
  const written = ['results.md', 'chart.svg'];
  if (measured) {
    writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    written.unshift('results.json');
  }
  writeFileSync(join(outDir, 'results.md'), markdown);
  writeFileSync(join(outDir, 'chart.svg'), renderSvg(results));
  if (opts['write-docs']) await formatForCommit(outDir, log);
  log(`\n${markdown}`);
  log(`wrote ${shown(outDir)}/{${written.join(',')}}`);
}

/** Results committed to the repository are formatted as `npm run lint` expects (Biome). */
async function formatForCommit(dir: string, log: (line: string) => void): Promise<void> {
  const biome = join(ROOT, 'node_modules/.bin/biome');
  const files = ['results.json', 'results.md'].map((f) => join(dir, f));
  const r = await runToCompletion([biome, 'format', '--write', ...files], 30_000);
  if (r.code !== 0) log(`biome format failed (${r.code}): ${r.stderr.split('\n')[0] ?? ''}`);
}

if (opts['render-only']) {
  const file = join(outDir, 'results.json');
  if (!existsSync(file)) {
    process.stderr.write(`bench: no ${shown(file)} to render: run the benchmark first\n`);
    process.exit(1);
  }
  const stored = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  // The targets are code and the figures data: a re-render judges the stored figures by today's targets.
  await writeReports({ ...stored, targets: evaluateTargets(stored) }, console.log, false);
  process.exit(0);
}

/** When measuring began (after any --wait-idle): the budget and durationS count from here. */
let started = Date.now();
const tmpDir = mkdtempSync(join(tmpdir(), 'alts-bench-'));
const guard = guardExit(tmpDir);
const childLines: string[] = [];

const log = (line: string) => {
  if (!guard.quiet) console.log(line);
};
function childLog(line: string): void {
  if (opts.verbose && !guard.quiet) console.error(line);
  childLines.push(line);
  if (childLines.length > 200) childLines.shift();
}

class BudgetExceeded extends Error {}

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
    const emulator = (name: string, sa: string) => startEmulator(name, sa, stateDir, childLog);
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
      await run('1-2. record layer (test/bench/record-bench): micro, stream over loopback TCP', async () => {
        results.record = await runRecordSection(ctx);
      });
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
  await writeReports(results, log, true);
  log(`measured in ${results.durationS} s`);
  return failed ? 1 : 0;
}

main().then(
  (code) => guard.exit(code),
  (err: unknown) => {
    if (!guard.quiet) console.error(err);
    return guard.exit(1);
  },
);
