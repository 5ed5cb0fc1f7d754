// The real `ot-booking-server` process over an emulator, as the attack tests run it: every limit
// at its default, its stderr log kept line by line, stopped with SIGTERM like an operator would.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Metadata } from '@grpc/grpc-js';
import { type RunningEmulator, startEmulator } from '@grpc-alts/alts-emulator';
import { createOtBookingClient } from '@grpc-alts/ot-booking';
import { CLIENT_SA, SERVER_SA } from './hardening.test.util.js';

const SERVER_MAIN = fileURLToPath(new URL('../../../apps/server/dist/main.js', import.meta.url));
/** The server's 5 s shutdown grace, plus slack for a loaded machine. */
const SHUTDOWN_LIMIT_MS = 20_000;

export interface ServerUnderAttack {
  emulator: RunningEmulator;
  server: ChildProcess;
  port: number;
  /** The server's stderr, a line each. */
  log: string[];
  exited(): boolean;
  rssMiB(): number;
  /** SIGTERM, then asserts the server exited within its grace; stops the emulator. */
  stop(): Promise<void>;
}

/** One good call over a fresh channel (so a new handshake), from 127.0.0.1, as a real client makes it. */
export async function goodCall(target: ServerUnderAttack, deadlineMs: number): Promise<void> {
  const client = createOtBookingClient(`127.0.0.1:${target.port}`, {
    targetServiceAccounts: [SERVER_SA],
    handshakerServiceAddress: target.emulator.address,
  });
  try {
    await new Promise((resolve, reject) =>
      client.getBookingInfo(
        { patientID: 'PT-1204', doctorID: 'DC-3904', description: '' },
        new Metadata(),
        { deadline: Date.now() + deadlineMs },
        (error) => (error ? reject(error) : resolve(undefined)),
      ),
    );
  } finally {
    client.close();
  }
}

export async function startServerUnderAttack(prefix: string): Promise<ServerUnderAttack> {
  const stateDir = await mkdtemp(join(tmpdir(), prefix));
  const emulator = await startEmulator({
    serviceAccount: SERVER_SA,
    clientServiceAccount: CLIENT_SA,
    stateDir,
  });
  const server = spawn(
    process.execPath,
    [SERVER_MAIN, '--host', '127.0.0.1', '--port', '0', '--handshaker', emulator.address, CLIENT_SA],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let exited = false;
  server.once('exit', () => {
    exited = true;
  });
  const log: string[] = [];
  createInterface({ input: server.stderr as NodeJS.ReadableStream }).on('line', (line) => log.push(line));
  const [ready] = (await once(
    createInterface({ input: server.stdout as NodeJS.ReadableStream }),
    'line',
  )) as [string];
  const port = Number(/:(\d+)$/.exec(ready)?.[1]);
  assert.ok(port > 0, `server ready: ${ready}`);
  return {
    emulator,
    server,
    port,
    log,
    exited: () => exited,
    rssMiB: () => {
      const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    },
    stop: async () => {
      try {
        if (!exited) {
          server.kill('SIGTERM');
          const stopped = await Promise.race([
            once(server, 'exit').then(() => true),
            sleep(SHUTDOWN_LIMIT_MS),
          ]);
          if (stopped !== true) server.kill('SIGKILL');
          assert.equal(stopped, true, `the server exits within ${SHUTDOWN_LIMIT_MS} ms of SIGTERM`);
        }
      } finally {
        await emulator.stop();
        await rm(stateDir, { recursive: true, force: true });
      }
    },
  };
}
