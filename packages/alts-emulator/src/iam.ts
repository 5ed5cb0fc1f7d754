// IAM emulation (README "IAM"): the set of disabled service accounts lives in one file of the
// state directory. Every emulator using that directory reads it on each handshake, so a
// `disable` from another process takes effect at the next handshake, while connections already
// established go on (their keys are in the peers' hands, as on GCP).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { checkServiceAccount } from './protocol.js';
import { ensureStateDir, readStateFile, replaceAtomically } from './trust.js';

const IAM_FILE = 'iam.json';

interface IamFile {
  disabledServiceAccounts: string[];
}

/**
 * The last parse of each IAM file, keyed by path and valid while the file's identity is unchanged:
 * every update replaces the file by rename (new inode), so a stat per handshake is enough to see
 * it, instead of an open, read and parse (a profile of 200 handshakes spent a third of the
 * emulator's time there).
 */
const cache = new Map<string, { stamp: string; disabled: ReadonlySet<string> }>();
const NO_FILE: ReadonlySet<string> = new Set();

/**
 * The disabled service accounts of `stateDir`. A missing file means none; an unreadable one
 * throws, so that handshakes fail closed rather than let a disabled account through.
 */
export async function readDisabledServiceAccounts(stateDir: string): Promise<ReadonlySet<string>> {
  const path = join(stateDir, IAM_FILE);
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return NO_FILE;
  const stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  const cached = cache.get(path);
  if (cached?.stamp === stamp) return cached.disabled;
  const disabled = await parseIamFile(path);
  cache.set(path, { stamp, disabled });
  return disabled;
}

async function parseIamFile(path: string): Promise<ReadonlySet<string>> {
  const text = await readStateFile(path);
  if (text === undefined) return new Set();
  const file = JSON.parse(text) as Partial<IamFile>;
  const list = file.disabledServiceAccounts;
  if (!Array.isArray(list) || !list.every((sa) => typeof sa === 'string')) {
    throw new Error(`${path}: disabledServiceAccounts must be a list of strings`);
  }
  return new Set(list);
}

// Read-modify-write: two admin commands racing on one state directory may lose one update
// (last writer wins); emulators never see a half-written file.
async function update(stateDir: string, sa: string, disabled: boolean): Promise<void> {
  checkServiceAccount(sa);
  await ensureStateDir(stateDir);
  const current = new Set(await readDisabledServiceAccounts(stateDir));
  if (disabled) current.add(sa);
  else current.delete(sa);
  const file: IamFile = { disabledServiceAccounts: [...current].sort() };
  await replaceAtomically(join(stateDir, IAM_FILE), `${JSON.stringify(file, null, 2)}\n`);
}

/** Disables `sa`: new handshakes that involve it (as local or peer identity) fail. */
export function disableServiceAccount(stateDir: string, sa: string): Promise<void> {
  return update(stateDir, sa, true);
}

/** Re-enables `sa`. */
export function enableServiceAccount(stateDir: string, sa: string): Promise<void> {
  return update(stateDir, sa, false);
}
