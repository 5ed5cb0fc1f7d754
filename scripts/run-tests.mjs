// Runs every compiled test file with node:test, two files at a time, each in its own `node --test`
// process. Node 20's --test takes no recursive globs, so the files are found here. Arguments narrow
// the run to paths containing any of them.
//
// A file that fails is run once more, and the run says so: on the loaded 2-core machines we test
// on, a test process has been seen to hang in a futex wait (no test output, killed at the timeout)
// and an emulator to stop answering mid-benchmark, rarely and not reproducibly. A file that fails
// twice fails the run; one that passes the second time is reported as FLAKY with its first
// output, so the evidence stays in the log instead of a red build that says nothing new.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = ['packages', 'apps', 'test'];
const filters = process.argv.slice(2);
/** Test files run at once: the machines have two cores. */
const CONCURRENCY = 2;
// A test that hangs must fail, not stall CI until its 90-minute limit: the slowest test takes about
// two minutes on a loaded 2-core machine, so ten minutes means stuck.
const TEST_TIMEOUT_MS = 10 * 60 * 1000;

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.name.endsWith('.test.js') && full.includes(`${'/dist/'}`)) yield full;
  }
}

const files = roots
  .flatMap((r) => [...walk(join(root, r))])
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no compiled test files found (did `tsc -b` run?)');
  process.exit(1);
}

/** Runs one file; resolves with its exit code, its whole output and its pass/fail/skip counts. */
function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', `--test-timeout=${TEST_TIMEOUT_MS}`, file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      output += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      output += d;
    });
    child.on('close', (code, signal) => {
      const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
      resolve({
        code: code ?? (signal ? 128 : 1),
        output,
        pass: count('pass'),
        fail: count('fail') + count('cancelled'),
        skipped: count('skipped'),
      });
    });
  });
}

const totals = { pass: 0, fail: 0, skipped: 0 };
const failed = [];
const flaky = [];
let next = 0;

async function worker() {
  while (next < files.length) {
    const file = files[next++];
    let result = await runFile(file);
    process.stdout.write(`# run-tests: ${file}\n${result.output}`);
    if (result.code !== 0) {
      process.stdout.write(`# run-tests: ${file} failed (exit ${result.code}); running it once more\n`);
      const again = await runFile(file);
      process.stdout.write(`# run-tests: ${file}, second run\n${again.output}`);
      if (again.code === 0) flaky.push(file);
      result = again;
    }
    if (result.code !== 0) failed.push(file);
    totals.pass += result.pass;
    totals.fail += result.code !== 0 && result.fail === 0 ? 1 : result.fail;
    totals.skipped += result.skipped;
  }
}

await Promise.all(Array.from({ length: CONCURRENCY }, worker));
for (const file of flaky) console.log(`# run-tests: FLAKY ${file}: failed once, passed when run again`);
for (const file of failed) console.log(`# run-tests: FAILED ${file}`);
console.log(`${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(failed.length === 0 ? 0 : 1);
