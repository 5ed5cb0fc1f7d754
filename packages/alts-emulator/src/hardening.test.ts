// HARDENING 33, 34, 35 and 38 on the emulator's side: what an unauthenticated peer can make the
// emulator say, which state directories it trusts, how service accounts are compared and how large
// the IAM state may grow.
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { once } from 'node:events';
import { access, chmod, chown, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { HandshakerResp, HandshakerServiceClient } from '@grpc-alts/handshaker-proto';
import { clientStart, next, REKEY, RPC_VERSIONS, serverStart } from '@grpc-alts/test-support/handshaker';
import { RawHandshakerStream } from '@grpc-alts/test-support/handshaker-stream';
import { startEmulator } from './emulator.js';
import {
  CLIENT,
  cleanupsAfterAll,
  collect,
  connect,
  type Outcome,
  relayHandshake,
  SERVER,
  spawnCli,
  tempStateDir,
} from './emulator.test.util.js';
import { loadBundle } from './pki/bundle.js';
import { bundlePathOf, rootDirOf } from './pki/provision.js';
import { initRoot } from './pki/trust.js';
import { keyIdOf, verifyCertificate } from './protocol/certificate.js';
import { rawPublicKey } from './protocol/keys.js';
import {
  clientFinishedSignedPrefix,
  decodeAlert,
  encodeAlert,
  encodeClientFinished,
  encodeServerFinished,
  encodeServerInit,
} from './protocol/messages.js';
import { MessageType, takeMessage } from './protocol/wire.js';
import { disableServiceAccount, enableServiceAccount, MAX_IAM_FILE_BYTES } from './state/iam.js';

const cleanups = cleanupsAfterAll();

async function stateDir(): Promise<string> {
  const { dir, cleanup } = await tempStateDir();
  cleanups.push(cleanup);
  return dir;
}

async function emulator(
  dir: string,
  serviceAccount = SERVER,
  clientServiceAccount = CLIENT,
): Promise<{ service: HandshakerServiceClient; logs: string[] }> {
  const logs: string[] = [];
  const e = await startEmulator({
    serviceAccount,
    clientServiceAccount,
    stateDir: dir,
    logger: (l) => logs.push(l),
  });
  const service = connect(e.address);
  cleanups.push(
    () => e.stop(),
    () => service.close(),
  );
  return { service, logs };
}

/** The error that keeps an emulator from starting on `dir` (one that starts fails the test). */
async function refusal(dir: string, serviceAccount = SERVER): Promise<string> {
  try {
    const e = await startEmulator({ serviceAccount, stateDir: dir });
    await e.stop();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  assert.fail(`an emulator started as ${JSON.stringify(serviceAccount)} on ${dir}`);
}

/** Runs the CLI to its exit; a `serve` that gets as far as READY is stopped at once. */
function cli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const child = spawnCli(args, options);
  child.stdout?.on('data', (d: Buffer) => {
    if (d.toString().startsWith('READY')) child.kill('SIGTERM');
  });
  return collect(child);
}

function assertSuccess(o: Outcome): void {
  assert.equal(o.client.failure, undefined, o.client.failure?.details);
  assert.equal(o.server.failure, undefined, o.server.failure?.details);
  assert.ok(o.client.result && o.server.result);
}

/** What a log reader or a terminal can be fooled by is outside printable ASCII. */
function assertPrintable(text: string, what: string): void {
  assert.match(
    text,
    /^[\x20-\x7e]*$/,
    `${what} holds a character outside printable ASCII: ${JSON.stringify(text)}`,
  );
}

/** The details of the Alert an error response carries for the peer. */
function alertDetails(resp: HandshakerResp): string {
  const taken = takeMessage(resp.outFrames);
  assert.equal(taken?.message.type, MessageType.ALERT, 'an error response carries an Alert');
  return decodeAlert(taken?.message.body ?? Buffer.alloc(0)).details;
}

/** Label of the root's certificate signature (README "Message formats"). */
const CERTIFICATE_LABEL = Buffer.from('alts-emulator v1 identity certificate\0', 'latin1');

/** A certificate in the emulator's format naming any string, signed by `signer` or not at all. */
function certificate(keyId: Buffer, serviceAccount: string, signer?: KeyObject): Buffer {
  const name = Buffer.from(serviceAccount, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(name.length);
  const identityKey = rawPublicKey(generateKeyPairSync('ed25519').publicKey);
  const body = Buffer.concat([Buffer.from([1]), keyId, identityKey, length, name]);
  const signature =
    signer === undefined ? randomBytes(64) : sign(null, Buffer.concat([CERTIFICATE_LABEL, body]), signer);
  return Buffer.concat([body, signature]);
}

/** The 32-byte Ed25519 seed of a PEM private key: what a process that loaded the key holds in memory. */
function seedOf(pem: string): Buffer {
  return Buffer.from(createPrivateKey(pem).export({ format: 'jwk' }).d as string, 'base64url');
}

/** Bytes read from another process's memory at a time. */
const MEMORY_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * Which of `needles` the writable memory of process `pid` holds (heap, V8 heap, stacks: where
 * loaded keys live), read through /proc/<pid>/mem, which a parent may read. Chunks overlap so a
 * needle across a boundary is found.
 */
async function memoryHolds(pid: number, needles: Buffer[]): Promise<boolean[]> {
  const longest = Math.max(...needles.map((n) => n.length));
  const found = needles.map(() => false);
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8');
  const mem = await open(`/proc/${pid}/mem`, 'r');
  const chunk = Buffer.alloc(MEMORY_CHUNK_BYTES);
  try {
    for (const line of maps.split('\n')) {
      const region = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
      if (!region) continue;
      const end = Number.parseInt(region[2] as string, 16);
      for (let at = Number.parseInt(region[1] as string, 16); at < end; at += MEMORY_CHUNK_BYTES - longest) {
        const length = Math.min(MEMORY_CHUNK_BYTES, end - at);
        // A region unmapped since /proc/<pid>/maps was read cannot be read (EIO): skip it.
        const read = await mem.read(chunk, 0, length, at).catch(() => undefined);
        if (read === undefined) break;
        const view = chunk.subarray(0, read.bytesRead);
        needles.forEach((needle, i) => {
          found[i] ||= view.includes(needle);
        });
        if (at + length >= end) break;
      }
    }
  } finally {
    await mem.close();
  }
  return found;
}

/** A whole log line as an attacker would like to see it in the operator's log. */
const FORGED_LINE =
  '2030-01-01T00:00:00.000Z handshake #1 role=server local="server@p" ok ' +
  'peer="admin@project.iam.gserviceaccount.com"';

describe('HARDENING 33: log forging', () => {
  test('a forged Alert reaches no status details or log line raw, and is cut short', async () => {
    const { service, logs } = await emulator(await stateDir());
    const controls = '\r\u001b[2K\u0085\u2028\u2029\u202e\u2066\u007f\u200f\ud800';
    const alert = encodeAlert({
      code: status.PERMISSION_DENIED,
      details: `no\n${FORGED_LINE}${controls}${'x'.repeat(800)}`,
    });
    // As the first message a server sees, and as the server flight a client sees.
    const s = new RawHandshakerStream(service);
    const toServer = await s.send(serverStart(alert));
    const c = new RawHandshakerStream(service);
    await c.send(clientStart());
    const toClient = await c.send(next(alert));
    await Promise.all([s.status, c.status]);
    for (const resp of [toServer, toClient]) {
      assert.equal(resp.status?.code, status.PERMISSION_DENIED);
      const details = resp.status?.details ?? '';
      assertPrintable(details, 'status details');
      assert.ok(details.length < 300, `details of ${details.length} characters`);
      assert.match(details, /aborted the handshake: "no\\n2030-01-01/, 'rendered escaped, still readable');
    }
    for (const line of logs) {
      assertPrintable(line, 'a log line');
      assert.match(line, /^(listening on |handshake #\d+ role=)/);
    }
  });

  test('the identity of an unverified certificate is never echoed', async () => {
    const dir = await stateDir();
    const { service, logs } = await emulator(dir);
    const ourKeyId = (await loadBundle(bundlePathOf(dir, SERVER))).anchor.keyId;
    const strangerRoot = generateKeyPairSync('ed25519').privateKey;
    const claim = `admin@project.iam.gserviceaccount.com\n${FORGED_LINE}\u001b[2K\u202e`;
    const forged = {
      'another root': certificate(keyIdOf(strangerRoot), claim, strangerRoot),
      "our root's key id, no valid signature": certificate(ourKeyId, claim),
    };
    for (const [name, cert] of Object.entries(forged)) {
      // A client side gets it in ServerInit...
      const c = new RawHandshakerStream(service);
      await c.send(clientStart());
      const serverFlight = Buffer.concat([
        encodeServerInit({
          ephemeralKey: randomBytes(32),
          rpcVersions: RPC_VERSIONS,
          maxFrameSize: 0,
          applicationProtocol: 'grpc',
          recordProtocol: REKEY,
          certificate: cert,
        }),
        encodeServerFinished({ signature: Buffer.alloc(64), mac: Buffer.alloc(32) }),
      ]);
      const toClient = await c.send(next(serverFlight));
      // ...a server side in ClientFinished.
      const peer = new RawHandshakerStream(service);
      const clientInit = (await peer.send(clientStart())).outFrames;
      const s = new RawHandshakerStream(service);
      await s.send(serverStart(clientInit));
      const clientFinished = encodeClientFinished(
        clientFinishedSignedPrefix(cert),
        Buffer.alloc(64),
        Buffer.alloc(32),
      );
      const toServer = await s.send(next(clientFinished));
      peer.cancel();
      for (const resp of [toClient, toServer]) {
        assert.equal(resp.status?.code, status.UNAUTHENTICATED, name);
        for (const text of [resp.status?.details ?? '', alertDetails(resp)]) {
          assert.doesNotMatch(text, /admin/, name);
          assertPrintable(text, `${name}: details`);
        }
      }
    }
    for (const line of logs) {
      assert.doesNotMatch(line, /admin/);
      assertPrintable(line, 'a log line');
    }
  });
});

describe('HARDENING 34: the trust root comes only from a private state directory', () => {
  test('a state directory writable by group or others is refused, naming the path and the fix', async () => {
    const dir = await stateDir();
    await chmod(dir, 0o775);
    const message = await refusal(dir);
    assert.ok(message.includes(dir), message);
    assert.match(message, /writable by group or others/);
    assert.match(message, /chmod 700/);
    assert.deepEqual(await readdir(dir), [], 'nothing was created in it');
  });

  test(
    'HARDENING 34: a shared directory (/tmp-like, sticky or world-writable) ' +
      'gets a private one advised, never a chmod',
    async () => {
      for (const mode of [0o1777, 0o757, 0o777]) {
        const dir = await stateDir();
        await chmod(dir, mode);
        const message = await refusal(dir);
        assert.ok(message.includes(dir), message);
        assert.match(message, /shared directory .*do not change its mode, use a private directory instead/);
        assert.match(message, /mkdir -m 700 <dir>/);
        assert.doesNotMatch(message, /chmod/);
        assert.deepEqual(await readdir(dir), [], 'nothing was created in it');
      }
    },
  );

  test('the CLI refuses it too: serve, disable and enable fail with the reason', async () => {
    const dir = await stateDir();
    await chmod(dir, 0o1777);
    const commands = [
      ['serve', '--listen', '127.0.0.1:0', '--service-account', SERVER],
      ['disable', CLIENT],
      ['enable', CLIENT],
    ];
    for (const args of commands) {
      const { code, stdout, stderr } = await cli([...args, '--state-dir', dir]);
      assert.equal(code, 1, `${args[0]}: ${stderr}`);
      assert.equal(stdout, '');
      assert.ok(stderr.includes(dir), stderr);
      assert.match(stderr, /use a private directory instead/);
      assert.doesNotMatch(stderr, /chmod/);
    }
  });

  test('a root key, bundle or IAM file that others may read or write is refused', async () => {
    const dir = await stateDir();
    await (await startEmulator({ serviceAccount: SERVER, stateDir: dir })).stop();
    const key = join(rootDirOf(dir), 'root-key.pem');
    const bundle = bundlePathOf(dir, SERVER);
    for (const mode of [0o644, 0o620, 0o602]) {
      await chmod(key, mode);
      // Issuing a new identity reads the root key; serving the issued one does not.
      const message = await refusal(dir, CLIENT);
      assert.ok(message.includes(key), message);
      assert.match(message, /chmod 600/);
      await (await startEmulator({ serviceAccount: SERVER, stateDir: dir })).stop();
      await chmod(bundle, mode);
      const bundleMessage = await refusal(dir);
      assert.ok(bundleMessage.includes(bundle), bundleMessage);
      assert.match(bundleMessage, /readable or writable by group or others.*chmod 600/);
      await chmod(bundle, 0o600);
    }
    await chmod(key, 0o600);
    await disableServiceAccount(dir, 'someone@project.iam.gserviceaccount.com');
    const iam = join(dir, 'iam.json');
    await chmod(iam, 0o666);
    await assert.rejects(enableServiceAccount(dir, 'someone@project.iam.gserviceaccount.com'), (e: Error) => {
      assert.ok(e.message.includes(iam), e.message);
      assert.match(e.message, /writable by group or others.*chmod 600/);
      return true;
    });
    // A running emulator fails handshakes closed rather than trust the file.
    const { service } = await emulator(dir);
    const resp = await new RawHandshakerStream(service).send(clientStart());
    assert.equal(resp.status?.code, status.INTERNAL);
    assert.match(resp.status?.details ?? '', /chmod 600/);
    await chmod(iam, 0o600);
    assertSuccess(await relayHandshake(service, service));
  });

  test('a state directory, root key or IAM file owned by another user is refused', {
    skip: process.getuid?.() !== 0 && 'giving a file away (chown) needs root',
  }, async () => {
    const NOBODY = 65534;
    const dir = await stateDir();
    await chown(dir, NOBODY, NOBODY);
    assert.match(await refusal(dir), /owned by uid 65534, not by you/);
    const other = await stateDir();
    await (await startEmulator({ serviceAccount: SERVER, stateDir: other })).stop();
    await chown(join(rootDirOf(other), 'root-key.pem'), NOBODY, NOBODY);
    assert.match(await refusal(other, CLIENT), /root-key\.pem.*owned by uid 65534/);
    await chown(bundlePathOf(other, SERVER), NOBODY, NOBODY);
    assert.match(await refusal(other), /bundles\/\w+\.json.*owned by uid 65534/);
    const third = await stateDir();
    await disableServiceAccount(third, CLIENT);
    await chown(join(third, 'iam.json'), NOBODY, NOBODY);
    await assert.rejects(enableServiceAccount(third, CLIENT), /iam\.json.*owned by uid 65534/);
  });

  test('what it creates is private (directories 0700, files 0600) whatever the umask', async () => {
    const dir = join(await stateDir(), 'parent', 'state');
    const umask = process.umask(0);
    try {
      await (await startEmulator({ serviceAccount: SERVER, stateDir: dir })).stop();
      await disableServiceAccount(dir, CLIENT);
    } finally {
      process.umask(umask);
    }
    const bundles = join(dir, 'bundles');
    for (const d of [join(dir, '..'), dir, rootDirOf(dir), bundles]) {
      assert.equal((await stat(d)).mode & 0o777, 0o700, d);
    }
    const files = [join(rootDirOf(dir), 'root-key.pem'), join(dir, 'iam.json')];
    for (const name of await readdir(bundles)) files.push(join(bundles, name));
    assert.equal(files.length, 3);
    for (const f of files) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
  });

  test('a serving emulator holds no root private key: its memory has its identity key, never the root key', {
    skip: process.platform !== 'linux' && 'reads the process memory through Linux /proc/<pid>/mem',
  }, async () => {
    const dir = await stateDir();
    // Zero-setup: the serving process has the root created and its identity issued by a child.
    const child = spawnCli([
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--service-account',
      SERVER,
      '--state-dir',
      dir,
    ]);
    const done = collect(child);
    try {
      const [ready] = (await once(child.stdout as NonNullable<typeof child.stdout>, 'data')) as [Buffer];
      const address = /^READY (\S+)\n$/.exec(ready.toString())?.[1];
      assert.ok(address, ready.toString());
      const service = connect(address);
      assertSuccess(await relayHandshake(service, service));
      service.close();
      const rootSeed = seedOf(await readFile(join(rootDirOf(dir), 'root-key.pem'), 'utf8'));
      const bundle = JSON.parse(await readFile(bundlePathOf(dir, SERVER), 'utf8')) as { identityKey: string };
      const [identityHeld, rootHeld] = await memoryHolds(child.pid as number, [
        seedOf(bundle.identityKey),
        rootSeed,
      ]);
      assert.ok(identityHeld, 'the scan finds the identity key the emulator signs with (the control)');
      assert.equal(rootHeld, false, 'the root private key is in the serving process');
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  });

  test('the default state directory is private to the user: $XDG_STATE_HOME or ~/.local/state', async () => {
    const cases: Array<[string | undefined, (home: string) => string]> = [
      [undefined, (home) => join(home, '.local', 'state', 'alts-emulator')],
      ['', (home) => join(home, '.local', 'state', 'alts-emulator')],
      // The XDG spec has a relative value ignored.
      ['relative/state', (home) => join(home, '.local', 'state', 'alts-emulator')],
      ['/absolute', (home) => join(home, 'xdg', 'alts-emulator')],
    ];
    for (const [xdg, expected] of cases) {
      const home = await stateDir();
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
      delete env.XDG_STATE_HOME;
      if (xdg !== undefined) env.XDG_STATE_HOME = xdg === '/absolute' ? join(home, 'xdg') : xdg;
      const { code, stderr } = await cli(['disable', CLIENT], { env, cwd: home });
      assert.equal(code, 0, stderr);
      const dir = expected(home);
      await access(join(dir, 'iam.json'));
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      assert.deepEqual(
        (await readdir(home)).filter((n) => n !== '.local' && n !== 'xdg'),
        [],
        `XDG_STATE_HOME=${xdg}`,
      );
    }
    const help = await cli(['--help']);
    assert.match(
      help.stdout,
      /Default\s+\$XDG_STATE_HOME\/alts-emulator, else ~\/\.local\/state\/alts-emulator/,
    );
  });
});

describe('HARDENING 35: one identity rule, ASCII letters fold and nothing else', () => {
  const KIOSK = 'kiosk@project.iam.gserviceaccount.com';
  /** Spellings that look like KIOSK or differ only outside ASCII letters: none may match it. */
  const LOOK_ALIKES = [
    '\u212aiosk@project.iam.gserviceaccount.com', // KELVIN SIGN, which Unicode folds to 'k'
    'k\u0131osk@project.iam.gserviceaccount.com', // Turkish dotless i
    'K\u0130OSK@project.iam.gserviceaccount.com', // Turkish dotted capital I
    '\uff4biosk@project.iam.gserviceaccount.com', // fullwidth k
    ` ${KIOSK}`,
    `${KIOSK} `,
    `${KIOSK}\n`,
  ];

  test('disabling x@p stops X@p, and enabling X@p lets x@p in again', async () => {
    const dir = await stateDir();
    const { service } = await emulator(dir, SERVER, 'Client@Project.iam.gserviceaccount.com');
    await disableServiceAccount(dir, CLIENT);
    const resp = await new RawHandshakerStream(service).send(clientStart());
    assert.equal(resp.status?.code, status.PERMISSION_DENIED);
    await enableServiceAccount(dir, CLIENT.toUpperCase());
    assertSuccess(await relayHandshake(service, service));
    await disableServiceAccount(dir, SERVER.toUpperCase());
    const o = await relayHandshake(service, service);
    assert.equal(o.server.failure?.code, status.PERMISSION_DENIED);
  });

  test('target and local identities match in any ASCII case, never through look-alikes', async () => {
    const { service } = await emulator(await stateDir(), KIOSK, CLIENT);
    for (const target of [KIOSK.toUpperCase(), 'Kiosk@Project.iam.gserviceaccount.com']) {
      assertSuccess(
        await relayHandshake(service, service, {
          clientStart: { targetIdentities: [{ serviceAccount: target }] },
        }),
      );
    }
    for (const target of LOOK_ALIKES) {
      const o = await relayHandshake(service, service, {
        clientStart: { targetIdentities: [{ serviceAccount: target }] },
      });
      assert.equal(o.client.failure?.code, status.PERMISSION_DENIED, JSON.stringify(target));
    }
    const asKiosk = await relayHandshake(service, service, {
      clientStart: { localIdentity: { serviceAccount: 'KIOSK@project.iam.gserviceaccount.com' } },
    });
    assertSuccess(asKiosk);
    assert.equal(asKiosk.client.result?.localIdentity?.serviceAccount, KIOSK);
    const lookAlike = await relayHandshake(service, service, {
      clientStart: { localIdentity: { serviceAccount: LOOK_ALIKES[0] } },
    });
    assert.equal(lookAlike.client.failure?.code, status.PERMISSION_DENIED);
  });

  test(
    'no certificate is issued or accepted, and no IAM entry written, ' +
      'for an account outside visible ASCII',
    async () => {
      const dir = await stateDir();
      for (const sa of LOOK_ALIKES) {
        assert.match(await refusal(dir, sa), /visible ASCII/, JSON.stringify(sa));
        await assert.rejects(disableServiceAccount(dir, sa), /visible ASCII/, JSON.stringify(sa));
      }
      const { root } = await initRoot(rootDirOf(dir));
      for (const sa of LOOK_ALIKES) {
        const signed = certificate(root.anchor.keyId, sa, root.privateKey);
        assert.throws(() => verifyCertificate(signed, root.anchor), /visible ASCII/, JSON.stringify(sa));
      }
    },
  );
});

test(
  'HARDENING 38: an IAM file of thousands of accounts works; ' + 'disable refuses to grow it past its bound',
  async () => {
    const dir = await stateDir();
    const { service } = await emulator(dir);
    const iam = join(dir, 'iam.json');
    const write = (accounts: string[]) =>
      writeFile(iam, `${JSON.stringify({ disabledServiceAccounts: accounts }, null, 2)}\n`, { mode: 0o600 });
    // 2 000 accounts: ~110 KiB, past the old 64 KiB read limit.
    await write(Array.from({ length: 2000 }, (_, i) => `retired-${i}@project.iam.gserviceaccount.com`));
    assertSuccess(await relayHandshake(service, service));
    assert.equal((await cli(['disable', CLIENT, '--state-dir', dir])).code, 0);
    assert.equal((await relayHandshake(service, service)).client.failure?.code, status.PERMISSION_DENIED);
    assert.equal((await cli(['enable', CLIENT, '--state-dir', dir])).code, 0);
    assertSuccess(await relayHandshake(service, service));

    // Filled to just under the bound with the longest accounts; one more would cross it.
    const long = (i: number) => `${String(i).padStart(6, '0')}${'a'.repeat(1000)}@p.iam`;
    const entryBytes = Buffer.byteLength(`    "${long(0)}",\n`);
    const count = Math.floor((MAX_IAM_FILE_BYTES - 64) / entryBytes);
    await write(Array.from({ length: count }, (_, i) => long(i)));
    const full = await readFile(iam, 'utf8');
    assert.ok(full.length <= MAX_IAM_FILE_BYTES && full.length + entryBytes > MAX_IAM_FILE_BYTES);
    await assert.rejects(disableServiceAccount(dir, long(count)), /1 MiB|1048576/);
    const { code, stderr } = await cli(['disable', long(count), '--state-dir', dir]);
    assert.equal(code, 1);
    assert.match(stderr, /cannot disable/);
    assert.equal(await readFile(iam, 'utf8'), full, 'the file is unchanged');
    assertSuccess(await relayHandshake(service, service));
  },
);
