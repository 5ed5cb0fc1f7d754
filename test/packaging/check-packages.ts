// `npm run check:packages`: publint and Are The Types Wrong over the tarballs npm would publish.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packAll, REPO_ROOT } from './pack.js';

/**
 * attw 0.18.5 resolves with TypeScript 5.6, whose node16 mode predates require(esm), so it reports
 * every ESM-only package as "ESM (dynamic import only)" from CommonJS. Our engines (Node ^20.19 /
 * >=22.12) require() ESM, as do TypeScript >= 5.8 under nodenext and 5.9 under node20;
 * test/packaging/install.test.ts proves both. Every other rule stays on.
 */
const ATTW_IGNORED_RULES = ['cjs-resolves-to-esm'];

function run(tool: string, args: string[]): boolean {
  const result = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', tool), args, { stdio: 'inherit' });
  return result.status === 0;
}

const destination = mkdtempSync(join(tmpdir(), 'grpc-alts-check-packages-'));
try {
  const failed: string[] = [];
  for (const pkg of packAll(destination)) {
    console.log(`\n== ${pkg.name}@${pkg.version} (${pkg.files.length} files)`);
    if (!run('publint', ['run', '--strict', pkg.tarball])) failed.push(`publint ${pkg.name}`);
    if (!run('attw', [pkg.tarball, '--ignore-rules', ...ATTW_IGNORED_RULES])) failed.push(`attw ${pkg.name}`);
  }
  if (failed.length > 0) {
    console.error(`\ncheck:packages failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
} finally {
  rmSync(destination, { recursive: true, force: true });
}
