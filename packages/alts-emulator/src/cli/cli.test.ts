import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, readFile, stat } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  cleanupsAfterAll,
  collect,
  connect,
  relayHandshake,
  spawnCli,
  tempStateDir,
} from '../emulator.test.util.js';
import { readDisabledServiceAccounts } from '../state/iam.js';

const SA = 'vm@project.iam.gserviceaccount.com';
const CLIENT = 'client-vm@project.iam.gserviceaccount.com';

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
  const outcome = await relayHandshake(service, service);
  service.close();
  assert.equal(outcome.client.result?.peerIdentity?.serviceAccount, SA);
  child.kill('SIGTERM');
  const { code, stdout, stderr } = await done;
  assert.equal(code, 0);
  assert.equal(stdout.split('\n').filter(Boolean).length, 1, 'only the READY line on stdout');
  assert.match(stderr, /role=server local="vm@project\S*" ok peer="vm@project/);
  assert.match(stderr, /SIGTERM: stopping/);
});

/** `serve --bundle` as a "VM": a client of it once READY, and a stop that returns its output. */
async function serveBundle(bundle: string, stateDir: string) {
  const child = spawnCli(['serve', '--listen', '127.0.0.1:0', '--bundle', bundle, '--state-dir', stateDir]);
  const done = collect(child);
  const [first] = (await once(child.stdout as NonNullable<typeof child.stdout>, 'data')) as [Buffer];
  const address = /^READY (\S+)\n$/.exec(first.toString())?.[1];
  assert.ok(address, first.toString());
  const service = connect(address);
  return {
    service,
    stop: async () => {
      service.close();
      child.kill('SIGTERM');
      return done;
    },
  };
}

test(
  'init, issue and serve --bundle: ' + 'two "VMs" from one root handshake; issue never overwrites',
  async () => {
    const dir = await stateDir();
    const rootDir = join(dir, 'root');
    const init = await collect(spawnCli(['init', '--root-dir', rootDir]));
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stderr, /created trust root [0-9a-f]{16} in /);
    assert.match(
      (await collect(spawnCli(['init', '--root-dir', rootDir]))).stderr,
      /trust root [0-9a-f]{16} already in /,
    );
    const bundle = (name: string) => join(dir, name, 'identity.json');
    for (const [sa, name] of [
      [SA, 'server-vm'],
      [CLIENT, 'client-vm'],
    ] as const) {
      const issued = await collect(spawnCli(['issue', sa, '--root-dir', rootDir, '--out', bundle(name)]));
      assert.equal(issued.code, 0, issued.stderr);
      assert.equal((await stat(bundle(name))).mode & 0o777, 0o600);
    }
    const again = await collect(spawnCli(['issue', SA, '--root-dir', rootDir, '--out', bundle('server-vm')]));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refusing to overwrite .*identity\.json: it exists/);
    const noRoot = await collect(
      spawnCli(['issue', SA, '--root-dir', join(dir, 'none'), '--out', join(dir, 'x')]),
    );
    assert.equal(noRoot.code, 1);
    assert.ok(
      noRoot.stderr.includes(
        `no trust root in ${join(dir, 'none')} (no root-key.pem): run alts-emulator init --root-dir ` +
          `${join(dir, 'none')} first`,
      ),
      noRoot.stderr,
    );

    const vm = (name: string) => serveBundle(bundle(name), join(dir, name, 'state'));
    const [server, client] = [await vm('server-vm'), await vm('client-vm')];
    const outcome = await relayHandshake(client.service, server.service);
    assert.equal(outcome.client.result?.peerIdentity?.serviceAccount, SA);
    assert.equal(outcome.server.result?.peerIdentity?.serviceAccount, CLIENT);
    const serverLog = (await server.stop()).stderr;
    await client.stop();
    assert.match(
      serverLog,
      new RegExp(
        String.raw`listening on 127\.0\.0\.1:\d+ as "vm@project\S*" ` +
          String.raw`\(trust root [0-9a-f]{16}, bundle \S*server-vm\/identity\.json\)`,
      ),
    );
  },
);

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
    [['serve'], 'serve needs --service-account <sa> or --bundle <file>'],
    [['--client-bundle', 'c.json'], '--client-bundle needs --bundle too'],
    [['issue', SA], 'issue needs --out <file>'],
    [['init', '--out', 'x'], 'init does not take --out'],
    [['serve', '--root-dir', 'x', '--service-account', SA], 'serve does not take --root-dir'],
    [['disable'], 'disable needs exactly one service account'],
    [['enable', SA, '--client-service-account', SA], 'enable does not take --client-service-account'],
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

