/**
 * The cross-language cells of section 4 (issue 16 item 5): grpc-go ALTS → grpc-go ALTS and
 * C-core ALTS → C-core ALTS on the grpc-js cells' workloads, through the same emulator. The peers
 * are the interop peers (test/interop/peers: go-peer on Debian's grpc-go, peer.py on Debian's
 * grpcio), each end run unmodified through `alts-emulator run` as one of two accounts of one state
 * directory, as the interop matrix runs them. A peer's `bench` mode runs every workload once and
 * prints its figures as JSON; one run is one repetition of the cell.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  emulatorArgv,
  PROGRAMS,
  runToCompletion,
  runUnavailable,
  type Started,
  startCommand,
} from '@grpc-alts/test-support/processes';
import { type BenchContext, CLIENT_SA, ROOT, SERVER_SA } from '../lib/context.js';

export type PeerMode = 'go' | 'core';
export const PEER_MODES: readonly PeerMode[] = ['go', 'core'];
export const PEER_LABELS: Record<PeerMode, string> = { go: 'grpc-go ALTS', core: 'C-core ALTS' };

const INTEROP = join(ROOT, 'test/interop');
/**
 * The peers, as the interop matrix finds them: GO_PEER and PY_PEER name them, else go-peer is
 * where test/interop/build-peers.sh puts it (it honours ALTS_INTEROP_BUILD too).
 */
const GO_PEER =
  process.env.GO_PEER ?? join(process.env.ALTS_INTEROP_BUILD ?? join(INTEROP, '.build'), 'bin/go-peer');
const PY_PEER = process.env.PY_PEER ?? join(INTEROP, 'peers/python/peer.py');
/** Debian's interpreter: the one that sees python3-grpcio (see peer.py). */
const PYTHON = '/usr/bin/python3';
const INSTALL_HINT = 'run test/interop/install-peers.sh && test/interop/build-peers.sh';
/** Bound on a peer's `version` and on the sandbox probe: each is a process start, nothing more. */
const PROBE_TIMEOUT_MS = 30_000;

/** The settings a peer's `bench --config` takes (the names of the grpc section's settings). */
export interface PeerSettings {
  warmupMs: number;
  echoMs: number;
  echoPayloadBytes: number;
  sequentialMs: number;
  sequentialPayloadBytes: number;
  streamMs: number;
  streamMessageBytes: number;
  streamMessagesPerCall: number;
  tunedFlowControlWindow: number;
  newChannelCount: number;
  newChannelMaxMs: number;
  unaryMs: number;
  inflight: number;
}

/** What a peer's bench run prints: figures named as the grpc metrics, plus its failed calls. */
export type PeerFigures = Record<string, number> & { errors: number; firstError?: string };

export interface PeerServers {
  /** The running servers, by mode. */
  servers: Map<PeerMode, Started>;
  /** Each peer's library and version, e.g. "grpc-go 1.33.3". */
  versions: Partial<Record<PeerMode, string>>;
  /** Why a mode is not measured. */
  skipped: Partial<Record<PeerMode, string>>;
  stateDir: string;
}

const peerCommand = (mode: PeerMode): string[] => (mode === 'go' ? [GO_PEER] : [PYTHON, PY_PEER]);

/** The peer's `version` line, or why the peer cannot run here. */
function peerVersion(mode: PeerMode): { version: string } | { skipped: string } {
  const [file, ...args] = peerCommand(mode) as [string, ...string[]];
  const [path, access] = mode === 'go' ? [GO_PEER, constants.X_OK] : [PY_PEER, constants.R_OK];
  try {
    accessSync(path, access);
  } catch {
    return { skipped: `no ${mode === 'go' ? 'go-peer' : 'peer.py'} at ${path} (${INSTALL_HINT})` };
  }
  const r = spawnSync(file, [...args, 'version'], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS });
  if (r.status === 0) return { version: r.stdout.trim() };
  return mode === 'go'
    ? { skipped: `go-peer does not run: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)}` }
    : { skipped: `${PYTHON} cannot import grpc (Debian python3-grpcio; ${INSTALL_HINT})` };
}

/**
 * Starts a bench-mode server of each peer that can run here, through `alts-emulator run` as
 * SERVER_SA; records why each other mode is skipped (a peer that cannot start is one of them).
 */
export async function startPeerServers(ctx: BenchContext, into: PeerServers): Promise<void> {
  mkdirSync(into.stateDir, { recursive: true, mode: 0o700 });
  const runnable: PeerMode[] = [];
  for (const mode of PEER_MODES) {
    const v = peerVersion(mode);
    if ('skipped' in v) into.skipped[mode] = v.skipped;
    else {
      into.versions[mode] = v.version;
      runnable.push(mode);
    }
  }
  const noSandbox =
    runnable.length > 0 ? runUnavailable(PROGRAMS.emulator, into.stateDir, SERVER_SA) : undefined;
  for (const mode of runnable) {
    if (noSandbox) {
      into.skipped[mode] = noSandbox;
      continue;
    }
    const command = emulatorArgv(PROGRAMS.emulator, 'run', into.stateDir, { server: SERVER_SA }, [
      '--',
      ...peerCommand(mode),
      'server',
      '--bench',
      '--listen',
      '127.0.0.1:0',
    ]);
    try {
      into.servers.set(mode, await startCommand(`${mode}-peer-server`, command, ctx.childLog));
    } catch (err) {
      into.skipped[mode] = `its server did not start: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}

/** Rough length of one bench run of a peer, from its settings (for a generous time-out). */
function expectedMs(s: PeerSettings): number {
  const warmups = 6 * s.warmupMs;
  return warmups + s.echoMs + s.sequentialMs + 2 * s.streamMs + 2 * s.unaryMs + s.newChannelMaxMs;
}
/** A peer run may take this many times its expected length, plus process starts, before it is stopped. */
const RUN_TIMEOUT_FACTOR = 4;
const RUN_TIMEOUT_SLACK_MS = 60_000;

/** One repetition of a peer's cell: its client in bench mode, through `alts-emulator run` as CLIENT_SA. */
export async function runPeerCell(
  ctx: BenchContext,
  mode: PeerMode,
  server: Started,
  stateDir: string,
  settings: PeerSettings,
): Promise<PeerFigures> {
  // grpcio 1.51 cannot set target service accounts (see peer.py); grpc-go can, as our clients do.
  const targetSa = mode === 'go' ? ['--target-sa', SERVER_SA] : [];
  const command = emulatorArgv(PROGRAMS.emulator, 'run', stateDir, { server: CLIENT_SA }, [
    '--',
    ...peerCommand(mode),
    'bench',
    '--target',
    server.address,
    ...targetSa,
    '--config',
    JSON.stringify(settings),
  ]);
  const timeoutMs = RUN_TIMEOUT_FACTOR * expectedMs(settings) + RUN_TIMEOUT_SLACK_MS;
  const r = await runToCompletion(command, timeoutMs);
  for (const line of r.stderr.split('\n')) if (line) ctx.childLog(`${mode}-peer-client | ${line}`);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !last.startsWith('{')) {
    const why = r.stderr.trim().split('\n').at(-1) ?? '';
    throw new Error(`${PEER_LABELS[mode]} bench client exited with ${r.code}: ${why}`);
  }
  return JSON.parse(last) as PeerFigures;
}
