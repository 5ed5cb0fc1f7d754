// Private files and directories: the state directory, a trust root directory, identity bundles
// (README "Trust model"). Whoever can write to them, or owns a file in them, decides which
// identities handshakes accept (docs/hardening.md 34). So every directory and file is checked to be
// the user's own and closed to group and others before it is trusted, and what we create is
// private from the start. Several emulators may share a directory and start at the same moment,
// so files are created exclusively (temp file, then link(2), which fails if the name exists) and
// a loser of that race reads the winner's file.
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

const PRIVATE_DIR_MODE = 0o700;
/** Every file we write is readable by its owner only: most hold private keys. */
const PRIVATE_FILE_MODE = 0o600;
/** Permission bits that let group or others replace what we read. */
const GROUP_OTHER_WRITE = 0o022;
/** Any permission for group or others: what a private key must not have (ssh's rule too). */
const GROUP_OTHER_ANY = 0o077;
/** The sticky bit: set on directories every user shares, such as /tmp. */
const STICKY = 0o1000;
const OTHERS_WRITE = 0o002;

/** What a state file holds, which decides who else may read it. */
export type StateFileKind = 'private key' | 'state file';

/** The mode bits each kind of entry must not have, and the mode that fixes it. */
const RULES = {
  'state directory': { forbidden: GROUP_OTHER_WRITE, problem: 'writable by', fix: PRIVATE_DIR_MODE },
  'state file': { forbidden: GROUP_OTHER_WRITE, problem: 'writable by', fix: PRIVATE_FILE_MODE },
  'private key': { forbidden: GROUP_OTHER_ANY, problem: 'readable or writable by', fix: PRIVATE_FILE_MODE },
} as const;

/**
 * `$XDG_STATE_HOME/alts-emulator`, else `~/.local/state/alts-emulator`: a directory only the user
 * can write to, unlike a shared one such as /tmp.
 */
export function defaultStateDir(): string {
  // The XDG Base Directory spec has an empty or relative value ignored.
  const xdg = process.env.XDG_STATE_HOME;
  return join(
    xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'state'),
    'alts-emulator',
  );
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/**
 * A directory meant for everyone (/tmp, /var/tmp, /dev/shm: sticky bit) or open to everyone's
 * writes: changing its mode would break it for the others who use it.
 */
function isShared(stats: Stats): boolean {
  return (stats.mode & (STICKY | OTHERS_WRITE)) !== 0;
}

/** Throws, naming the fix, unless `path` is ours and no one else may change it (or read a key). */
function checkPrivate(path: string, stats: Stats, what: keyof typeof RULES): void {
  const uid = process.getuid?.();
  // Windows has no POSIX owner or mode bits to check (its ACLs are not inspected).
  if (uid === undefined) return;
  if (stats.uid !== uid) {
    throw new Error(
      `refusing ${what} ${path}: it is owned by uid ${stats.uid}, not by you (uid ${uid}), so its ` +
        `owner could choose the trust root or an identity; use files and directories you own ` +
        `(default state directory ${defaultStateDir()})`,
    );
  }
  const rule = RULES[what];
  if ((stats.mode & rule.forbidden) !== 0 && stats.isDirectory() && isShared(stats)) {
    // chmod 700 on /tmp (yours when you are root) would lock every other user out of it.
    throw new Error(
      `refusing ${what} ${path}: it is a shared directory (mode ${octal(stats.mode)}), writable by ` +
        `others; do not change its mode, use a private directory instead: the default state ` +
        `directory ${defaultStateDir()}, or one you create with mkdir -m 700 <dir>`,
    );
  }
  if ((stats.mode & rule.forbidden) !== 0) {
    throw new Error(
      `refusing ${what} ${path}: it is ${rule.problem} group or others (mode ${octal(stats.mode)}); ` +
        `run: chmod ${rule.fix.toString(8)} ${path}`,
    );
  }
}

/**
 * Creates `dir` (and missing parents) private to the user, or checks an existing one: it must be
 * a directory of ours that group and others cannot write to.
 */
export async function openPrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const stats = await stat(dir);
  if (!stats.isDirectory()) throw new Error(`refusing state directory ${dir}: it is not a directory`);
  checkPrivate(dir, stats, 'state directory');
}

/**
 * Reads a state file of at most `maxBytes`; undefined if it does not exist. The checks run on the
 * opened file, so a name swapped after them cannot slip another file in.
 */
export async function readStateFile(
  path: string,
  kind: StateFileKind,
  maxBytes: number,
): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(`refusing ${kind} ${path}: it is not a regular file`);
    checkPrivate(path, stats, kind);
    if (stats.size > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function tempName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Creates `path` with `data` unless it exists; false if another writer got there first. */
export async function createExclusive(path: string, data: string): Promise<boolean> {
  const temp = tempName(path);
  await writeFile(temp, data, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await unlink(temp);
  }
}

/** Replaces `path` atomically: readers see the old or the new content, never a mix. */
export async function replaceAtomically(path: string, data: string): Promise<void> {
  const temp = tempName(path);
  await writeFile(temp, data, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}
