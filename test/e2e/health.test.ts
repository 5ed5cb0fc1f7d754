// Health checking on the built ot-booking-server, as a load balancer and an ALTS peer see it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import {
  type ChannelCredentials,
  type Client,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { createAltsChannelCredentials } from '@grpc-alts/alts';
import { OtBookingServiceClient } from '@grpc-alts/ot-booking';
import {
  PROGRAMS,
  run,
  type Started,
  startEmulator,
  stopAll,
  stopChild,
  track,
} from '@grpc-alts/test-support/processes';
import { service as healthDefinition } from 'grpc-health-check';

const CLIENT_SA = 'frontend@health-test.iam.gserviceaccount.com';
const SERVER_SA = 'backend@health-test.iam.gserviceaccount.com';
const BOOKING = 'otbooking.OtBookingService';
/** Start-up includes the handshaker probe; far less than this even on a loaded machine. */
const START_TIMEOUT_MS = 30_000;
/** Each call is one loopback round trip (plus one handshake over ALTS). */
const CALL_DEADLINE_MS = 20_000;

type Check = (
  request: object,
  options: object,
  done: (error: ServiceError | null, reply?: unknown) => void,
) => void;
const HealthClient = makeGenericClientConstructor(healthDefinition as ServiceDefinition, 'Health');

async function check(address: string, creds: ChannelCredentials, service: string) {
  const client = new HealthClient(address, creds) as unknown as Client & { check: Check };
  try {
    return await new Promise<{ error: ServiceError | null; reply?: unknown }>((resolve) =>
      client.check({ service }, { deadline: Date.now() + CALL_DEADLINE_MS }, (error, reply) =>
        resolve({ error, reply }),
      ),
    );
  } finally {
    client.close();
  }
}

/** Starts the server and resolves with the addresses from its HEALTH and READY lines. */
function startServer(args: string[], logs: string[]) {
  const child = track(() =>
    spawn(process.execPath, [PROGRAMS.server, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  createInterface({ input: child.stderr }).on('line', (l) => logs.push(l));
  return new Promise<{ child: ChildProcess; health: string; ready: string }>((resolve, reject) => {
    let health = '';
    const timer = setTimeout(
      () => reject(new Error(`no READY line within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.once('exit', (code) =>
      reject(new Error(`server exited (${code}) before READY:\n${logs.join('\n')}`)),
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [word, address = ''] = line.split(' ');
      if (word === 'HEALTH') health = address;
      if (word !== 'READY') return;
      clearTimeout(timer);
      resolve({ child, health, ready: address });
    });
  });
}

describe('ot-booking-server --health-port: grpc.health.v1 for load balancers that cannot speak ALTS', () => {
  const logs: string[] = [];
  let stateDir: string;
  let clientVm: Started;
  let serverVm: Started;
  let server: { child: ChildProcess; health: string; ready: string };

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ot-health-'));
    serverVm = await startEmulator('server-vm', SERVER_SA, stateDir, (l) => logs.push(l));
    clientVm = await startEmulator('client-vm', CLIENT_SA, stateDir, (l) => logs.push(l));
    server = await startServer(
      [
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--health-port',
        '0',
        '--handshaker',
        serverVm.address,
        CLIENT_SA,
      ],
      logs,
    );
  });
  after(async () => {
    await stopAll();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('answers Check SERVING in plaintext on the health port, for the server and the booking service', async () => {
    assert.match(server.health, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(server.health, server.ready);
    for (const service of ['', BOOKING]) {
      const { error, reply } = await check(server.health, credentials.createInsecure(), service);
      assert.equal(error, null);
      assert.deepEqual(reply, { status: 'SERVING' });
    }
  });

  it('never carries the booking service: GetBookingInfo on the health port is UNIMPLEMENTED', async () => {
    const client = new OtBookingServiceClient(server.health, credentials.createInsecure());
    try {
      const error = await new Promise<ServiceError | null>((resolve) =>
        client.getBookingInfo(
          { patientID: 'PT-1204', doctorID: 'DC-3904', description: '' },
          new Metadata(),
          { deadline: Date.now() + CALL_DEADLINE_MS },
          (e) => resolve(e),
        ),
      );
      assert.equal(error?.code, status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  it('answers Check over ALTS on the booking port to an authorized client', async () => {
    const alts = createAltsChannelCredentials({
      handshakerServiceAddress: clientVm.address,
      targetServiceAccounts: [SERVER_SA],
    });
    const { error, reply } = await check(server.ready, alts, BOOKING);
    assert.equal(error, null);
    assert.deepEqual(reply, { status: 'SERVING' });
  });

  it('refuses a bad --health-port or --port’s own with exit 2, a busy one with exit 1 naming the flag', async () => {
    const bad = await run(PROGRAMS.server, ['--health-port', '65536', CLIENT_SA]);
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr,
      "ot-booking-server: --health-port must be 0-65535, got 65536\nRun 'ot-booking-server --help' for usage.",
    );
    const same = await run(PROGRAMS.server, ['--port', '8443', '--health-port', '8443', CLIENT_SA]);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /^ot-booking-server: --health-port must differ from --port \(8443\)/);
    const port = serverVm.address.split(':')[1] ?? '';
    const args = [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--health-port',
      port,
      '--handshaker',
      serverVm.address,
    ];
    const busy = await run(PROGRAMS.server, [...args, CLIENT_SA]);
    assert.equal(busy.code, 1);
    assert.match(
      busy.stderr,
      new RegExp(`port ${port} on 127.0.0.1 is already in use: .*choose another --health-port$`),
    );
    assert.equal(busy.stderr.split('\n').length, 1, busy.stderr);
  });

  it('exits 0 on SIGTERM, closing the health port with the booking port', async () => {
    const exited = new Promise<number | null>((resolve) => server.child.once('exit', resolve));
    await stopChild(server.child);
    assert.equal(await exited, 0, logs.join('\n'));
    const { error } = await check(server.health, credentials.createInsecure(), '');
    assert.equal(error?.code, status.UNAVAILABLE);
  });
});
