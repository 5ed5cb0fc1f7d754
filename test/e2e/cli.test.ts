// The three command-line programs as a user meets them: through the bin shims npm links, by
// convention (--version, -h/--help, one line for a bad flag), and ot-booking-server's start-up
// checks (its handshaker answers, its port is free).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run, type Started, startReady, stopAll } from '@grpc-alts/test-support/processes';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;
const ANY_EXEC_BIT = 0o111;
/** ot-booking-server's wait for its handshaker (HANDSHAKER_WAIT_S in apps/server/src/main.ts). */
const HANDSHAKER_WAIT_MS = 10_000;
/** Bound for a loaded machine: a program's start-up and whatever it does beyond its own waits. */
const RUN_TIMEOUT_MS = 20_000;
/** Port 1 (tcpmux) is unassigned on any machine these tests run on. */
const NOTHING_LISTENS = '127.0.0.1:1';
const CLIENT_SA = 'frontend@hospital-test.iam.gserviceaccount.com';
const SERVER_SA = 'backend@hospital-test.iam.gserviceaccount.com';

interface Cli {
  prog: string;
  /** The bin shim npm links, from the package's `bin`. */
  bin: string;
  version: string;
  files: readonly string[];
}

function cli(prog: string, dir: string): Cli {
  const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
  return { prog, bin: join(root, dir, manifest.bin[prog]), version: manifest.version, files: manifest.files };
}

const SERVER = cli('ot-booking-server', 'apps/server');
const CLIENT = cli('ot-booking-client', 'apps/client');
const EMULATOR = cli('alts-emulator', 'packages/alts-emulator');

