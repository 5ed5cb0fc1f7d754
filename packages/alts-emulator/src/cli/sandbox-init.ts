// PID 1 of an `alts-emulator run` sandbox (sandbox.ts): runs the command as its child, passes on
// the signals `run` sends over the channel (fd 3), and reports how the command ended there. When it
// exits, the kernel kills every process left in the sandbox's PID namespace (the command's
// background children, daemons), so none of them outlives the emulator that answers for its address.
//
// It is PID 1 rather than the command itself: the kernel drops every signal without a handler that
// is sent to a namespace's PID 1, so a command such as `sleep` would ignore SIGTERM; and PID 1
// cannot die of a signal, so the command's own end is reported on the channel, not mirrored.
// Signals sent to the whole process group (a terminal's Ctrl-C) reach the command directly and are
// dropped here for the same reason.
import { spawn } from 'node:child_process';
import { openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { CHANNEL_FD, commandEnded, forwardedSignal } from './sandbox.js';

/** Exit codes a shell gives when the command cannot be found / executed. */
const EXIT_NOT_FOUND = 127;
const EXIT_NOT_EXECUTABLE = 126;
/** The channel carries signal names only; a longer line is not from `run`. */
const MAX_CHANNEL_LINE = 64;

function report(line: string, exitCode: number): never {
  try {
    writeSync(CHANNEL_FD, `${line}\n`);
  } catch {
    // `run` is gone; it has lost its command's status either way.
  }
  process.exit(exitCode);
}

function main(): void {
  const [file, ...args] = process.argv.slice(2);
  if (file === undefined) report(commandEnded(EXIT_NOT_FOUND, null), EXIT_NOT_FOUND);
  // fd 3 of the command is /dev/null: it must not inherit the channel and talk to `run`.
  const devNull = openSync('/dev/null', 'r+');
  const command = spawn(file, args, { stdio: ['inherit', 'inherit', 'inherit', devNull] });
  command.once('error', (error: NodeJS.ErrnoException) => {
    const code = error.code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
    process.stderr.write(`alts-emulator: run: cannot run ${JSON.stringify(file)}: ${error.message}\n`);
    report(commandEnded(code, null), code);
  });
  // The exit code is unshare's fallback (no report read): a shell's 128 + n for a signal.
  command.once('exit', (code, signal) =>
    report(commandEnded(code, signal), code ?? 128 + (signal ? constants.signals[signal] : 0)),
  );
  const channel = new Socket({ fd: CHANNEL_FD, readable: true, writable: false });
  channel.on('error', () => undefined);
  let pending = '';
  channel.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    const lines = pending.split('\n');
    pending = (lines.pop() ?? '').slice(0, MAX_CHANNEL_LINE);
    for (const line of lines) {
      const signal = forwardedSignal(line);
      if (signal && command.exitCode === null && command.signalCode === null) command.kill(signal);
    }
  });
}

main();
