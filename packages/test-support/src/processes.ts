// The child processes of the demo, the end-to-end, netns and interop tests and the benchmark.
// Every child is registered, so that stopAll and killAllSync reach it on any exit path; every wait
// is bounded; a child is stopped by its own pid, never by name.
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/** The built programs run as processes. */
export const PROGRAMS = {
  emulator: join(root, 'packages/alts-emulator/dist/cli/cli.js'),
  server: join(root, 'apps/server/dist/main.js'),
  client: join(root, 'apps/client/dist/main.js'),
  demo: join(root, 'apps/demo/dist/main.js'),
} as const;

/** How long a child may take to say it is ready: a foreign peer under `alts-emulator run`, loaded machine. */
const READY_TIMEOUT_MS = 20_000;
/** How long a child may take to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5_000;
/** Lines of a child's stderr quoted when it fails to become ready. */
const TAIL_LINES = 10;
/** stderr kept of a program run to completion: every diagnostic, not a runaway's gigabytes. */
const MAX_CAPTURED_STDERR_CHARS = 1024 * 1024;
/** Default bound on a program run to completion (the CLIs take about a second). */
const RUN_TIMEOUT_MS = 20_000;
/** Default bound on one request to a worker. */
const REQUEST_TIMEOUT_MS = 60_000;
/** Bound on the probe of `alts-emulator run`: node's start-up and an emulator's, loaded 2-core machine. */
const RUN_PROBE_TIMEOUT_MS = 60_000;

const children = new Set<ChildProcess>();
/** Set once the program is on its way out (see {@link closeAll}). */
let closed = false;

/**
 * Spawns a child through `spawnChild` and registers it, so that {@link stopAll} and
 * {@link killAllSync} reach it. Refuses once {@link closeAll} has run: code still awaiting a
 * stopped child would otherwise start the next one after the clean-up, and leave it behind.
 */
export function track<T extends ChildProcess>(spawnChild: () => T): T {
  if (closed) throw new Error('the program is exiting: no new process is started');
  const child = spawnChild();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after {@link STOP_TIMEOUT_MS}; resolves once the child has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Stops every child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stopChild));
}

/** Stops every child and refuses to start any more: for a program on its way out. */
export function closeAll(): Promise<void> {
  closed = true;
  return stopAll();
}

/** Last resort on process exit: kills whatever is left, synchronously. */
export function killAllSync(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export interface Started {
  name: string;
  child: ChildProcess;
  /** The address from the READY line. */
  address: string;
  stop(): Promise<void>;
}

/**
 * Spawns `command` (file and arguments) and resolves once it prints `READY <address>` on stdout;
 * each stderr line goes to `onLog` as `<name> | <line>`. Rejects, quoting the last lines of
 * stderr, if it cannot start, exits or stays silent for {@link READY_TIMEOUT_MS} (then it is stopped).
 */
export function startCommand(
  name: string,
  command: readonly string[],
  onLog: (line: string) => void,
): Promise<Started> {
  const [file, ...args] = command as [string, ...string[]];
  const child = track(() => spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const tail: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    onLog(`${name} | ${line}`);
  });
  const stop = () => stopChild(child);
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      void stop();
      reject(new Error(`${name} ${why}; its log:\n${tail.join('\n')}`));
    };
    const timer = setTimeout(
      () => fail(`did not print READY within ${READY_TIMEOUT_MS} ms`),
      READY_TIMEOUT_MS,
    );
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(`exited (${code ?? signal}) before READY`);
    child.on('error', (err) => fail(`could not start: ${err.message}`));
    child.once('exit', onExit);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /^READY (\S+)$/.exec(line);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve({ name, child, address: match[1], stop });
    });
  });
}

/** {@link startCommand} for `node <script> ...args`. */
export function startReady(
  name: string,
  script: string,
  args: readonly string[],
  onLog: (line: string) => void,
): Promise<Started> {
  return startCommand(name, [process.execPath, script, ...args], onLog);
}

