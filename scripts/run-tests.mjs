// Runs every compiled test file with node:test. Node 20's --test takes no recursive globs, so
// the files are found here. Arguments narrow the run to paths containing any of them.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = ['packages', 'apps', 'test'];
const filters = process.argv.slice(2);

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
// A test that hangs must fail, not stall CI until its 90-minute limit: the slowest test takes about
// a minute on a loaded 2-core machine, so ten minutes means stuck.
const TEST_TIMEOUT_MS = 10 * 60 * 1000;
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, ...files],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);
