import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { test } from 'node:test';
import { cleanupsAfterAll, collect, connect, drive, spawnCli, tempStateDir } from './driver.test.util.js';
import { readDisabledServiceAccounts } from './iam.js';

const SA = 'vm@project.iam.gserviceaccount.com';

const cleanups = cleanupsAfterAll();

async function stateDir(): Promise<string> {
  const { dir, cleanup } = await tempStateDir();
  cleanups.push(cleanup);
  return dir;
}

test('serve: READY line on stdout, handshakes, logs on stderr, exit 0 on SIGTERM', async () => {
  const child = spawnCli([
    '--listen',
    '127.0.0.1:0',
    '--service-account',
    SA,
    '--state-dir',
    await stateDir(),
  ]);
  const done = collect(child);
  const [first] = (await once(child.stdout as NonNullable<typeof child.stdout>, 'data')) as [Buffer];
  const match = /^READY (127\.0\.0\.1:(\d+))\n$/.exec(first.toString());
  assert.ok(match, `unexpected stdout ${JSON.stringify(first.toString())}`);
  assert.notEqual(match[2], '0');
  const service = connect(match[1] as string);
  const outcome = await drive(service, service);
  service.close();
  assert.equal(outcome.client.result?.peerIdentity?.serviceAccount, SA);
  child.kill('SIGTERM');
  const { code, stdout, stderr } = await done;
  assert.equal(code, 0);
  assert.equal(stdout.split('\n').filter(Boolean).length, 1, 'only the READY line on stdout');
  assert.match(stderr, /role=server local="vm@project\S*" ok peer="vm@project/);
  assert.match(stderr, /SIGTERM: stopping/);
});

test('disable / enable sub-commands edit the IAM state', async () => {
  const dir = await stateDir();
  assert.equal((await collect(spawnCli(['disable', SA, '--state-dir', dir]))).code, 0);
  assert.deepEqual((await readDisabledServiceAccounts(dir)).listed, [SA]);
  assert.equal((await collect(spawnCli(['enable', SA, '--state-dir', dir]))).code, 0);
  assert.deepEqual((await readDisabledServiceAccounts(dir)).listed, []);
});

test('--help prints usage; bad flags and arguments: one line and a pointer to --help, exit 2', async () => {
  const help = await collect(spawnCli(['--help']));
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage:/);
  for (const [args, line] of [
    [['--bogus'], "unknown option '--bogus'"],
    [['serve'], 'serve needs --service-account <sa>'],
    [['disable'], 'disable needs exactly one service account'],
    [['enable', SA, '--client-service-account', SA], 'enable takes only <sa> and --state-dir'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [
      ['--listen', 'nowhere', '--service-account', SA],
      '--listen must be <host:port> or [<ipv6>]:<port>, got "nowhere"',
    ],
  ] as const) {
    const bad = await collect(spawnCli([...args]));
    assert.deepEqual(
      bad,
      { code: 2, stdout: '', stderr: `alts-emulator: ${line}\nRun 'alts-emulator --help' for usage.\n` },
      args.join(' '),
    );
  }
});

test('a busy port: which one, and how to find the process holding it', async () => {
  const holder = createServer().listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const { port } = holder.address() as AddressInfo;
  try {
    const busy = await collect(
      spawnCli(['--listen', `127.0.0.1:${port}`, '--service-account', SA, '--state-dir', await stateDir()]),
    );
    assert.equal(busy.code, 1);
    assert.equal(busy.stdout, '');
    assert.ok(
      busy.stderr.includes(
        `alts-emulator: port ${port} on 127.0.0.1 is already in use: find the process with ` +
          `ss -ltnp 'sport = :${port}', or choose another --listen\n`,
      ),
      busy.stderr,
    );
  } finally {
    holder.close();
  }
});
