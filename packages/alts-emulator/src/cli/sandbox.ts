// The Linux sandbox of `alts-emulator run` (README "run"): a private mount namespace in which
// the command sees a Compute Engine product_name and metadata.google.internal(.) resolving to the
// sandbox's own loopback address, while it keeps the host's network, users and files. grpc-go,
// grpc-java and C-core refuse ALTS unless product_name says Google and dial
// metadata.google.internal.:8080; this is all they need to run unchanged. A PID namespace of its
// own makes sure nothing the command started outlives it (sandbox-init.ts).
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The name every ALTS library dials for its handshaker, and its fully qualified spelling. */
export const METADATA_NAMES = ['metadata.google.internal', 'metadata.google.internal.'] as const;
/** What a Compute Engine VM's firmware reports; grpc-go, grpc-java, C-core and we accept it. */
export const GCE_PRODUCT_NAME = 'Google Compute Engine';
const PRODUCT_NAME_FILE = '/sys/class/dmi/id/product_name';
/** Exit status when the sandbox itself cannot be set up (as env(1), nice(1), timeout(1): 125). */
export const EXIT_SANDBOX_FAILED = 125;

/**
 * `run` and the sandbox's PID 1 talk over this descriptor (a socket pair): `run` sends the names of
 * signals to pass on, one a line; PID 1 answers with one line when the command has ended.
 */
export const CHANNEL_FD = 3;
/** Signals `run` passes on to the command. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'];
const SANDBOX_INIT = fileURLToPath(new URL('./sandbox-init.js', import.meta.url));

/** How the namespace is entered: as root a mount namespace; otherwise inside a user namespace. */
type SandboxMode = 'root' | 'rootless';

export class SandboxError extends Error {}

/**
 * The machine's hosts file with every line naming the metadata server dropped (a real VM has one)
 * and the sandbox's address for both spellings appended. Comments and other entries stay.
 */
