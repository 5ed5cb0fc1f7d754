// IAM emulation (README "IAM"): the set of disabled service accounts lives in one file of the
// state directory. Every emulator using that directory reads it on each handshake, so a
// `disable` from another process takes effect at the next handshake, while connections already
// established go on (their keys are in the peers' hands, as on GCP).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalServiceAccount, checkServiceAccount, sameServiceAccount } from '../common/identity.js';
import { quote } from '../common/quote.js';
import { openPrivateDir, readStateFile, replaceAtomically } from './state-dir.js';

const IAM_FILE = 'iam.json';
/**
 * Largest IAM file read or written: ~20 000 typical accounts, parsed in milliseconds; `disable`
 * refuses to write more, so what the CLI writes it can always read back (docs/hardening.md 38).
 */
export const MAX_IAM_FILE_BYTES = 1024 * 1024;

interface IamFile {
  disabledServiceAccounts: string[];
}

/** The disabled service accounts of a state directory. */
export interface DisabledServiceAccounts {
  /** The entries as the file lists them. */
  readonly listed: readonly string[];
  /** Whether `sa` is disabled: some entry names the same account (identity.ts's rule). */
  has(sa: string): boolean;
}

function disabledSet(listed: readonly string[]): DisabledServiceAccounts {
  // Entries outside visible ASCII match no identity, so they are left out of the lookup.
  const keys = new Set(listed.map(canonicalServiceAccount).filter((key) => key !== undefined));
  return {
    listed,
    has(sa) {
      const key = canonicalServiceAccount(sa);
      return key !== undefined && keys.has(key);
    },
  };
}

/**
 * The last parse of each IAM file, keyed by path and valid while the file's identity is unchanged:
 * every update replaces the file by rename (new inode) and chmod/chown change its ctime, so a stat
 * per handshake is enough to see it, instead of an open, read and parse (a profile of 200
 * handshakes spent a third of the emulator's time there).
 */
const cache = new Map<string, { stamp: string; disabled: DisabledServiceAccounts }>();
const NO_FILE = disabledSet([]);

/**
 * The disabled service accounts of `stateDir`. A missing file means none; an unreadable one
 * throws, so that handshakes fail closed rather than let a disabled account through.
 */
export async function readDisabledServiceAccounts(stateDir: string): Promise<DisabledServiceAccounts> {
  const path = join(stateDir, IAM_FILE);
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) return NO_FILE;
  const stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  const cached = cache.get(path);
  if (cached?.stamp === stamp) return cached.disabled;
  const disabled = await parseIamFile(path);
  cache.set(path, { stamp, disabled });
  return disabled;
}

async function parseIamFile(path: string): Promise<DisabledServiceAccounts> {
  const text = await readStateFile(path, 'state file', MAX_IAM_FILE_BYTES);
  if (text === undefined) return NO_FILE;
  const file = JSON.parse(text) as Partial<IamFile>;
  const list = file.disabledServiceAccounts;
  if (!Array.isArray(list) || !list.every((sa) => typeof sa === 'string')) {
    throw new Error(`${path}: disabledServiceAccounts must be a list of strings`);
  }
  return disabledSet(list);
}

// Read-modify-write: two admin commands racing on one state directory may lose one update
// (last writer wins); emulators never see a half-written file.
async function update(stateDir: string, sa: string, disabled: boolean): Promise<boolean> {
  checkServiceAccount(sa);
  await openPrivateDir(stateDir);
  const before = await readDisabledServiceAccounts(stateDir);
  // Other spellings of the account go too: enabling X@p must not leave x@p disabled.
  const others = before.listed.filter((e) => !sameServiceAccount(e, sa));
  const file: IamFile = { disabledServiceAccounts: (disabled ? [...others, sa] : others).sort() };
  const text = `${JSON.stringify(file, null, 2)}\n`;
  const path = join(stateDir, IAM_FILE);
  const bytes = Buffer.byteLength(text, 'utf8');
  // Only a disable can grow the file; a bigger one than this would not have been read.
  if (bytes > MAX_IAM_FILE_BYTES) {
    throw new Error(
      `cannot disable ${quote(sa)}: ${path} would grow to ${bytes} bytes, past its limit of ` +
        `${MAX_IAM_FILE_BYTES} (1 MiB, ${others.length} accounts); ` +
        'enable accounts that no longer exist first',
    );
  }
  await replaceAtomically(path, text);
  return before.has(sa) !== disabled;
}

/**
 * Disables `sa`: new handshakes that involve it (as local or peer identity) fail. Resolves false
 * when it was disabled already.
 */
export function disableServiceAccount(stateDir: string, sa: string): Promise<boolean> {
  return update(stateDir, sa, true);
}

/** Re-enables `sa`. Resolves false when it was not disabled. */
export function enableServiceAccount(stateDir: string, sa: string): Promise<boolean> {
  return update(stateDir, sa, false);
}
