/**
 * Child processes of the benchmark: IPC-driven workers (fork) and programs run to completion.
 * Every child is registered with the demo's `track`, as the emulators started with its `startReady`
 * are, so that the orchestrator's exit guard stops all of them on any exit path.
 */
import { fork, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { stopChild, track } from 'ot-booking-demo/processes';

/** How long a child may take to say it is ready. */
const READY_TIMEOUT_MS = 20_000;

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
  /** Runs a command in the worker; rejects after `timeoutMs` (and then kills the worker). */
  request<T>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Forks `script` (a compiled worker) and resolves once it sends `{type: 'ready', ...info}`.
 * stdout is discarded; stderr lines go to `onLog`.
 */
export function startWorker(
  name: string,
  script: string,
  options: { args?: string[]; env?: NodeJS.ProcessEnv; execArgv?: string[]; onLog?: (line: string) => void },
): Promise<Worker> {
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
      resolve({
        name,
        pid: child.pid ?? -1,
        info,
        stop,
        request<T>(command: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
          const id = nextId++;
          return new Promise<T>((res, rej) => {
            const t = setTimeout(() => {
              pending.delete(id);
              void stop();
              rej(new Error(`${name}: ${command} took longer than ${timeoutMs} ms`));
            }, timeoutMs);
            pending.set(id, {
              resolve: (v) => {
                clearTimeout(t);
                res(v as T);
              },
              reject: (e) => {
                clearTimeout(t);
                rej(e);
              },
            });
            child.send({ id, command, args });
          });
        },
      });
    };
    child.on('message', onReady);
  });
}

/** Runs a program to completion (bounded), collecting stdout. */
export function runToCompletion(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = track(() => spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => void stopChild(child), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: String(err) });
    });
  });
}