export function sandboxHosts(hosts: string, address: string): string {
  const names = new Set<string>(METADATA_NAMES);
  const kept = hosts.split('\n').filter(
    (line) =>
      !line
        .replace(/#.*/, '')
        .trim()
        .split(/\s+/)
        .slice(1)
        .some((n) => names.has(n)),
  );
  while (kept.at(-1) === '') kept.pop();
  return `${[...kept, `${address} ${METADATA_NAMES.join(' ')}`].join('\n')}\n`;
}

/**
 * nsswitch.conf with `files` first on the hosts line, so that every resolver that honours it
 * (glibc's getaddrinfo, which Node, Java and C-core's native resolver use, and Go's pure resolver)
 * answers the metadata name from the sandbox's hosts file and never asks DNS. Other sources keep
 * their order; a file without a hosts line gets `hosts: files dns`.
 */
export function sandboxNsswitch(nsswitch: string): string {
  let found = false;
  const lines = nsswitch.split('\n').map((line) => {
    const match = /^(\s*hosts\s*:)(.*)$/.exec(line);
    if (!match) return line;
    found = true;
    const sources = (match[2] ?? '').trim().split(/\s+/).filter(Boolean);
    const rest = sources.filter((source) => source !== 'files');
    return `${match[1]} ${['files', ...rest].join(' ')}`;
  });
  if (!found) lines.splice(lines.at(-1) === '' ? -1 : lines.length, 0, 'hosts: files dns');
  return lines.join('\n');
}

/** A signal name from the channel, if it is one `run` passes on. */
export function forwardedSignal(line: string): NodeJS.Signals | undefined {
  return FORWARDED_SIGNALS.find((signal) => signal === line);
}

/** The channel line saying how the command ended. */
export function commandEnded(code: number | null, signal: NodeJS.Signals | null): string {
  return signal === null ? `exit ${code ?? EXIT_SANDBOX_FAILED}` : `signal ${signal}`;
}

/** The command's end from a channel line, or undefined when the line is not one. */
export function parseCommandEnded(line: string): [number | null, NodeJS.Signals | null] | undefined {
  const exit = /^exit (\d{1,3})$/.exec(line);
  if (exit) return [Number(exit[1]), null];
  const signal = /^signal (SIG[A-Z0-9]+)$/.exec(line)?.[1];
  if (signal !== undefined && signal in constants.signals) return [null, signal as NodeJS.Signals];
  return undefined;
}

/**
 * Runs in the new namespaces as their PID 1 before it becomes sandbox-init (POSIX sh; $1 = the
 * files' directory, $2/$3 = the uid/gid to become again when rootless, empty as root; then node,
 * sandbox-init and the command). Mount propagation is private (unshare's default), so none of
 * these mounts is seen outside. PID 1 gets a parent-death signal: if alts-emulator is killed
 * outright it cannot stop the command, and a command whose handshaker is gone must not linger.
 */
const SETUP_SCRIPT = `
fail() { printf 'alts-emulator: run: %s\\n' "$1" >&2; exit ${EXIT_SANDBOX_FAILED}; }
dir=$1 uid=$2 gid=$3
shift 3
if [ -e ${PRODUCT_NAME_FILE} ]; then
  mount --bind "$dir/class/dmi/id/product_name" ${PRODUCT_NAME_FILE} ||
    fail "cannot bind-mount over ${PRODUCT_NAME_FILE}"
else
  mount -t overlay alts-emulator-run -o "ro,lowerdir=$dir/class:/sys/class" /sys/class ||
    fail "cannot add ${PRODUCT_NAME_FILE}: overlayfs over /sys/class refused (needs Linux 5.11+ rootless)"
fi
mount --bind "$dir/hosts" /etc/hosts || fail "cannot bind-mount over /etc/hosts"
if [ -e /etc/nsswitch.conf ]; then
  mount --bind "$dir/nsswitch.conf" /etc/nsswitch.conf || fail "cannot bind-mount over /etc/nsswitch.conf"
fi
if [ -n "$uid" ]; then
  exec unshare --user --map-user="$uid" --map-group="$gid" -- setpriv --pdeathsig KILL -- "$@"
fi
exec setpriv --pdeathsig KILL -- "$@"
`;

/**
 * unshare's flags: mount and PID namespaces, inside a user namespace mapping us to root if not
 * root. unshare forks PID 1 and waits for it; --kill-child kills PID 1 (and so the namespace) if
 * unshare itself dies.
 */
function unshareFlags(mode: SandboxMode): string[] {
  const namespaces = ['--mount', '--pid', '--fork', '--kill-child'];
  return mode === 'root' ? namespaces : ['--user', '--map-root-user', ...namespaces];
}

/**
 * Wraps unshare, which stays outside as PID 1's parent: it dies with alts-emulator (parent-death
 * signal) and ignores SIGHUP and SIGQUIT from the terminal, which would otherwise end it and with
 * it the whole sandbox before the command saw them (it already blocks SIGINT and SIGTERM).
 */
const OUTER_SCRIPT = `trap '' HUP QUIT; exec setpriv --pdeathsig KILL -- "$@"`;

/** The argv that runs unshare's `rest` (its `--` and what it runs) in new namespaces. */
function enterNamespaces(mode: SandboxMode, rest: readonly string[]): string[] {
  return ['/bin/sh', '-c', OUTER_SCRIPT, 'alts-emulator-run', 'unshare', ...unshareFlags(mode), ...rest];
}

export function sandboxMode(): SandboxMode {
  return process.geteuid?.() === 0 ? 'root' : 'rootless';
}

/**
 * Fails with one line naming what is missing when this machine cannot give us the namespaces: not
 * Linux, no unshare/setpriv, or the kernel (or a container's seccomp/AppArmor) refusing them.
 */
export function checkSandboxSupport(mode: SandboxMode): void {
  if (process.platform !== 'linux') {
    throw new SandboxError(
      `run needs Linux mount namespaces (this is ${process.platform}); elsewhere point each library at ` +
        `the emulator with its own setting (README "Run any ALTS service locally")`,
    );
  }
  // The same steps the setup script takes, down to giving a rootless command its uid back
  // (unshare --map-user/--map-group need util-linux 2.38).
  const back =
    mode === 'root'
      ? []
      : ['unshare', '--user', `--map-user=${process.getuid?.()}`, `--map-group=${process.getgid?.()}`, '--'];
  const [file, ...args] = enterNamespaces(mode, [...back, 'setpriv', '--pdeathsig', 'KILL', 'true']) as [
    string,
    ...string[],
  ];
  const probe = spawnSync(file, args, { encoding: 'utf8' });
  if (probe.error) {
    throw new SandboxError(`run needs unshare and setpriv (util-linux): ${probe.error.message}`);
  }
  if (probe.status === 0) return;
  const why = (probe.stderr.trim().split('\n')[0] ?? '') || `exit ${probe.status ?? probe.signal}`;
  throw new SandboxError(
    mode === 'root'
      ? `run needs CAP_SYS_ADMIN for private mount and PID namespaces, which is refused here (unshare ` +
          `--mount --pid: ${why}); in a container, grant it (docker run --cap-add SYS_ADMIN)`
      : `run needs unprivileged user namespaces, which this kernel refuses (unshare --user --mount --pid: ` +
          `${why}); allow them (sysctl user.max_user_namespaces > 0, ` +
          'kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0) ' +
          'or run as root',
  );
}

/** Writes the files the setup script mounts into `dir` (a private temporary directory). */
export async function writeSandboxFiles(dir: string, address: string): Promise<void> {
  const readOr = (path: string, fallback: string) => readFile(path, 'utf8').catch(() => fallback);
  await mkdir(join(dir, 'class/dmi/id'), { recursive: true });
  await Promise.all([
    writeFile(join(dir, 'class/dmi/id/product_name'), `${GCE_PRODUCT_NAME}\n`, { mode: 0o644 }),
    writeFile(join(dir, 'hosts'), sandboxHosts(await readOr('/etc/hosts', ''), address), { mode: 0o644 }),
    writeFile(join(dir, 'nsswitch.conf'), sandboxNsswitch(await readOr('/etc/nsswitch.conf', '')), {
      mode: 0o644,
    }),
  ]);
}

/**
 * The argv that runs `command` in the sandbox whose files are in `dir`, under sandbox-init as PID 1
 * (spawn it with the channel on fd {@link CHANNEL_FD}).
 */
export function sandboxArgv(mode: SandboxMode, dir: string, command: readonly string[]): string[] {
  const ids = mode === 'root' ? ['', ''] : [String(process.getuid?.()), String(process.getgid?.())];
  return enterNamespaces(mode, [
    '--',
    '/bin/sh',
    '-c',
    SETUP_SCRIPT,
    'alts-emulator-run',
    dir,
    ...ids,
    process.execPath,
    SANDBOX_INIT,
    ...command,
  ]);
}
