// npm run demo: the story of the grpc-java ALTS tutorial, end to end on local handshaker
// emulators, in one process tree bounded in time.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  type BookingResponse,
  createOtBookingClient,
  describeFailure,
  type OtBookingServiceClient,
} from '@grpc-alts/ot-booking';
import { guardExit } from '@grpc-alts/test-support/exit-guard';
import { PROGRAMS, run, type Started, startEmulator, startReady } from '@grpc-alts/test-support/processes';

const { emulator: EMULATOR, server: SERVER, client: CLIENT } = PROGRAMS;

const CLIENT_SA = 'prod-ot-booking-client-svc@hospital-prod.iam.gserviceaccount.com';
const SERVER_SA = 'prod-ot-booking-svc@hospital-prod.iam.gserviceaccount.com';
const OTHER_SA = 'reporting-svc@hospital-prod.iam.gserviceaccount.com';
/** The whole demo must finish within this, or everything is stopped and it fails. */
const DEMO_DEADLINE_MS = 60_000;
const verbose = process.argv.includes('--verbose');

const stateDir = await mkdtemp(join(tmpdir(), 'ot-booking-demo-'));
const guard = guardExit(stateDir);

const say = (text: string) => {
  if (!guard.quiet) process.stdout.write(`${text}\n`);
};
const logs: string[] = [];
const childLog = (line: string) => {
  logs.push(line);
  if (verbose) say(`      ${line}`);
};
let failures = 0;

function expect(what: string, ok: boolean, detail: string): void {
  if (!ok) failures++;
  say(`   ${ok ? '✔' : '✘'} ${what}\n       ${detail.split('\n').join('\n       ')}`);
}

function call(client: OtBookingServiceClient): Promise<BookingResponse> {
  return new Promise((resolve, reject) =>
    client.getBookingInfo(
      { patientID: 'PT-1204', doctorID: 'DC-3904', description: 'demo' },
      new Metadata(),
      { deadline: Date.now() + 5_000 },
      (err: ServiceError | null, res?: BookingResponse) => (err || !res ? reject(err) : resolve(res)),
    ),
  );
}

async function main(): Promise<void> {
  const emulator = (name: string, sa: string) => startEmulator(name, sa, stateDir, childLog);
  const startServer = (handshaker: string, port = '0') =>
    startReady(
      'server',
      SERVER,
      ['--host', '127.0.0.1', '--port', port, '--handshaker', handshaker, CLIENT_SA],
      childLog,
    );
  const client = (handshaker: string, address: string) =>
    run(CLIENT, ['--handshaker', handshaker, address, SERVER_SA]);
  const iam = (verb: 'disable' | 'enable', sa: string) => run(EMULATOR, [verb, sa, '--state-dir', stateDir]);

  try {
    say('OT booking over ALTS: a front end calls the back end, each identified by its service account.\n');
    say(
      '1. Two "VMs", each with its local ALTS handshaker (the emulator), and the back end admitting the ' +
        'front end',
    );
    const clientVm = await emulator('client-vm', CLIENT_SA);
    const serverVm = await emulator('server-vm', SERVER_SA);
    let server: Started = await startServer(serverVm.address);
    say(`   client VM handshaker ${clientVm.address} runs as ${CLIENT_SA}`);
    say(`   server VM handshaker ${serverVm.address} runs as ${SERVER_SA}`);
    say(`   ot-booking-server listens on ${server.address}, allowing ${CLIENT_SA}`);
    const ok = await client(clientVm.address, server.address);
    expect(
      'ot-booking-client gets the booking of patient PT-1204 with DC-3904',
      ok.code === 0,
      ok.stdout || ok.stderr,
    );
    const seen = logs.filter((l) => l.startsWith('server') && l.includes(`from ${CLIENT_SA}`)).at(-1);
    expect('the server saw the caller’s ALTS identity', seen !== undefined, seen ?? 'no log line');

    say('\n2. A caller running as another service account');
    const otherVm = await emulator('other-vm', OTHER_SA);
    const denied = await client(otherVm.address, server.address);
    expect(
      'the authorization interceptor rejects it: PERMISSION_DENIED',
      denied.code === 64 + 7,
      denied.stderr,
    );
    await otherVm.stop();

    say('\n3. The client service account is disabled in IAM');
    await iam('disable', CLIENT_SA);
    const disabled = await client(clientVm.address, server.address);
    expect('the handshake fails: UNAVAILABLE', disabled.code === 64 + 14, disabled.stderr);
    await iam('enable', CLIENT_SA);

    say('\n4. The server service account is disabled while a channel is open');
    const channel = createOtBookingClient(server.address, {
      targetServiceAccounts: [SERVER_SA],
      handshakerServiceAddress: clientVm.address,
    });
    const before = await call(channel);
    expect('the open channel works', before.condition !== '', `${before.bookingDate} (${before.condition})`);
    await iam('disable', SERVER_SA);
    const still = await call(channel).then(
      (r) => `${r.bookingDate} (${r.condition})`,
      (e: ServiceError) => e,
    );
    expect(
      'after disabling, the already-open channel keeps working',
      typeof still === 'string',
      String(still),
    );
    await server.stop();
    server = await startServer(serverVm.address, server.address.split(':').at(-1));
    say(`   ot-booking-server restarted on ${server.address}`);
    const after = await call(channel).then(
      () => 'the call succeeded',
      (e: ServiceError) => e,
    );
    const failed = typeof after !== 'string' && after.code === 14;
    expect(
      'after the restart, the channel’s new connection fails: UNAVAILABLE (as in grpc-go and C-core; ' +
        'the grpc-java tutorial shows UNKNOWN, grpc-java’s status for a refused handshake)',
      failed,
      typeof after === 'string' ? after : describeFailure(after.details, server.address),
    );
    const fresh = await client(clientVm.address, server.address);
    expect('and so does a new client: UNAVAILABLE', fresh.code === 64 + 14, fresh.stderr);
    channel.close();
    await iam('enable', SERVER_SA);
  } finally {
    await guard.cleanUp();
  }
  say(
    failures === 0
      ? '\nAll four scenarios behaved as on Google Cloud, with the statuses grpc-go and C-core report.'
      : `\n${failures} expectation(s) failed.`,
  );
  if (failures > 0) {
    if (!verbose) say(`\nLogs of the processes:\n${logs.map((l) => `  ${l}`).join('\n')}`);
    process.exitCode = 1;
  }
}

const deadline = setTimeout(() => {
  say(`\nThe demo did not finish within ${DEMO_DEADLINE_MS / 1000} s; stopping everything.`);
  void guard.exit(1);
}, DEMO_DEADLINE_MS);
deadline.unref();
main().catch((err: Error) => {
  say(`\nThe demo failed: ${err.message}`);
  return guard.exit(1);
});
