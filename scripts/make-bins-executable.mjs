// tsc writes its output without the execute bit, and on a fresh clone npm links workspace bins
// before anything is built: mark every workspace bin executable after each build so
// `npx ot-booking-server` (and friends) run.
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const workspace of workspaces) {
  const manifest = JSON.parse(readFileSync(join(root, workspace, 'package.json'), 'utf8'));
  for (const bin of Object.values(manifest.bin ?? {})) {
    const file = join(root, workspace, bin);
    if (existsSync(file)) chmodSync(file, 0o755);
    else if (!existsSync(dirname(file))) console.warn(`make-bins-executable: ${file} not built`);
  }
}