async function listening(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

for (const { prog, bin, version, files } of [SERVER, CLIENT, EMULATOR]) {
  describe(`${prog} by convention`, () => {
    it('its bin is a committed shim that runs by itself (shebang, execute bit) and ships in `files`', () => {
      assert.match(bin, /\/bin\/[\w-]+\.js$/);
      assert.equal(readFileSync(bin, 'utf8').split('\n')[0], '#!/usr/bin/env node');
      assert.equal(statSync(bin).mode & ANY_EXEC_BIT, ANY_EXEC_BIT, `${bin} is not executable`);
      assert.ok(files.includes('bin'), `${prog}'s package.json "files" lacks bin`);
      // Executed itself, with no `node` in front, as the shell behind `npx` does.
      const direct = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
      assert.deepEqual([direct.status, direct.stdout, direct.stderr], [0, `${prog} ${version}\n`, '']);
    });

    for (const flag of ['-h', '--help']) {
      it(`${flag} prints the usage on stdout and exits 0`, async () => {
        const r = await run(bin, [flag]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^Usage:/);
        assert.ok(r.stdout.includes('--version'), 'the usage lists --version');
        assert.equal(r.stderr, '');
      });
    }

    it('a bad flag: one line and a pointer to --help, exit 2', async () => {
      assert.deepEqual(await run(bin, ['--x']), {
        code: EXIT_USAGE,
        stdout: '',
        stderr: `${prog}: unknown option '--x'\nRun '${prog} --help' for usage.`,
      });
    });
  });
}

describe('ot-booking-server start-up checks', () => {
  let stateDir: string;
  let handshaker: Started;

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'ot-cli-'));
    handshaker = await startReady(
      'server-vm',
      EMULATOR.bin,
      ['--listen', '127.0.0.1:0', '--service-account', SERVER_SA, '--state-dir', stateDir],
      () => undefined,
    );
  });
  after(async () => {
    await stopAll();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('with no handshaker answering, it says it retries, then exits 1 naming the address and the fix', {
    timeout: HANDSHAKER_WAIT_MS + 2 * RUN_TIMEOUT_MS,
  }, async () => {
    const r = await run(
      SERVER.bin,
      ['--host', '127.0.0.1', '--port', '0', '--handshaker', NOTHING_LISTENS, CLIENT_SA],
      HANDSHAKER_WAIT_MS + RUN_TIMEOUT_MS,
    );
    assert.equal(r.code, EXIT_FAILURE, r.stderr);
    assert.equal(r.stdout, '', 'no READY');
    const lines = r.stderr.split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(
      lines[0] ?? '',
      /ot-booking-server: no ALTS handshaker service answers at 127\.0\.0\.1:1 yet; retrying for up to 10 s$/,
    );
    assert.match(
      lines[1] ?? '',
      /ot-booking-server: no ALTS handshaker service answered at 127\.0\.0\.1:1 within 10 s: start one there \(off Google Cloud: npx alts-emulator --listen 127\.0\.0\.1:1 .*\) or point --handshaker at one$/,
    );
  });

  it('waits for a handshaker that starts after it, then prints READY; its probe leaves nothing open', {
    timeout: HANDSHAKER_WAIT_MS + 2 * RUN_TIMEOUT_MS,
  }, async () => {
    const placeholder = createServer();
    const port = await listening(placeholder);
    placeholder.close();
    let retrying: () => void = () => undefined;
    const retried = new Promise<void>((resolve) => {
      retrying = resolve;
    });
    const starting = startReady(
      'server',
      SERVER.bin,
      ['--host', '127.0.0.1', '--port', '0', '--handshaker', `127.0.0.1:${port}`, CLIENT_SA],
      (line) => {
        if (line.includes('retrying for up to')) retrying();
      },
    );
    await retried;
    const emulatorLog: string[] = [];
    const late = await startReady(
      'late-vm',
      EMULATOR.bin,
      ['--listen', `127.0.0.1:${port}`, '--service-account', SERVER_SA, '--state-dir', stateDir],
      (line) => emulatorLog.push(line),
    );
    const server = await starting;
    assert.match(server.address, /^127\.0\.0\.1:\d+$/);
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    // A channel or stream left open by the probe would keep the process alive after SIGTERM.
    assert.deepEqual(await exited, [0, null]);
    await late.stop();
    assert.deepEqual(
      emulatorLog.filter((l) => l.includes('handshake #')),
      [],
      'the probe is no handshake',
    );
  });

  it('a busy port: which one, and how to find the process holding it', async () => {
    const holder = createServer();
    const port = await listening(holder);
    try {
      const r = await run(SERVER.bin, [
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--handshaker',
        handshaker.address,
        CLIENT_SA,
      ]);
      assert.equal(r.code, EXIT_FAILURE, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        new RegExp(
          `^\\S+ ot-booking-server: port ${port} on 127\\.0\\.0\\.1 is already in use: find the process with ` +
            `ss -ltnp 'sport = :${port}', or choose another --port$`,
        ),
      );
    } finally {
      holder.close();
    }
  });

  it('issue 21 finding 6: off Google Cloud with no handshaker, the fix names its --handshaker flag', async () => {
    const r = await run(SERVER.bin, ['--host', '127.0.0.1', '--port', '0', CLIENT_SA]);
    assert.equal(r.code, EXIT_FAILURE, r.stderr);
    assert.match(
      r.stderr,
      /ALTS is only supported on Google Cloud: .* Set --handshaker or ALTS_HANDSHAKER_SERVICE_ADDRESS /,
    );
    assert.doesNotMatch(r.stderr, /handshakerServiceAddress/);
  });
});

describe('issue 21 finding 3: a handshaker address without a port', () => {
  const FIX =
    '--handshaker "127.0.0.1" is not a host:port to dial: write it as "127.0.0.1:8080" (the handshaker ' +
    'listens on port 8080 on Google Cloud and by default in alts-emulator)';

  it('ot-booking-client refuses it at once, naming the fix, instead of dialing port 443', async () => {
    const r = await run(CLIENT.bin, ['--handshaker', '127.0.0.1', NOTHING_LISTENS, SERVER_SA]);
    assert.deepEqual(r, { code: 64 + 3, stdout: '', stderr: `INVALID_ARGUMENT: ${FIX}` });
  });

  it('ot-booking-server refuses it at once, naming the fix, instead of waiting for port 443', async () => {
    const r = await run(SERVER.bin, [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--handshaker',
      '127.0.0.1',
      CLIENT_SA,
    ]);
    assert.equal(r.code, EXIT_FAILURE, r.stderr);
    assert.ok(r.stderr.endsWith(`ot-booking-server: ${FIX}`), r.stderr);
    assert.equal(r.stderr.split('\n').length, 1, r.stderr);
  });
});
