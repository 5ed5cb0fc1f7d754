import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { collect, connect, drive, spawnCli, tempStateDir } from './driver.test.util.js';
import { readDisabledServiceAccounts } from './iam.js';

const SA = 'vm@project.iam.gserviceaccount.com';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups) await cleanup();
});

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

test('--help prints usage; bad flags print usage on stderr and exit 2', async () => {
  const help = await collect(spawnCli(['--help']));
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage:/);
  for (const args of [
    ['--bogus'],
    ['serve'],
    ['disable'],
    ['frobnicate'],
    ['--listen', 'nowhere', '--service-account', SA],
  ]) {
    const bad = await collect(spawnCli(args));
    assert.equal(bad.code, 2, args.join(' '));
    assert.match(bad.stderr, /Usage:/);
    assert.equal(bad.stdout, '');
  }
});
