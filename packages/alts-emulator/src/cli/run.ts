// `alts-emulator run [options] -- <command...>` (README "run"): starts an emulator for the
// chosen service account on a loopback address of its own, port 8080, and runs the command in a
// sandbox (sandbox.ts) where metadata.google.internal(.) is that address and product_name says
// Compute Engine. The command keeps the terminal: its stdin, stdout, stderr and exit status are
// its own; the emulator logs to stderr with a prefix, or to --log-file, and prints no READY.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import { quote } from '../common/quote.js';
import { type RunningEmulator, startEmulator } from '../emulator.js';
import { peerUidWorks } from '../net/peer-uid.js';
import { IDENTITY_OPTIONS, type IdentityOptions, identityOptions, UsageError } from './options.js';
import {
  CHANNEL_FD,
  checkSandboxSupport,
  EXIT_SANDBOX_FAILED,
  FORWARDED_SIGNALS,
  METADATA_NAMES,
  parseCommandEnded,
  SandboxError,
  sandboxArgv,
  sandboxMode,
  writeSandboxFiles,
} from './sandbox.js';

/** The port every library dials on the metadata server for its handshaker (docs/protocol.md §3.10). */
const HANDSHAKER_PORT = 8080;
/**
 * Each sandbox's handshaker gets its own address 127.0.0.N (Linux routes all of 127.0.0.0/8 to
 * lo, no setup needed), so sandboxes with different accounts coexist. 127.0.0.1 stays free for
 * everything else; 253 sandboxes at once is plenty.
 */
const FIRST_LOOPBACK_HOST = 2;
const LAST_LOOPBACK_HOST = 254;
/** If a re-raised fatal signal does not end us (it was ignored when we started), exit 128 + n. */
const SIGNAL_EXIT_FALLBACK_MS = 1_000;
const PROG = 'alts-emulator';

/** A terminal sends SIGINT/SIGQUIT to its whole foreground process group, the command included, so
 * those are passed on only when stdin is no terminal. */
const TERMINAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];
/** The channel's report is one short line ("signal SIGTERM"); keep no more than this of it. */
const MAX_CHANNEL_REPORT = 64;

interface Logger {
  log(line: string): void;
  close(): Promise<void>;
}

function openLogger(file: string | undefined): Logger {
  if (file === undefined) {
    return {
      log: (line) => process.stderr.write(`${PROG}: ${new Date().toISOString()} ${line}\n`),
      close: async () => undefined,
    };
  }
  const stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  stream.on('error', (error) => process.stderr.write(`${PROG}: run: --log-file: ${error.message}\n`));
  return {
    log: (line) => stream.write(`${new Date().toISOString()} ${line}\n`),
    close: () => new Promise((resolve) => stream.end(resolve)),
  };
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Starts the emulator on the first 127.0.0.N:8080 that is free. A listener on the wildcard
 * address (0.0.0.0:8080 or [::]:8080) blocks them all: Linux refuses a specific address on a port
 * a wildcard socket listens on.
 */
async function startOnFreeLoopback(
  options: Omit<Parameters<typeof startEmulator>[0], 'host' | 'port'>,
): Promise<RunningEmulator> {
  for (let n = FIRST_LOOPBACK_HOST; n <= LAST_LOOPBACK_HOST; n++) {
    const host = `127.0.0.${n}`;
    if (!(await canListen(host, HANDSHAKER_PORT))) continue;
    try {
      return await startEmulator({ ...options, host, port: HANDSHAKER_PORT });
    } catch (error) {
      // Another sandbox took it between the probe and the bind: try the next address.
      if (!String(error).includes('EADDRINUSE')) throw error;
    }
  }
  throw new SandboxError(
    `port ${HANDSHAKER_PORT} is taken on 127.0.0.${FIRST_LOOPBACK_HOST}-${LAST_LOOPBACK_HOST}: most likely ` +
      `something listens on 0.0.0.0:${HANDSHAKER_PORT} or [::]:${HANDSHAKER_PORT} (find it with ` +
      `ss -ltnp 'sport = :${HANDSHAKER_PORT}'); the sandbox's handshaker needs port ${HANDSHAKER_PORT}`,
  );
}

interface RunArguments {
  identity: IdentityOptions;
  logFile: string | undefined;
  command: string[];
}

function parseRunArguments(args: readonly string[]): RunArguments {
  const separator = args.indexOf('--');
  if (separator < 0) throw new UsageError('run needs -- <command> [args...] after its options');
  const command = args.slice(separator + 1);
  if (command.length === 0) throw new UsageError('run needs a command after --');
  const { values } = parseArgs({
    args: args.slice(0, separator),
    options: { ...IDENTITY_OPTIONS, 'log-file': { type: 'string' } },
  });
  return { identity: identityOptions(values, 'run'), logFile: values['log-file'], command };
}

/** Ends this process the way the command ended: its exit code, or death by its signal. */
function exitLike(code: number | null, signal: NodeJS.Signals | null): never {
  if (signal === null) process.exit(code ?? EXIT_SANDBOX_FAILED);
  setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), SIGNAL_EXIT_FALLBACK_MS);
  process.kill(process.pid, signal);
  // Unreachable in practice: the signal's default action ends us, or the fallback timer does.
  return undefined as never;
}

