// Processes of the interop tests (matrix.ts, run.test.ts): every one started is stopped by its
// pid, every wait is bounded.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Running {
  name: string;
  child: ChildProcess;
  address: string;
  /** stderr lines so far. */
  log: string[];
}
export const running: Running[] = [];
/** Clients still running (killed by pid in `after` should a test time out first). */
export const clients = new Set<ChildProcess>();

export function stop(proc: Running): Promise<void> {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts a long-running peer or emulator and waits (≤ 20 s) for its `READY <address>` line. */
export function start(name: string, command: readonly string[]): Promise<Running> {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc: Running = { name, child, address: '', log: [] };
  running.push(proc);
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => proc.log.push(l));
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      void stop(proc);
      reject(new Error(`${name} ${why}; its log:\n${proc.log.slice(-10).join('\n')}`));
    };
    const timer = setTimeout(() => fail('did not print READY within 20 s'), 20_000);
    child.once('error', (err) => fail(`could not start: ${err.message}`));
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before READY`));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /^READY (\S+)$/.exec(line);
      if (!match?.[1] || proc.address) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      proc.address = match[1];
      resolve(proc);
    });
  });
}

export interface Ran {
  code: number | null;
  stdout: string;
  /** stderr without the peers' own `xx-peer: ` log lines and `alts-emulator run`'s. */
  error: string;
  stderr: string;
  ms: number;
}

/** Runs a client to completion; SIGKILLed after `timeoutMs`. */
export function runClient(command: readonly string[], timeoutMs: number): Promise<Ran> {
  const [file, ...args] = command as [string, ...string[]];
  const started = Date.now();
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  clients.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      stderr += `spawn: ${err.message}\n`;
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      clients.delete(child);
      const error = stderr
        .split('\n')
        .filter((l) => l !== '' && !/^((ts|go|py)-peer|alts-emulator): /.test(l))
        .join('\n');
      resolve({ code, stdout: stdout.trim(), error, stderr, ms: Date.now() - started });
    });
  });
}

/** The accounts of one emulated "VM": server-side, and client-side if different. */
export interface VmAccounts {
  server: string;
  client?: string;
}

/**
 * `alts-emulator serve` (`rest`: its options) or `alts-emulator run` (`rest`: `--` and the
 * command) as the "VM" `vm`, with the trust root in `stateDir`.
 */
export function emulatorArgv(
  emulator: string,
  subcommand: 'serve' | 'run',
  stateDir: string,
  vm: VmAccounts,
  rest: readonly string[],
): string[] {
  const client = vm.client === undefined ? [] : ['--client-service-account', vm.client];
  return [
    process.execPath,
    emulator,
    subcommand,
    '--service-account',
    vm.server,
    ...client,
    '--state-dir',
    stateDir,
    ...rest,
  ];
}

/** Bound on the probe below: node's start-up and an emulator's, on a loaded 2-core machine. */
const RUN_PROBE_TIMEOUT_MS = 60_000;

/** Why `alts-emulator run` cannot make its sandbox here (`run true` as `account`), if it cannot. */
export function runUnavailable(emulator: string, stateDir: string, account: string): string | undefined {
  const [file, ...args] = emulatorArgv(emulator, 'run', stateDir, { server: account }, ['--', 'true']) as [
    string,
    ...string[],
  ];
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: RUN_PROBE_TIMEOUT_MS });
  if (r.status === 0) return undefined;
  return `alts-emulator run cannot make its sandbox here: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)}`;
}
