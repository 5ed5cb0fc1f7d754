// What the interop tests (matrix.ts, run.test.ts) add to @grpc-alts/test-support/processes: each
// long-running peer's stderr kept for the assertions, and a client's errors without the peers' logs.
import { runToCompletion, type Started, startCommand } from '@grpc-alts/test-support/processes';

export interface Running extends Started {
  /** stderr lines so far, as `<name> | <line>`. */
  log: string[];
}
/** Every peer and emulator started, stopped by the tests' `after` (each by its pid). */
export const running: Running[] = [];

/** Starts a long-running peer or emulator and waits (bounded) for its `READY <address>` line. */
export async function start(name: string, command: readonly string[]): Promise<Running> {
  const log: string[] = [];
  const proc = { ...(await startCommand(name, command, (line) => log.push(line))), log };
  running.push(proc);
  return proc;
}

export const stop = (proc: Running): Promise<void> => proc.stop();

export interface Ran {
  code: number | null;
  stdout: string;
  /** stderr without the peers' own `xx-peer: ` log lines and `alts-emulator run`'s. */
  error: string;
  stderr: string;
  ms: number;
}

/** Runs a client to completion; stopped after `timeoutMs`. */
export async function runClient(command: readonly string[], timeoutMs: number): Promise<Ran> {
  const r = await runToCompletion(command, timeoutMs);
  const error = r.stderr
    .split('\n')
    .filter((l) => l !== '' && !/^((ts|go|py)-peer|alts-emulator): /.test(l))
    .join('\n');
  return { code: r.code, stdout: r.stdout.trim(), error, stderr: r.stderr, ms: r.ms };
}
