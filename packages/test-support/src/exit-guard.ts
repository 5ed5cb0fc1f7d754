/**
 * One way out for a program that owns child processes and a temp dir (the demo, the benchmark).
 * Whether it finishes, fails, is signalled or loses its reader (`npm run demo | head`), its
 * children are stopped and its temp dir removed before it exits; otherwise they outlive it,
 * re-parented to PID 1.
 */
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { closeAll, killAllSync } from './processes.js';

/** The signals by which a terminal, a supervisor or a user asks a program to stop. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** Shells report a death by signal n as 128 + n; a program that stops on one says the same. */
const SIGNAL_EXIT_BASE = 128;
/** A reader that closes the pipe (`| head`) has what it wanted: not a failure to report. */
const EXIT_OUTPUT_CLOSED = 0;
/** Output lost for another reason (EIO from a vanished terminal…): the run did not complete. */
const EXIT_OUTPUT_LOST = 1;

export interface ExitGuard {
  /** True once the program is exiting or its output is gone: it should print nothing more. */
  readonly quiet: boolean;
  /** Stops the children and removes the temp dir; the first call does it, later ones share it. */
  cleanUp(): Promise<void>;
  /** {@link cleanUp}, then exits with `code`; when several paths race, the first one's code wins. */
  exit(code: number): Promise<never>;
}

/** Installs the handlers; call it as soon as `tempDir` exists, before starting any child. */
export function guardExit(tempDir: string): ExitGuard {
  let quiet = false;
  let cleaning: Promise<void> | undefined;
  const cleanUp = (): Promise<void> => {
    cleaning ??= closeAll().then(() => rm(tempDir, { recursive: true, force: true }));
    return cleaning;
  };
  const exit = async (code: number): Promise<never> => {
    quiet = true;
    await cleanUp();
    process.exit(code);
  };

  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      const code = SIGNAL_EXIT_BASE + constants.signals[signal];
      // A signal during the graceful stop (a second Ctrl-C) means "now": the exit hook kills.
      if (quiet) process.exit(code);
      process.stderr.write(`\n${signal}: stopping the child processes and removing ${tempDir}\n`);
      void exit(code);
    });
  }
  // Without a listener, EPIPE on a write is an uncaught exception that skips every clean-up.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      void exit(err.code === 'EPIPE' ? EXIT_OUTPUT_CLOSED : EXIT_OUTPUT_LOST);
    });
  }
  // Last resort for an uncaught exception or a forced exit: no time to wait for the children.
  process.on('exit', () => {
    killAllSync();
    rmSync(tempDir, { recursive: true, force: true });
  });

  return {
    get quiet() {
      return quiet;
    },
    cleanUp,
    exit,
  };
}
