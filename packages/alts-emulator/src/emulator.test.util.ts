// Test helpers of the emulator: relayHandshake shuttles out_frames between a client-side and a
// server-side DoHandshake stream (@grpc-alts/test-support's lock-step stream), the way gRPC
// libraries do over a TCP connection; trust roots and bundles; the CLI as a child process.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { credentials, type StatusObject } from '@grpc/grpc-js';
import {
  type HandshakerReq,
  type HandshakerResp,
  type HandshakerResult,
  HandshakerServiceClient,
  type HandshakerStatus,
} from '@grpc-alts/handshaker-proto';
import {
  type ClientStartParts,
  clientStart,
  next,
  type ServerStartParts,
  serverStart,
} from '@grpc-alts/test-support/handshaker';
import { RawHandshakerStream } from '@grpc-alts/test-support/handshaker-stream';
import { type IdentityBundle, loadBundle } from './pki/bundle.js';
import { initRoot, issueBundle, type TrustRoot } from './pki/trust.js';

export function connect(address: string): HandshakerServiceClient {
  return new HandshakerServiceClient(address, credentials.createInsecure());
}

export type Flight = 'clientInit' | 'serverFlight' | 'clientFinished';

export interface RelayOptions {
  clientStart?: ClientStartParts;
  serverStart?: ServerStartParts;
  /** 'empty': C-core style server_start without bytes; 'bytes' (default): go/java style. */
  serverStyle?: 'empty' | 'bytes';
  /** Split every flight into `next` calls of at most this many bytes. */
  chunkSize?: number;
  tamper?: (flight: Flight, bytes: Buffer) => Buffer | Promise<Buffer>;
  /** Appended after ClientFinished in the server's final `next` (the client's first records). */
  trailing?: Buffer;
}

export interface Side {
  result?: HandshakerResult;
  failure?: HandshakerStatus | undefined;
  /** Unconsumed bytes of the final request. */
  leftover: Buffer;
  final: Promise<StatusObject>;
}

export interface Outcome {
  client: Side;
  server: Side;
  /** Some side consumed everything, produced nothing and waits: the handshake cannot go on. */
  stalled: boolean;
}

function chunks(bytes: Buffer, size: number | undefined): Buffer[] {
  if (size === undefined || bytes.length === 0) return [bytes];
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

/**
 * Feeds `bytes` to `stream` as `next` calls; returns the concatenated out_frames and, on
 * completion or failure, the final response. Asserts the non-final bytes_consumed contract.
 */
async function feed(
  stream: RawHandshakerStream,
  bytes: Buffer,
  size: number | undefined,
  first?: (b: Buffer) => HandshakerReq,
) {
  const outs: Buffer[] = [];
  let index = 0;
  for (const chunk of chunks(bytes, size)) {
    const req = index++ === 0 && first ? first(chunk) : next(chunk);
    const resp = await stream.send(req);
    outs.push(resp.outFrames);
    if (resp.status?.code !== 0 || resp.result !== undefined) {
      return { out: Buffer.concat(outs), last: resp, leftover: chunk.subarray(resp.bytesConsumed) };
    }
    if (resp.bytesConsumed !== chunk.length)
      throw new Error(`non-final response consumed ${resp.bytesConsumed}/${chunk.length}`);
  }
  return { out: Buffer.concat(outs), last: undefined, leftover: Buffer.alloc(0) };
}

function settle(side: Side, last: HandshakerResp | undefined, leftover: Buffer): boolean {
  if (last === undefined) return false;
  if (last.status?.code !== 0) side.failure = last.status;
  else if (last.result !== undefined) side.result = last.result;
  side.leftover = leftover;
  return true;
}

/** Runs one handshake between a client-side and a server-side handshaker service, relaying its flights. */
export async function relayHandshake(
  clientService: HandshakerServiceClient,
  serverService: HandshakerServiceClient,
  options: RelayOptions = {},
): Promise<Outcome> {
  const tamper = options.tamper ?? ((_: Flight, b: Buffer): Buffer | Promise<Buffer> => b);
  const c = new RawHandshakerStream(clientService);
  const s = new RawHandshakerStream(serverService);
  const client: Side = { leftover: Buffer.alloc(0), final: c.status };
  const server: Side = { leftover: Buffer.alloc(0), final: s.status };
  const outcome: Outcome = { client, server, stalled: false };
  const finish = () => {
    // Like the libraries: a failed or finished side's peer connection closes, ending the other stream.
    if (client.result === undefined && client.failure === undefined) c.cancel();
    if (server.result === undefined && server.failure === undefined) s.cancel();
    return outcome;
  };

  const started = await c.send(clientStart(options.clientStart));
  if (settle(client, started.status?.code === 0 ? undefined : started, Buffer.alloc(0))) return finish();
  const clientInit = await tamper('clientInit', started.outFrames);

  const serverStartReq = (b: Buffer) => serverStart(b, options.serverStart);
  let toClient: Awaited<ReturnType<typeof feed>>;
  if (options.serverStyle === 'empty') {
    const first = await s.send(serverStartReq(Buffer.alloc(0)));
    if (settle(server, first.status?.code === 0 ? undefined : first, Buffer.alloc(0))) return finish();
    if (first.bytesConsumed !== 0 || first.outFrames.length !== 0)
      throw new Error('empty server_start produced output');
    toClient = await feed(s, clientInit, options.chunkSize);
  } else {
    toClient = await feed(s, clientInit, options.chunkSize, serverStartReq);
  }
  if (settle(server, toClient.last, toClient.leftover)) return finish();
  if (toClient.out.length === 0) {
    outcome.stalled = true;
    return finish();
  }

  const toServer = await feed(c, await tamper('serverFlight', toClient.out), options.chunkSize);
  if (settle(client, toServer.last, toServer.leftover) && client.failure) return finish();
  if (toServer.out.length === 0) {
    outcome.stalled = true;
    return finish();
  }

  const clientFinished = Buffer.concat([
    await tamper('clientFinished', toServer.out),
    options.trailing ?? Buffer.alloc(0),
  ]);
  const done = await feed(s, clientFinished, options.chunkSize);
  if (!settle(server, done.last, done.leftover)) outcome.stalled = true;
  return finish();
}

/** The service accounts the emulator tests speak for. */
export const CLIENT = 'client@project.iam.gserviceaccount.com';
export const SERVER = 'server@project.iam.gserviceaccount.com';

/** A list of clean-ups that run, last first, after every test of the calling file. */
export function cleanupsAfterAll(): Array<() => Promise<void> | void> {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return cleanups;
}

/** A fresh state directory, removed by the returned cleanup. */
export async function tempStateDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'alts-emulator-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A new trust root in `dir` and a bundle (in `dir`) for each service account, issued and loaded in
 * this process: for tests that drive the service without an emulator process.
 */
export async function issueTestBundles(
  dir: string,
  serviceAccounts: string[],
): Promise<{ root: TrustRoot; bundles: IdentityBundle[] }> {
  const { root } = await initRoot(join(dir, 'root'));
  const bundles: IdentityBundle[] = [];
  for (const [i, sa] of serviceAccounts.entries()) {
    const path = join(dir, `bundle-${i}.json`);
    await issueBundle(root, sa, path);
    bundles.push(await loadBundle(path, sa));
  }
  return { root, bundles };
}

const CLI = fileURLToPath(new URL('./cli/cli.js', import.meta.url));

/** Starts the alts-emulator command; stdout and stderr are pipes. */
export function spawnCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/** Waits for a child to exit, with everything it wrote. */
export async function collect(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
