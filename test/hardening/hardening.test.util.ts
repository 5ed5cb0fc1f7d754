// Shared by the hardening tests, the soak and the stress runner (not a test itself): an ALTS
// OtBooking stack over the emulator, the figures file the stress runner reads, and a bounded pool.
// Leak accounting comes from @grpc-alts/test-support/resources; the raw ALTS client is in
// raw-client.test.util.ts.
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { AltsServer } from '@grpc-alts/alts';
import { type RunningEmulator, startEmulator } from '@grpc-alts/alts-emulator';
import {
  type Booking,
  type BookingResponse,
  createBookingService,
  createOtBookingClient,
  createOtBookingServer,
  type OtBookingServiceClient,
} from '@grpc-alts/ot-booking';

export const CLIENT_SA = 'frontend@hospital.iam.gserviceaccount.com';
export const SERVER_SA = 'theatre@hospital.iam.gserviceaccount.com';

/** Bookings PT-0 … PT-(n-1) with DC-1; each condition names its patient, so replies can be matched. */
export function bookings(n: number): Map<string, Booking> {
  const map = new Map<string, Booking>();
  for (let i = 0; i < n; i++) {
    const patientID = `PT-${i}`;
    map.set(`${patientID}\u0000DC-1`, {
      patientID,
      doctorID: 'DC-1',
      bookingDate: '2026-12-01',
      condition: `c${i}`,
    });
  }
  return map;
}

export function getBooking(
  client: OtBookingServiceClient,
  patient: number,
  deadlineMs = 10_000,
): Promise<BookingResponse> {
  return new Promise((resolve, reject) =>
    client.getBookingInfo(
      { patientID: `PT-${patient}`, doctorID: 'DC-1', description: '' },
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (error: ServiceError | null, response?: BookingResponse) =>
        error ? reject(error) : resolve(response as BookingResponse),
    ),
  );
}

export interface Stack {
  stateDir: string;
  emulator: RunningEmulator;
  server: AltsServer;
  port: number;
  target: string;
  client(options?: { channelOptions?: Record<string, number | string> }): OtBookingServiceClient;
  /** Shuts the server down (graceful for `graceMs`, then forced) and starts a new one on the same port. */
  restartServer(graceMs: number): Promise<void>;
  /** Closes every client made here, the server, the emulator, and removes the state directory. */
  stop(): Promise<void>;
}

export async function startStack(
  options: { handshakeTimeoutMs?: number; patients?: number; port?: number; stateDir?: string } = {},
): Promise<Stack> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'alts-hardening-')));
  const emulator = await startEmulator({
    serviceAccount: SERVER_SA,
    clientServiceAccount: CLIENT_SA,
    stateDir,
  });
  const table = bookings(options.patients ?? 1000);
  const makeServer = () =>
    createOtBookingServer(createBookingService(table), {
      clientServiceAccounts: [CLIENT_SA],
      handshakerServiceAddress: emulator.address,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 2_000,
    });
  let server = makeServer();
  const port = await server.listen(`127.0.0.1:${options.port ?? 0}`);
  const clients: OtBookingServiceClient[] = [];
  const target = `127.0.0.1:${port}`;
  return {
    stateDir,
    emulator,
    get server() {
      return server;
    },
    port,
    target,
    client(clientOptions = {}) {
      const c = createOtBookingClient(target, {
        targetServiceAccounts: [SERVER_SA],
        handshakerServiceAddress: emulator.address,
        ...(clientOptions.channelOptions ? { channelOptions: clientOptions.channelOptions } : {}),
      });
      clients.push(c);
      return c;
    },
    async restartServer(graceMs) {
      const old = server;
      const force = setTimeout(() => old.forceShutdown(), graceMs);
      await old.tryShutdown();
      clearTimeout(force);
      server = makeServer();
      await server.listen(`127.0.0.1:${port}`);
    },
    async stop() {
      for (const c of clients.splice(0)) c.close();
      server.forceShutdown();
      await emulator.stop();
      if (options.stateDir === undefined) await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Appends one JSON line to HARDENING_REPORT, if set (read by the stress runner). */
export function reportFigures(figures: Record<string, number | string>): void {
  const file = process.env.HARDENING_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(figures)}\n`);
}

/** Runs `tasks` with at most `limit` in flight. */
export async function pool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  });
  await Promise.all(workers);
  return out;
}
