// `npm run test:stress`: the long run of issue 10. Runs, in order:
//   1. the three fuzzers with a shared seed and ≥ 1 000 000 cases in total (child processes, in
//      parallel): record layer 60 %, handshake driver 10 %, emulator 30 % of STRESS_FUZZ_CASES;
//   2. the hostile-clients test with a 1 100-connect handshake flood, the handshaker faults test, and
//      the availability attacks at AVAILABILITY_ATTACK_MS each (default here 60 s);
//   3. the soak: SOAK_RPCS (default 100 000) RPCs over 20 channels with reconnects and a server
//      restart in the middle (in this process);
// then prints ONE summary line and exits non-zero if any invariant failed. Each printed invariant
// can fail: duplicated_responses counts response messages on the wire per request (soak.ts's
// ResponseLedger, shown to fire on a real duplicate by soak.test.ts), and good_errors=0 counts only
// when good clients did call during the flood.
// Knobs: FUZZ_SEED (default random, printed), STRESS_FUZZ_CASES (default 1 000 000, at least
// 1 000), SOAK_RPCS (default 100 000, at least 1 000), AVAILABILITY_ATTACK_MS (default 60 000).
// A watchdog stops everything after 30 minutes.
// Child output goes to a log file named at the start; failing children's tails are printed.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envInt, fuzzSeed } from '@grpc-alts/test-support/fuzz';
import { runSoak } from './soak.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const WATCHDOG_MS = 30 * 60_000;
/** Past Node's 1 000 invalid HTTP/2 frames per session (see FLOOD in hostile.test.ts). */
const HOSTILE_FLOOD = 1_100;

const seed = fuzzSeed();
const fuzzCases = envInt('STRESS_FUZZ_CASES', 1_000_000, 1_000, 50_000_000);
const soakRpcs = envInt('SOAK_RPCS', 100_000, 1_000, 10_000_000);
const availabilityMs = envInt('AVAILABILITY_ATTACK_MS', 60_000, 2_000, 600_000);

const work = await mkdtemp(join(tmpdir(), 'alts-stress-'));
const logFile = join(work, 'stress.log');
const fuzzReport = join(work, 'fuzz.jsonl');
const hardeningReport = join(work, 'hardening.jsonl');
const children = new Set<ReturnType<typeof spawn>>();
const say = (line: string) => process.stderr.write(`[stress] ${line}\n`);

const watchdog = setTimeout(() => {
  say(`watchdog: still running after ${WATCHDOG_MS / 60_000} minutes; stopping`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(2);
}, WATCHDOG_MS);
watchdog.unref();

/** Runs one test file under node --test; resolves with its exit code (output to the log). */
function runTestFile(file: string, env: Record<string, string>): Promise<number> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--test', file], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let tail = '';
    const onOutput = (b: Buffer) => {
      tail = (tail + b.toString()).slice(-6_000);
      void appendFile(logFile, b);
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('close', (code) => {
      children.delete(child);
      if (code !== 0) say(`${file} failed (exit ${code}); end of its output:\n${tail}`);
      done(code ?? 1);
    });
  });
}

function readLines(file: string): Array<Record<string, number | string>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, number | string>);
}

const started = performance.now();
const failures: string[] = [];
say(`seed ${seed}; log ${logFile}`);

// 1. Fuzzing.
const share = { record: 0.6, handshake: 0.1, emulator: 0.3 };
const fuzzFiles: Array<[string, number]> = [
  ['packages/alts/dist/record/fuzz.test.js', Math.ceil(fuzzCases * share.record)],
  ['packages/alts/dist/handshake/fuzz.test.js', Math.ceil(fuzzCases * share.handshake)],
  ['packages/alts-emulator/dist/service/fuzz.test.js', Math.ceil(fuzzCases * share.emulator)],
];
say(`fuzzing: ${fuzzFiles.map(([f, n]) => `${f} ${n}`).join(', ')}`);
const fuzzCodes = await Promise.all(
  fuzzFiles.map(([file, runs]) =>
    runTestFile(file, { FUZZ_SEED: String(seed), FUZZ_RUNS: String(runs), FUZZ_REPORT: fuzzReport }),
  ),
);
fuzzCodes.forEach((code, i) => {
  if (code !== 0) failures.push(`fuzz ${fuzzFiles[i]?.[0]}`);
});
const fuzzRun = readLines(fuzzReport).reduce((sum, l) => sum + Number(l.cases ?? 0), 0);
if (fuzzRun < fuzzCases) failures.push(`fuzz cases ${fuzzRun} < ${fuzzCases}`);
say(`fuzzing done: ${fuzzRun} cases in ${((performance.now() - started) / 1000).toFixed(0)} s`);

