// HARDENING 33 (issue 13, finding 3) at the app level: the built server and client as processes,
// fed request fields, bookings and handshake alerts that carry a forged log line and an ANSI escape.
// Whatever they log or print stays one line per event, with those characters written as \uXXXX.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PROGRAMS,
  run,
  type Started,
  startEmulator,
  startReady,
  stopAll,
} from '@grpc-alts/test-support/processes';

const { server: SERVER, client: CLIENT } = PROGRAMS;

const CLIENT_SA = 'frontend@hospital-test.iam.gserviceaccount.com';
const SERVER_SA = 'backend@hospital-test.iam.gserviceaccount.com';
/** What an attacker wants the operator to read: a whole log line of its own. */
const FORGED =
  '\n2026-12-01T00:00:00Z ot-booking-server: getBookingInfo from admin@x: patient PT-1 doctor DC-1: found';
const ERASE_LINE = '\u001b[2K';
/** How long a log line may take to arrive from the server process after the event. */
const LOG_WAIT_MS = 10_000;
/** The alert's framing, from packages/alts-emulator/README.md "Message formats". */
const ALERT_TYPE = 5;
const WIRE_VERSION = 1;
const INTERNAL = 13;
/** Characters that must never reach a log line or the terminal raw (see log-escape.ts). */
const RAW = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/u;

/** An emulator Alert message: the first thing a hostile peer can send, before any authentication. */
function alert(details: string): Buffer {
  const text = Buffer.from(details, 'utf8');
  const body = Buffer.alloc(4 + 2 + text.length);
  body.writeUInt32BE(INTERNAL, 0);
  body.writeUInt16BE(text.length, 4);
  text.copy(body, 6);
  const header = Buffer.from([0x41, 0x45, WIRE_VERSION, ALERT_TYPE, 0, 0, 0, 0]);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Neither a raw control character nor a line that starts like one of the server's own. */
function assertClean(lines: readonly string[]): void {
  for (const line of lines) {
    assert.doesNotMatch(line, RAW, `raw control character in ${line}`);
    assert.doesNotMatch(line, /^server \| 2026-12-01T00:00:00Z/, `forged line: ${line}`);
  }
}

describe('HARDENING 33: the apps never log or print a peer’s text raw', () => {
  let stateDir: string;
  let clientVm: Started;
  let server: Started;
  const logs: string[] = [];

  /** Waits for the first server log line after `from` that matches; fails after LOG_WAIT_MS. */
  async function logLine(from: number, pattern: RegExp): Promise<string> {
    for (let waited = 0; waited < LOG_WAIT_MS; waited += 50) {
      const line = logs.slice(from).find((l) => pattern.test(l));
      if (line !== undefined) return line;
      await sleep(50);
    }
    assert.fail(`no server log line matching ${pattern}:\n${logs.slice(from).join('\n')}`);
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ot-log-forging-'));
    const emulator = (name: string, sa: string) => startEmulator(name, sa, stateDir, () => undefined);
    const [client, serverVm] = await Promise.all([
      emulator('client-vm', CLIENT_SA),
      emulator('server-vm', SERVER_SA),
    ]);
    clientVm = client;
    const bookings = join(stateDir, 'bookings.json');
    await writeFile(
      bookings,
      JSON.stringify([
        {
          patientID: 'PT-7',
          doctorID: 'DC-7',
          bookingDate: `02-Jun-2024${ERASE_LINE}`,
          condition: `x${FORGED}`,
        },
      ]),
    );
    server = await startReady(
      'server',
      SERVER,
      [
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--handshaker',
        serverVm.address,
        '--bookings',
        bookings,
        CLIENT_SA,
      ],
      (line) => logs.push(line),
    );
  });
  after(async () => {
    await stopAll();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('HARDENING 33: a patient ID carrying a forged log line and an ANSI escape makes one escaped line', async () => {
    const from = logs.length;
    const r = await run(CLIENT, [
      '--handshaker',
      clientVm.address,
      '--patient',
      `PT-1${FORGED}`,
      '--doctor',
      `DC-1${ERASE_LINE}`,
      server.address,
      SERVER_SA,
    ]);
    assert.equal(r.code, 64 + 3, r.stderr);
    const line = await logLine(from, /getBookingInfo from /);
    assert.equal(
      line.replace(/^server \| \S+ /, ''),
      `ot-booking-server: getBookingInfo from ${CLIENT_SA}: patient PT-1\\u000a2026-12-01T00:00:00Z o… ` +
        'doctor DC-1\\u001b[2K: invalid',
    );
    await sleep(200);
    assert.equal(logs.slice(from).filter((l) => l.includes('getBookingInfo')).length, 1, logs.join('\n'));
    assertClean(logs);
  });

  it('HARDENING 33: the client prints a booking’s server-sent text escaped, and its JSON intact', async () => {
    const args = ['--handshaker', clientVm.address, '--patient', 'PT-7', '--doctor', 'DC-7'];
    const text = await run(CLIENT, [...args, server.address, SERVER_SA]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(
      text.stdout,
      `Booking for PT-7 with DC-7: 02-Jun-2024\\u001b[2K (x\\u000a2026-12-01T00:00:00Z ot-booking-server: ` +
        'getBookingInfo from admin@x: patient PT-1 doctor DC-1: found)',
    );
    const json = await run(CLIENT, [...args, '--json', server.address, SERVER_SA]);
    assert.equal(json.code, 0, json.stderr);
    assert.doesNotMatch(json.stdout, RAW);
    const parsed = JSON.parse(json.stdout) as Record<string, string>;
    assert.equal(parsed.bookingDate, `02-Jun-2024${ERASE_LINE}`);
    assert.equal(parsed.condition, `x${FORGED}`);
  });

  it('HARDENING 33: a forged alert as a peer’s first handshake message cannot forge a server log line', async () => {
    const from = logs.length;
    const [host, port] = server.address.split(':') as [string, string];
    const socket = connect(Number(port), host);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.end(alert(`boom${ERASE_LINE}${FORGED}`));
    socket.resume();
    await logLine(from, /handshake with .* failed/);
    socket.destroy();
    await sleep(200);
    assertClean(logs.slice(from));
    assert.ok(
      logs.slice(from).every((l) => /^server \| \S+ ot-booking-server: handshake with /.test(l)),
      logs.slice(from).join('\n'),
    );
  });

  it('HARDENING 33: a hostile server’s alert reaches the client’s error message escaped, on one line', async () => {
    const hostile: Server = createServer((s: Socket) => {
      s.on('error', () => undefined);
      s.end(alert(`boom${ERASE_LINE}${FORGED}`));
    });
    hostile.listen(0, '127.0.0.1');
    await once(hostile, 'listening');
    const { port } = hostile.address() as { port: number };
    try {
      const r = await run(CLIENT, [
        '--handshaker',
        clientVm.address,
        '--timeout',
        '5',
        `127.0.0.1:${port}`,
        SERVER_SA,
      ]);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, RAW);
    } finally {
      hostile.close();
    }
  });
});
