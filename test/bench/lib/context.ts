/** What every benchmark section gets from the orchestrator. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWorker, type Worker } from '@grpc-alts/test-support/processes';
import { CLIENT_SA, type Mode, type ModeConfig, SERVER_SA, TLS_CIPHER_SUITE } from './services.js';

/** The repository root (test/dist/bench/lib/ → ../../../../). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The compiled worker scripts of the checkout at `root` (they load that checkout's packages). */
export function workersIn(root: string): { server: string; client: string } {
  return {
    server: join(root, 'test/dist/bench/workers/server.js'),
    client: join(root, 'test/dist/bench/workers/client.js'),
  };
}
export const WORKERS = workersIn(ROOT);
export { CLIENT_SA, SERVER_SA };

export interface BenchContext {
  quick: boolean;
  /** Repetitions of each cell. */
  reps: number;
  tmpDir: string;
  /** Handshaker services of the two emulated VMs. */
  emulators: { client: string; server: string } | undefined;
  /** The TLS comparator's certificate, or why TLS is skipped. */
  tls: { certFile: string; keyFile: string } | { skipped: string };
  /** When set, workers write V8 CPU profiles here (`--cpu-prof`). */
  profileDir: string | undefined;
  log(line: string): void;
  /** Child stderr lines (kept for the failure report, shown with --verbose). */
  childLog(line: string): void;
  /** Throws once the run's time budget is used up. */
  checkBudget(): void;
}

export function modeAvailable(ctx: BenchContext, mode: Mode): string | undefined {
  if (mode === 'tls' && 'skipped' in ctx.tls) return ctx.tls.skipped;
  if (mode === 'alts' && !ctx.emulators) return 'the ALTS emulator could not be started';
  return undefined;
}

function config(ctx: BenchContext, mode: Mode, side: 'client' | 'server'): ModeConfig {
  if (mode === 'tls' && !('skipped' in ctx.tls)) {
    return side === 'server'
      ? { mode, certFile: ctx.tls.certFile, keyFile: ctx.tls.keyFile }
      : { mode, certFile: ctx.tls.certFile };
  }
  if (mode === 'alts' && ctx.emulators) {
    return { mode, handshakerAddress: ctx.emulators[side] };
  }
  return { mode };
}

/** `--cpu-prof` flags for a worker when profiling was asked for. */
export function profileArgv(ctx: BenchContext, name: string): string[] {
  if (!ctx.profileDir) return [];
  return [
    '--cpu-prof',
    `--cpu-prof-dir=${ctx.profileDir}`,
    `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`,
  ];
}

function workerOptions(ctx: BenchContext, mode: Mode, name: string, extraArgv: string[]) {
  const execArgv = [...extraArgv, ...profileArgv(ctx, name)];
  // TLS 1.3 only, AES-128-GCM only (grpc-js passes GRPC_SSL_CIPHER_SUITES as `ciphers`).
  if (mode === 'tls') execArgv.push('--tls-min-v1.3');
  return {
    env: { ...process.env, GRPC_SSL_CIPHER_SUITES: TLS_CIPHER_SUITE },
    execArgv,
    onLog: (line: string) => ctx.childLog(line),
  };
}

export async function startServer(
  ctx: BenchContext,
  mode: Mode,
  extraArgv: string[] = [],
  workers = WORKERS,
): Promise<Worker> {
  const name = `server-${mode}`;
  return startWorker(name, workers.server, {
    args: [JSON.stringify(config(ctx, mode, 'server'))],
    ...workerOptions(ctx, mode, name, extraArgv),
  });
}

export async function startClient(
  ctx: BenchContext,
  mode: Mode,
  port: number,
  extraArgv: string[] = [],
  workers = WORKERS,
): Promise<Worker> {
  const name = `client-${mode}`;
  return startWorker(name, workers.client, {
    args: [JSON.stringify(config(ctx, mode, 'client')), String(port)],
    ...workerOptions(ctx, mode, name, extraArgv),
  });
}

/**
 * Starts a server and a client worker for each available mode; modes that cannot run are recorded
 * in `skipped` with the reason. The pairs started so far are in `pairs` even if a start fails.
 */
export async function startPairs(
  ctx: BenchContext,
  modes: readonly Mode[],
  skipped: Partial<Record<Mode, string>>,
  pairs: Map<Mode, { server: Worker; client: Worker }>,
): Promise<void> {
  for (const mode of modes) {
    const why = modeAvailable(ctx, mode);
    if (why) {
      skipped[mode] = why;
      continue;
    }
    const server = await startServer(ctx, mode);
    const client = await startClient(ctx, mode, Number(server.info.port));
    pairs.set(mode, { server, client });
  }
}