test('run --help, run -h and <verb> --help print that verb’s usage; run --version the version', async () => {
  const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
  for (const args of [
    ['run', '--help'],
    ['run', '-h'],
    ['run', '--service-account', SA, '--help', '--', 'true'],
  ]) {
    const r = await collect(spawnCli(args));
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage:\n {2}alts-emulator run /, args.join(' '));
    assert.match(r.stdout, /--log-file <file>/);
    assert.doesNotMatch(
      r.stdout,
      /alts-emulator init|--listen <host:port> {10}/,
      'run’s usage, not the global one',
    );
  }
  assert.deepEqual(await collect(spawnCli(['run', '--version'])), {
    code: 0,
    stdout: `alts-emulator ${version}\n`,
    stderr: '',
  });
  for (const [verb, option] of [
    ['serve', '--listen <host:port>'],
    ['init', '--root-dir <dir>'],
    ['issue', '--root-dir <dir>'],
    ['disable', '--state-dir <dir>'],
    ['enable', '--state-dir <dir>'],
  ] as const) {
    const r = await collect(spawnCli([verb, '--help']));
    assert.equal(r.code, 0, r.stderr);
    const synopsis = r.stdout.split('\n')[1] ?? '';
    assert.ok(synopsis.startsWith(`  alts-emulator ${verb === 'serve' ? '[serve]' : verb}`), r.stdout);
    assert.ok(r.stdout.includes(option), `${verb}: ${r.stdout}`);
    assert.equal(r.stdout.match(/^ {2}alts-emulator /gm)?.length, 1, `${verb}: one synopsis`);
  }
  const global = await collect(spawnCli(['--help']));
  assert.equal(global.stdout.match(/^ {2}alts-emulator /gm)?.length, 7, 'the global usage lists every verb');
  assert.ok((await collect(spawnCli(['run']))).stderr.includes('run needs -- <command>'));
});

test('a malformed service account is a usage error: one line, the pointer to --help, exit 2', async () => {
  for (const verb of ['disable', 'enable', 'issue']) {
    const r = await collect(
      spawnCli([verb, 'not an email', '--out', 'x'].slice(0, verb === 'issue' ? 4 : 2)),
    );
    assert.deepEqual(
      r,
      {
        code: 2,
        stdout: '',
        stderr:
          `alts-emulator: ${verb}: service account "not an email" has a character outside visible ASCII ` +
          "(U+0021-U+007E): it would match no identity\nRun 'alts-emulator --help' for usage.\n",
      },
      verb,
    );
  }
});

test('disabling twice or enabling an account never disabled says nothing changed', async () => {
  const dir = await stateDir();
  const admin = async (verb: string) => (await collect(spawnCli([verb, SA, '--state-dir', dir]))).stderr;
  assert.match(await admin('enable'), new RegExp(`"${SA}" was not disabled in ${dir}: nothing changed\n$`));
  assert.match(await admin('disable'), new RegExp(`disabled "${SA}" in ${dir}\n$`));
  assert.match(
    await admin('disable'),
    new RegExp(`"${SA}" was already disabled in ${dir}: nothing changed\n$`),
  );
  assert.match(await admin('enable'), new RegExp(`enabled "${SA}" in ${dir}\n$`));
});

test('issue with a missing --root-dir creates nothing and names init --root-dir', async () => {
  const dir = await stateDir();
  const missing = join(dir, 'typo');
  const r = await collect(spawnCli(['issue', SA, '--root-dir', missing, '--out', join(dir, 'b.json')]));
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(`run alts-emulator init --root-dir ${missing} first`), r.stderr);
  assert.deepEqual(await readdir(dir), [], 'no empty root directory was left behind');
});
