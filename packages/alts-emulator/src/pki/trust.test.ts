// The local PKI (README "Trust model"): init, issue, bundle loading and what a bundle must pass.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { startEmulator } from '../emulator.js';
import {
  CLIENT,
  cleanupsAfterAll,
  connect,
  relayHandshake,
  SERVER,
  tempStateDir,
} from '../emulator.test.util.js';
import { issueCertificate, verifyCertificate } from '../protocol/certificate.js';
import { disableServiceAccount, enableServiceAccount, readDisabledServiceAccounts } from '../state/iam.js';
import { loadBundle } from './bundle.js';
import { initRoot, issueBundle, openRoot } from './trust.js';

const cleanups = cleanupsAfterAll();

async function tempDir(): Promise<string> {
  const { dir, cleanup } = await tempStateDir();
  cleanups.push(cleanup);
  return dir;
}

/** A root in a fresh directory and a bundle for each account, written in that directory. */
async function issued(...accounts: string[]) {
  const dir = await tempDir();
  const { root } = await initRoot(join(dir, 'root'));
  const paths: string[] = [];
  for (const sa of accounts) {
    const path = join(dir, `${sa}.bundle`);
    assert.equal(await issueBundle(root, sa, path), true);
    paths.push(path);
  }
  return { dir, root, paths };
}

type BundleJson = Record<
  'format' | 'serviceAccount' | 'identityKey' | 'certificate' | 'rootPublicKey',
  string
>;

async function readJson(path: string): Promise<BundleJson> {
  return JSON.parse(await readFile(path, 'utf8')) as BundleJson;
}

/** Writes a changed copy of the bundle at `path` (mode 600) and returns the load error's message. */
async function refusalOf(path: string, change: (bundle: BundleJson) => void): Promise<string> {
  const bundle = await readJson(path);
  change(bundle);
  const forged = `${path}.forged`;
  await writeFile(forged, JSON.stringify(bundle), { mode: 0o600 });
  try {
    await loadBundle(forged);
  } catch (error) {
    const message = (error as Error).message;
    assert.ok(message.startsWith(`refusing identity bundle ${forged}: `), message);
    return message;
  }
  assert.fail('a changed bundle was loaded');
}

test('init creates one private root, concurrently too; init again keeps it', async () => {
  const rootDir = join(await tempDir(), 'nested', 'root');
  const inits = await Promise.all(Array.from({ length: 8 }, () => initRoot(rootDir)));
  assert.equal(new Set(inits.map((i) => i.root.anchor.keyId.toString('hex'))).size, 1);
  assert.equal(inits.filter((i) => i.created).length, 1);
  assert.equal((await stat(rootDir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(rootDir, 'root-key.pem'))).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(rootDir), ['root-key.pem'], 'no temp files left');
  const again = await initRoot(rootDir);
  assert.equal(again.created, false);
  assert.ok(again.root.anchor.keyId.equals(inits[0]?.root.anchor.keyId ?? Buffer.alloc(0)));
});

test(
  'issue writes a private bundle that loads, ' + 'holding the identity and the root public key only',
  async () => {
    const { root, paths } = await issued(SERVER);
    const [path = ''] = paths;
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const bundle = await loadBundle(path, SERVER.toUpperCase());
    assert.equal(bundle.identity.serviceAccount, SERVER);
    assert.ok(bundle.anchor.keyId.equals(root.anchor.keyId));
    assert.equal(verifyCertificate(bundle.identity.certificate, bundle.anchor).serviceAccount, SERVER);
    const text = await readFile(path, 'utf8');
    const rootPem = root.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    assert.ok(!text.includes(rootPem.split('\n')[1] ?? rootPem), 'the root private key is not in the bundle');
    assert.deepEqual(Object.keys(await readJson(path)).sort(), [
      'certificate',
      'format',
      'identityKey',
      'rootPublicKey',
      'serviceAccount',
    ]);
    assert.equal(await issueBundle(root, SERVER, path), false, 'an existing bundle is not overwritten');
    assert.equal(await readFile(path, 'utf8'), text);
  },
);

test('issue needs an initialised root', async () => {
  const rootDir = join(await tempDir(), 'root');
  await assert.rejects(
    openRoot(rootDir),
    /no trust root in .*root \(no root-key\.pem\): run alts-emulator init --root-dir .*root first/,
  );
  assert.equal(existsSync(rootDir), false, 'a missing root directory is not created');
});

/** Ways to spoil a bundle, each with the reason loading it must give. */
function bundleForgeries(
  foreign: BundleJson,
  clientJson: BundleJson,
): Array<[string, (b: BundleJson) => void, RegExp]> {
  const stranger = generateKeyPairSync('ed25519');
  return [
    [
      "another root's certificate",
      (b) => {
        b.certificate = foreign.certificate;
      },
      /its certificate was issued by another trust root/,
    ],
    [
      "another root's public key",
      (b) => {
        b.rootPublicKey = foreign.rootPublicKey;
      },
      /its certificate was issued by another trust root/,
    ],
    [
      'a certificate signed by a stranger under our key id',
      (b) => {
        const ours = Buffer.from(b.certificate, 'base64');
        const forged = issueCertificate(stranger.privateKey, SERVER, stranger.publicKey);
        // Our root's key id in the stranger's certificate: only the signature can tell.
        ours.copy(forged, 1, 1, 9);
        b.certificate = forged.toString('base64');
      },
      /its certificate has a bad signature/,
    ],
    [
      "another identity's key",
      (b) => {
        b.identityKey = clientJson.identityKey;
      },
      /its identity key does not match the key its certificate vouches for/,
    ],
    [
      "another account's name",
      (b) => {
        b.serviceAccount = CLIENT;
      },
      /its certificate is for "server@\S+", not "client@\S+" as the bundle says/,
    ],
    [
      'another format',
      (b) => {
        b.format = 'alts-emulator identity bundle v9';
      },
      /it is not an identity bundle/,
    ],
    [
      'a missing key',
      (b) => {
        b.identityKey = undefined as unknown as string;
      },
      /its identityKey is missing/,
    ],
  ];
}