/** What a run holds; {@link cleanUp} releases whatever of it there is. */
interface RunState {
  logger: Logger;
  dir?: string;
  emulator?: RunningEmulator;
  /** unshare, which waits for the sandbox's PID 1; its fd CHANNEL_FD is the channel to PID 1. */
  sandbox?: ChildProcess;
  /** A signal that came during set-up: the run ends with it before the command starts. */
  interrupted?: NodeJS.Signals;
  stopForwarding?: () => void;
}

/**
 * Passes FORWARDED_SIGNALS to the command through the sandbox's PID 1 (sandbox-init.ts); a signal
 * during set-up is kept in `interrupted`. Returns the function that stops it.
 */
function forwardSignals(state: RunState): () => void {
  // isatty, not process.stdin: that would open a stream on the fd the command reads.
  const interactive = isatty(0);
  const forward = (signal: NodeJS.Signals) => {
    if (state.sandbox === undefined) state.interrupted ??= signal;
    else if (interactive && TERMINAL_SIGNALS.includes(signal)) return;
    else (state.sandbox.stdio[CHANNEL_FD] as Socket | null)?.write(`${signal}\n`);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  return () => {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  };
}

/**
 * Checks that the namespaces can be had, starts the emulator on a free 127.0.0.N and writes the
 * sandbox's files; returns the argv that runs the command in the sandbox.
 */
async function prepareSandbox(state: RunState, options: RunArguments): Promise<string[]> {
  const mode = sandboxMode();
  checkSandboxSupport(mode);
  if (!(await peerUidWorks())) {
    throw new SandboxError(
      'cannot tell which user owns a loopback connection here (/proc/net/tcp); run serves only your uid',
    );
  }
  state.emulator = await startOnFreeLoopback({
    ...options.identity,
    allowedUid: process.getuid?.(),
    logger: (line) => state.logger.log(line),
  });
  const host = state.emulator.address.slice(0, state.emulator.address.lastIndexOf(':'));
  state.dir = await mkdtemp(join(tmpdir(), 'alts-emulator-run-'));
  await writeSandboxFiles(state.dir, host);
  state.logger.log(
    `run: ${METADATA_NAMES.join(' and ')} resolve to ${host} for ${quote(options.command[0] ?? '')} ` +
      `(${mode} sandbox)`,
  );
  return sandboxArgv(mode, state.dir, options.command);
}

function spawnSandbox(argv: readonly string[]): ChildProcess {
  const [file, ...args] = argv as [string, ...string[]];
  // C-core's default resolver (c-ares) answers A from the hosts file but sends the AAAA query
  // for the metadata name to the DNS server; glibc's (GRPC_DNS_RESOLVER=native) asks no one.
  const env = { ...process.env, GRPC_DNS_RESOLVER: process.env.GRPC_DNS_RESOLVER ?? 'native' };
  return spawn(file, args, { stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env });
}

/**
 * How the command ended, once the sandbox is gone: unshare exits only after its PID 1, and the
 * kernel reaps PID 1 only after every other process of the namespace. PID 1 reports the command's
 * end on the channel; without that report (the sandbox failed before the command started, or PID 1
 * was killed) unshare's own end stands.
 */
function sandboxEnd(sandbox: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  let reported: [number | null, NodeJS.Signals | null] | undefined;
  const channel = sandbox.stdio[CHANNEL_FD] as Socket;
  channel.on('error', () => undefined);
  let received = '';
  channel.on('data', (chunk: Buffer) => {
    received = (received + chunk.toString('latin1')).slice(-MAX_CHANNEL_REPORT);
    reported = parseCommandEnded(received.trimEnd()) ?? reported;
  });
  return new Promise((resolve) => {
    // 'close', not 'exit': the channel's last bytes are read by then.
    sandbox.once('close', (code, signal) => resolve(reported ?? [code, signal]));
    sandbox.once('error', (error) => {
      process.stderr.write(`${PROG}: run: cannot start the sandbox: ${error.message}\n`);
      resolve([EXIT_SANDBOX_FAILED, null]);
    });
  });
}

async function cleanUp(state: RunState): Promise<void> {
  // First: exitLike's own signal must reach us, not `forward`.
  state.stopForwarding?.();
  await state.emulator?.stop();
  if (state.dir) await rm(state.dir, { recursive: true, force: true });
  await state.logger.close();
}

/**
 * The `run` sub-command. Usage errors are thrown as {@link UsageError}s, which the CLI reports;
 * everything else ends the process: the command's status, or 125 and one line when the sandbox or
 * its emulator cannot be set up.
 */
export async function run(args: readonly string[]): Promise<never> {
  const options = parseRunArguments(args);
  const state: RunState = { logger: openLogger(options.logFile) };
  state.stopForwarding = forwardSignals(state);
  try {
    const argv = await prepareSandbox(state, options);
    if (state.interrupted === undefined) state.sandbox = spawnSandbox(argv);
  } catch (error) {
    await cleanUp(state);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${PROG}: run: ${message}\n`);
    process.exit(EXIT_SANDBOX_FAILED);
  }
  if (state.sandbox === undefined) {
    await cleanUp(state);
    return exitLike(null, state.interrupted ?? 'SIGTERM');
  }
  const [code, signal] = await sandboxEnd(state.sandbox);
  await cleanUp(state);
  return exitLike(code, signal);
}