// 2. Hostile clients (1 100-connect flood) and handshaker faults.
const hostileCode = await runTestFile('test/dist/hardening/hostile.test.js', {
  HOSTILE_FLOOD: String(HOSTILE_FLOOD),
  HARDENING_REPORT: hardeningReport,
});
if (hostileCode !== 0) failures.push('hostile clients');
const faultsCode = await runTestFile('test/dist/hardening/faults.test.js', {
  HARDENING_REPORT: hardeningReport,
});
if (faultsCode !== 0) failures.push('handshaker faults');
const availabilityCode = await runTestFile('test/dist/hardening/availability.test.js', {
  AVAILABILITY_ATTACK_MS: String(availabilityMs),
  HARDENING_REPORT: hardeningReport,
});
if (availabilityCode !== 0) failures.push('availability under attack');
const figures = readLines(hardeningReport);
const hostile = figures.find((f) => f.suite === 'hostile');
const faults = figures.find((f) => f.suite === 'faults');
const attacks = figures.filter((f) => f.suite === 'availability');
const goodUnderAttack = attacks.map((f) => `${f.attack}:${f.goodCalls}/${f.goodTried},worst_${f.worstMs}ms`);
if (attacks.length === 0) failures.push('the availability attacks reported nothing');
for (const f of attacks) {
  if (f.goodCalls !== f.goodTried)
    failures.push(`good calls failed under ${f.attack}: ${f.goodCalls}/${f.goodTried}`);
}

// 3. Soak.
say(`soak: ${soakRpcs} RPCs over 20 channels`);
const soak = await runSoak({
  rpcs: soakRpcs,
  channels: 20,
  concurrency: 5,
  reconnectEvery: Math.max(100, Math.round(soakRpcs / 50)),
  maxAttempts: 50,
  log: say,
});
const mib = (n: number) => (n / 2 ** 20).toFixed(1);
const rssDrift = Math.abs(soak.rssEnd - soak.rssStart) / soak.rssStart;
if (soak.lost !== 0) failures.push(`soak lost ${soak.lost}`);
if (soak.duplicated !== 0) failures.push(`soak duplicated ${soak.duplicated} (${soak.duplicates})`);
if (soak.wrong !== 0) failures.push(`soak wrong replies ${soak.wrong}`);
if (soak.answered !== soak.rpcs) failures.push(`soak answered ${soak.answered} of ${soak.rpcs}`);
if (soak.serverRestarts !== 1) failures.push('soak server restart did not happen');
if (rssDrift > 0.2) failures.push(`soak RSS drift ${(rssDrift * 100).toFixed(1)} % > 20 %`);
// RSS keeps the allocator's high-water mark; the heap after a full GC is what a leak would grow.
if (soak.heapEnd > soak.heapStart * 1.2 + 8 * 2 ** 20) {
  failures.push(`soak heap after GC grew ${mib(soak.heapStart)} -> ${mib(soak.heapEnd)} MiB`);
}
say(`soak errors retried by code: ${JSON.stringify(soak.errorsByCode)}; reconnects ${soak.reconnects}`);

const leaked =
  Number(hostile?.leakedHandles ?? Number.NaN) +
  Number(faults?.leakedHandles ?? Number.NaN) +
  soak.leakedHandles;
if (!(leaked === 0)) failures.push(`leaked handles ${leaked}`);
const goodErrors = Number(hostile?.goodErrors ?? Number.NaN);
if (!(goodErrors === 0)) failures.push(`good-client errors ${goodErrors}`);
// Zero good errors proves nothing unless good clients called.
if (!(Number(hostile?.goodCalls) > 0)) failures.push('no good-client calls during the attack');
if (!(Number(hostile?.hostileConnections) >= HOSTILE_FLOOD)) {
  failures.push(`hostile connections ${hostile?.hostileConnections ?? 'n/a'} < the ${HOSTILE_FLOOD} flood`);
}

const summary = [
  `STRESS ${failures.length === 0 ? 'PASS' : 'FAIL'}`,
  `fuzz_cases=${fuzzRun}`,
  `fuzz_seed=${seed}`,
  `hostile_connections=${hostile?.hostileConnections ?? 'n/a'}`,
  `good_calls=${hostile?.goodCalls ?? 'n/a'}`,
  `good_errors=${hostile?.goodErrors ?? 'n/a'}`,
  `good_under_attack=${goodUnderAttack.join(';') || 'n/a'}`,
  `soak_rpcs=${soak.answered}/${soak.rpcs}`,
  `soak_retries=${soak.retries}`,
  `lost_responses=${soak.lost}`,
  `duplicated_responses=${soak.duplicated}`,
  `wrong_responses=${soak.wrong}`,
  `rss_start_mib=${mib(soak.rssStart)}`,
  `rss_end_mib=${mib(soak.rssEnd)}`,
  `heap_after_gc_mib=${mib(soak.heapStart)}->${mib(soak.heapEnd)}`,
  `leaked_handles=${Number.isNaN(leaked) ? 'n/a' : leaked}`,
  `duration_s=${((performance.now() - started) / 1000).toFixed(0)}`,
].join(' ');
if (failures.length > 0) say(`failed: ${failures.join('; ')} (log ${logFile})`);
else await rm(work, { recursive: true, force: true });
console.log(summary);
clearTimeout(watchdog);
process.exit(failures.length === 0 ? 0 : 1);
