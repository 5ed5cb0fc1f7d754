import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/** The built programs the demo (and the end-to-end tests) run as processes. */
export const PROGRAMS = {
  emulator: join(root, 'packages/alts-emulator/dist/cli.js'),
  server: join(root, 'apps/server/dist/main.js'),
  client: join(root, 'apps/client/dist/main.js'),
  demo: join(root, 'apps/demo/dist/main.js'),
} as const;

/** How long a child may take to print its READY line. */
const READY_TIMEOUT_MS = 15_000;
/** How long a child may take to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

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

export interface Started {
  child: ChildProcess;
  /** The address from the READY line. */
  address: string;
  stop(): Promise<void>;
}

/** Spawns `node <script> ...args` and resolves once it prints `READY <address>` on stdout. */
export function startReady(
  name: string,
  script: string,
  args: string[],
  onLog: (line: string) => void,
): Promise<Started> {
  const child = track(() =>
    spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) =>
    onLog(`${name} | ${l}`),
  );
  const stop = () => stopChild(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} did not become ready within ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /^READY (\S+)$/.exec(line);
      if (!match?.[1]) return;
      clearTimeout(timer);
      resolve({ child, address: match[1], stop });
    });
  });
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

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node <script> ...args` to completion, bounded in time. */
export function run(script: string, args: string[], timeoutMs = 20_000): Promise<Ran> {
  const child = track(() =>
    spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: stdout.trim(), stderr: stderr.trim() });
    }),
  );
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