/** Starts an alts-emulator on a free loopback port as the "VM" of `serviceAccount`. */
export function startEmulator(
  name: string,
  serviceAccount: string,
  stateDir: string,
  onLog: (line: string) => void,
): Promise<Started> {
  return startReady(
    name,
    PROGRAMS.emulator,
    ['serve', '--listen', '127.0.0.1:0', '--service-account', serviceAccount, '--state-dir', stateDir],
    onLog,
  );
}

export interface Completed {
  /** The exit code; null when a signal ended it, negative when it could not start (-errno). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** At most {@link MAX_CAPTURED_STDERR_CHARS}; a failure to spawn is its last line. */
  stderr: string;
  ms: number;
}

/** Runs `command` (file and arguments) to completion; stopped after `timeoutMs`. */
export function runToCompletion(command: readonly string[], timeoutMs: number): Promise<Completed> {
  const [file, ...args] = command as [string, ...string[]];
  const started = Date.now();
  const child = track(() => spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < MAX_CAPTURED_STDERR_CHARS) stderr += d;
  });
  const timer = setTimeout(() => void stopChild(child), timeoutMs);
  return new Promise((resolve) => {
    // A child that cannot start emits 'error', then 'close'.
    child.on('error', (err) => {
      stderr += `spawn: ${err.message}\n`;
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export interface Ran {
  /** The exit code; 128 after a signal (as a shell says), 1 when it could not start. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node <script> ...args` to completion, bounded in time; its output trimmed. */
export async function run(script: string, args: readonly string[], timeoutMs = RUN_TIMEOUT_MS): Promise<Ran> {
  const r = await runToCompletion([process.execPath, script, ...args], timeoutMs);
  const code = r.code !== null && r.code >= 0 ? r.code : r.signal ? 128 : 1;
  return { code, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** A request sent to a worker and the reply it sends back. */
interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface Worker {
  readonly name: string;
  readonly pid: number;
  /** What the worker reported when ready (e.g. its port). */
  readonly info: Record<string, unknown>;
  /** Runs a command in the worker; rejects after `timeoutMs` (and then stops the worker). */
  request<T>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export interface WorkerOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  execArgv?: string[];
  onLog?: (line: string) => void;
}

/**
 * Forks `script` (a compiled worker speaking JSON over IPC) and resolves once it sends
 * `{type: 'ready', ...info}`. stdout is discarded; stderr lines go to `onLog` as `<name> | <line>`.
 */
export function startWorker(name: string, script: string, options: WorkerOptions): Promise<Worker> {
  const child = track(() =>
    fork(script, options.args ?? [], {
      env: options.env ?? process.env,
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    }),
  );
  const onLog = options.onLog ?? (() => undefined);
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) =>
    onLog(`${name} | ${l}`),
  );

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (message: Reply & { type?: string }) => {
    if (message.type !== undefined) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`${name}: ${message.error ?? 'failed'}`));
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) {
      waiter.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
    }
    pending.clear();
  });

  const stop = () => stopChild(child);
  const request = <T>(
    command: string,
    args: Record<string, unknown> = {},
    timeoutMs = REQUEST_TIMEOUT_MS,
  ) => {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        void stop();
        reject(new Error(`${name}: ${command} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ id, command, args });
    });
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready`));
    };
    child.once('exit', onExit);
    const onReady = (message: { type?: string }) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('message', onReady);
      const { type: _type, ...info } = message as Record<string, unknown>;
      resolve({ name, pid: child.pid ?? -1, info, stop, request });
    };
    child.on('message', onReady);
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

/** Why `alts-emulator run` cannot make its sandbox here (`run true` as `account`), if it cannot. */
export function runUnavailable(emulator: string, stateDir: string, account: string): string | undefined {
  const [file, ...args] = emulatorArgv(emulator, 'run', stateDir, { server: account }, ['--', 'true']) as [
    string,
    ...string[],
  ];
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: RUN_PROBE_TIMEOUT_MS });
  if (r.status === 0) return undefined;
  const reason = (r.stderr || String(r.error)).trim().split('\n').at(-1);
  return `alts-emulator run cannot make its sandbox here: ${reason}`;
}
