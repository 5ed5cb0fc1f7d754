// The zero-setup workflow (README "Trust model"): `--state-dir` alone, no init or issue by hand.
// The state directory holds a trust root in root/ and one bundle per service account in bundles/;
// a missing bundle is issued by a short-lived child process (provision-child.ts), so the emulator
// that goes on to serve handshakes loads bundles only and never reads the root's private key.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkServiceAccount } from '../common/identity.js';
import { openPrivateDir } from '../state/state-dir.js';

const ROOT_DIR = 'root';
const BUNDLES_DIR = 'bundles';
const CHILD = fileURLToPath(new URL('./provision-child.js', import.meta.url));
/**
 * How long the issuing child may take. It generates two Ed25519 keys and writes two small files:
 * milliseconds, plus Node's start-up, which a loaded 2-core CI machine stretches to seconds.
 */
const ISSUE_TIMEOUT_MS = 60_000;
/** The child reports one line; more than this is not a report worth keeping in memory. */
const MAX_CHILD_STDERR_CHARS = 16 * 1024;

/** The trust root directory of a state directory (what `--root-dir` defaults to). */
export function rootDirOf(stateDir: string): string {
  return join(stateDir, ROOT_DIR);
}

/** Where the zero-setup workflow keeps the bundle of `serviceAccount`. */
export function bundlePathOf(stateDir: string, serviceAccount: string): string {
  // Hashed so any service account string makes a safe file name.
  const name = createHash('sha256').update(serviceAccount).digest('hex').slice(0, 32);
  return join(stateDir, BUNDLES_DIR, `${name}.json`);
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

function runChild(stateDir: string, serviceAccounts: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, stateDir, ...serviceAccounts], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: ISSUE_TIMEOUT_MS,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_CHILD_STDERR_CHARS) stderr += d.toString().slice(0, MAX_CHILD_STDERR_CHARS);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(stderr.trim() || `the issuing process ended with ${signal ?? `code ${code}`}`));
    });
  });
}

/**
 * The bundle paths of `serviceAccounts` in `stateDir`, issuing the missing ones (and the trust
 * root on first use) in a child process. Concurrent callers agree on one root and one bundle per
 * account.
 */
export async function provisionBundles(stateDir: string, serviceAccounts: string[]): Promise<string[]> {
  for (const sa of serviceAccounts) checkServiceAccount(sa);
  await openPrivateDir(stateDir);
  await openPrivateDir(join(stateDir, BUNDLES_DIR));
  const paths = serviceAccounts.map((sa) => bundlePathOf(stateDir, sa));
  const present = await Promise.all(paths.map(exists));
  const missing = serviceAccounts.filter((_, i) => !present[i]);
  if (missing.length > 0) await runChild(stateDir, missing);
  return paths;
}