test('a forged or mismatched bundle is refused at load time, naming the reason', async () => {
  const { paths } = await issued(SERVER, CLIENT);
  const [server = '', client = ''] = paths;
  const other = await issued(SERVER);
  const foreign = await readJson(other.paths[0] ?? '');
  const clientJson = await readJson(client);
  const cases = bundleForgeries(foreign, clientJson);
  for (const [name, change, reason] of cases) assert.match(await refusalOf(server, change), reason, name);
  await writeFile(`${server}.text`, 'not json', { mode: 0o600 });
  await assert.rejects(loadBundle(`${server}.text`), /refusing identity bundle .*: it is not JSON/);
  await assert.rejects(loadBundle(server, CLIENT), /it holds the identity of "server@\S+", not of "client@/);
  await assert.rejects(loadBundle(`${server}.missing`), /identity bundle .*missing does not exist/);
});

test('a bundle others may read, or that is not yours, is refused like an ssh key', async () => {
  const { paths } = await issued(SERVER);
  const [path = ''] = paths;
  for (const mode of [0o640, 0o604, 0o660]) {
    await chmod(path, mode);
    await assert.rejects(loadBundle(path), (e: Error) => {
      assert.ok(e.message.includes(path), e.message);
      assert.match(e.message, /readable or writable by group or others .*chmod 600/);
      return true;
    });
  }
  await chmod(path, 0o600);
  if (process.getuid?.() === 0) {
    await chown(path, 65534, 65534);
    await assert.rejects(loadBundle(path), /owned by uid 65534, not by you/);
  }
});

test(
  'an emulator serves from bundles: both of one root, ' + 'IAM from its state directory; mixed roots refused',
  async () => {
    const { dir, paths } = await issued(SERVER, CLIENT);
    const [server = '', client = ''] = paths;
    const stateDir = join(dir, 'state');
    const e = await startEmulator({ bundle: server, clientBundle: client, stateDir });
    const service = connect(e.address);
    cleanups.push(
      () => e.stop(),
      () => service.close(),
    );
    const ok = await relayHandshake(service, service);
    assert.equal(ok.client.result?.peerIdentity?.serviceAccount, SERVER);
    assert.equal(ok.server.result?.peerIdentity?.serviceAccount, CLIENT);
    await disableServiceAccount(stateDir, CLIENT);
    assert.equal((await relayHandshake(service, service)).client.failure?.code, status.PERMISSION_DENIED);
    await enableServiceAccount(stateDir, CLIENT);

    const other = await issued(CLIENT);
    await assert.rejects(
      startEmulator({ bundle: server, clientBundle: other.paths[0] ?? '', stateDir }),
      /come from different trust roots/,
    );
    await assert.rejects(
      startEmulator({ bundle: server, serviceAccount: CLIENT, stateDir }),
      /holds the identity of "server@\S+", not of "client@/,
    );
    await assert.rejects(
      startEmulator({ bundle: server, clientServiceAccount: CLIENT, stateDir }),
      /the client-side identity "client@\S+" needs a bundle of its own/,
    );
  },
);

test(
  'peers whose bundles come from different roots fail the handshake: ' + 'UNAUTHENTICATED, naming both roots',
  async () => {
    const a = await issued(SERVER);
    const b = await issued(CLIENT);
    const start = async (bundle: string, dir: string) => {
      const e = await startEmulator({ bundle, stateDir: join(dir, 'state') });
      const service = connect(e.address);
      cleanups.push(
        () => e.stop(),
        () => service.close(),
      );
      return service;
    };
    const serverSide = await start(a.paths[0] ?? '', a.dir);
    const clientSide = await start(b.paths[0] ?? '', b.dir);
    const o = await relayHandshake(clientSide, serverSide);
    assert.equal(o.client.failure?.code, status.UNAUTHENTICATED);
    assert.match(
      o.client.failure?.details ?? '',
      new RegExp(
        `the peer's certificate was issued by another trust root \\(root key id ` +
          `${a.root.anchor.keyId.toString('hex')}, ours ${b.root.anchor.keyId.toString('hex')}\\)`,
      ),
    );
  },
);

test('IAM: disable and enable are idempotent; a corrupt file fails closed', async () => {
  const dir = join(await tempDir(), 'nested', 'state');
  assert.equal((await readDisabledServiceAccounts(dir)).listed.length, 0);
  await disableServiceAccount(dir, 'a@x.iam');
  await disableServiceAccount(dir, 'a@x.iam');
  await disableServiceAccount(dir, 'b@x.iam');
  assert.deepEqual((await readDisabledServiceAccounts(dir)).listed, ['a@x.iam', 'b@x.iam']);
  await enableServiceAccount(dir, 'a@x.iam');
  await enableServiceAccount(dir, 'c@x.iam');
  assert.deepEqual((await readDisabledServiceAccounts(dir)).listed, ['b@x.iam']);
  await assert.rejects(disableServiceAccount(dir, ''), /must not be empty/);
  await writeFile(join(dir, 'iam.json'), '{"disabledServiceAccounts": "everyone"}');
  await assert.rejects(readDisabledServiceAccounts(dir), /list of strings/);
});
