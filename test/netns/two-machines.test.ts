// Issue 17 item 3: the tutorial's two-VM topology for real. Two Linux network namespaces (two
// "machines", each with its own loopback) joined by a veth pair; on each, an emulator started from
// its own copy of a bundle issued once from one trust root, which is deleted before anything
// serves. The OT booking server runs on one, the client on the other, over the veth addresses.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { PROGRAMS, run, stopAll, track } from '@grpc-alts/test-support/processes';

const SERVER_SA = 'backend@hospital-netns.iam.gserviceaccount.com';
const CLIENT_SA = 'frontend@hospital-netns.iam.gserviceaccount.com';
const OTHER_SA = 'reporting@hospital-netns.iam.gserviceaccount.com';
/** The veth pair's subnet: private (RFC 1918), and only inside this test's namespaces. */
const SERVER_IP = '10.201.0.1';
const CLIENT_IP = '10.201.0.2';
const PREFIX_LENGTH = 24;
const UNAVAILABLE = 64 + 14;
const PERMISSION_DENIED = 64 + 7;
/** How long a program may take to print READY in its namespace on a loaded 2-core machine. */
const READY_TIMEOUT_MS = 30_000;
/** A client call, handshake included, on a loaded machine. */
const CALL_TIMEOUT_MS = 30_000;

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and a veth pair';
  if (spawnSync('ip', ['-V']).error !== undefined)
    return 'needs the ip command (Debian: apt-get install iproute2)';
  return false;
}

/** Unique per run, so parallel runs never share a namespace; veth names must fit in 15 bytes. */
const RUN_ID = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
const SERVER_NS = `alts-srv-${RUN_ID}`;
const CLIENT_NS = `alts-cli-${RUN_ID}`;
const SERVER_VETH = `as${RUN_ID}`;
const CLIENT_VETH = `ac${RUN_ID}`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function deleteNamespaces(): void {
  // Deleting a namespace destroys the veth end in it, and with it the pair.
  for (const ns of [SERVER_NS, CLIENT_NS]) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
}

/** A namespace with loopback up and one veth end addressed `address`. */
function machine(ns: string, veth: string, address: string): void {
  ip('netns', 'add', ns);
  ip('link', 'set', veth, 'netns', ns);
  ip('-n', ns, 'addr', 'add', `${address}/${PREFIX_LENGTH}`, 'dev', veth);
  ip('-n', ns, 'link', 'set', veth, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
}

function inNamespace(ns: string, script: string, args: string[]): ChildProcess {
  return track(() =>
    spawn('ip', ['netns', 'exec', ns, process.execPath, script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Starts a program in `ns` and resolves with the address of its READY line; logs go to `log`. */
function serveIn(ns: string, script: string, args: string[], log: string[]): Promise<string> {
  const child = inNamespace(ns, script, args);
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => log.push(l));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${script} in ${ns}: no READY line`));
    }, READY_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} in ${ns} exited (${code}): ${log.join('\n')}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const address = /^READY (\S+)$/.exec(line)?.[1];
      if (address === undefined) return;
      clearTimeout(timer);
      resolve(address);
    });
  });
}

/** Runs ot-booking-client in the client namespace to its exit. */
async function callFromClientMachine(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = inNamespace(CLIENT_NS, PROGRAMS.client, [
    '--timeout',
    String(CALL_TIMEOUT_MS / 1000),
    ...args,
  ]);
  const closed = once(child, 'close') as Promise<[number | null]>;
  const [stdout, stderr] = await Promise.all([
    text(child.stdout as NodeJS.ReadableStream),
    text(child.stderr as NodeJS.ReadableStream),
  ]);
  const [code] = await closed;
  return { code: code ?? 1, stdout: stdout.trim(), stderr: stderr.trim() };
}

describe('two machines: OT booking across two network namespaces, each emulator from its own bundle', {
  skip: skipReason(),
}, () => {
  let dir: string;
  let server: string;
  const serverLog: string[] = [];
  const clientLog: string[] = [];
  /** The handshaker address on the client machine of each client identity. */
  const handshakers = new Map<string, string>();
  const call = (identity: string, ...args: string[]) =>
    callFromClientMachine(['--handshaker', handshakers.get(identity) ?? '', ...args]);

  before(async () => {
    process.once('exit', deleteNamespaces);
    dir = await mkdtemp(join(tmpdir(), 'alts-netns-'));
    const emulator = async (...args: string[]) => {
      const r = await run(PROGRAMS.emulator, args);
      assert.equal(r.code, 0, `alts-emulator ${args.join(' ')}: ${r.stderr}`);
    };
    // The administrator's side: one root, one bundle per identity, plus a stranger's root.
    const rootDir = join(dir, 'admin', 'root');
    const issued = (name: string) => join(dir, 'admin', 'issued', `${name}.json`);
    await emulator('init', '--root-dir', rootDir);
    for (const [sa, name] of [
      [SERVER_SA, 'server'],
      [CLIENT_SA, 'client'],
      [OTHER_SA, 'other'],
    ]) {
      await emulator('issue', sa as string, '--root-dir', rootDir, '--out', issued(name as string));
    }
    await emulator('init', '--root-dir', join(dir, 'admin', 'stranger-root'));
    await emulator(
      'issue',
      CLIENT_SA,
      '--root-dir',
      join(dir, 'admin', 'stranger-root'),
      '--out',
      issued('stranger'),
    );
    // Copied to the machines, as scp would; then the administrator's files are gone.
    const copy = async (name: string, machineDir: string) => {
      await mkdir(machineDir, { recursive: true, mode: 0o700 });
      const to = join(machineDir, `${name}.json`);
      await copyFile(issued(name), to);
      await chmod(to, 0o600);
      return to;
    };
    const serverBundle = await copy('server', join(dir, 'server-machine'));
    const clientBundles = await Promise.all(
      ['client', 'other', 'stranger'].map((name) => copy(name, join(dir, 'client-machine'))),
    );
    await rm(join(dir, 'admin'), { recursive: true });

    deleteNamespaces();
    ip('link', 'add', SERVER_VETH, 'type', 'veth', 'peer', 'name', CLIENT_VETH);
    machine(SERVER_NS, SERVER_VETH, SERVER_IP);
    machine(CLIENT_NS, CLIENT_VETH, CLIENT_IP);

    const serve = (ns: string, bundle: string, stateDir: string, log: string[]) =>
      serveIn(
        ns,
        PROGRAMS.emulator,
        ['serve', '--listen', '127.0.0.1:0', '--bundle', bundle, '--state-dir', stateDir],
        log,
      );
    const serverHandshaker = await serve(
      SERVER_NS,
      serverBundle,
      join(dir, 'server-machine', 'state'),
      serverLog,
    );
    const clientState = join(dir, 'client-machine', 'state');
    for (const [i, identity] of [CLIENT_SA, OTHER_SA, 'stranger'].entries()) {
      handshakers.set(identity, await serve(CLIENT_NS, clientBundles[i] ?? '', clientState, clientLog));
    }
    server = await serveIn(
      SERVER_NS,
      PROGRAMS.server,
      ['--host', SERVER_IP, '--port', '0', '--handshaker', serverHandshaker, CLIENT_SA],
      serverLog,
    );
  });

  after(async () => {
    await stopAll();
    deleteNamespaces();
    process.off('exit', deleteNamespaces);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('the client machine books over the veth pair; the server logs the client account', async () => {
    assert.equal(server.split(':')[0], SERVER_IP);
    const ok = await call(CLIENT_SA, server, SERVER_SA);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Booking for PT-1204 with DC-3904: 01-Jun-2024 11:30 (Gall bladder stone)');
    assert.ok(
      serverLog.some((l) => l.includes(`getBookingInfo from ${CLIENT_SA}: patient PT-1204`)),
      serverLog.join('\n'),
    );
    assert.ok(
      serverLog.some((l) => l.includes(`ok peer="${CLIENT_SA}"`)),
      'the server machine authenticated the client machine',
    );
  });

  it('the client checks the server account: a wrong target is refused in the handshake', async () => {
    const wrong = await call(CLIENT_SA, server, OTHER_SA);
    assert.equal(wrong.code, UNAVAILABLE);
    assert.match(
      wrong.stderr,
      new RegExp(`the server's identity "${SERVER_SA}" is not among the target identities`),
    );
  });

  it('the server authorises the client account: another account of the same root is denied', async () => {
    const denied = await call(OTHER_SA, server, SERVER_SA);
    assert.equal(denied.code, PERMISSION_DENIED, denied.stderr);
    assert.equal(denied.stderr, `PERMISSION_DENIED: Client ${OTHER_SA} is not authorized`);
  });

  it('a bundle of another root, even for the right account, fails the handshake', async () => {
    const foreign = await call('stranger', server, SERVER_SA);
    assert.equal(foreign.code, UNAVAILABLE);
    assert.match(foreign.stderr, /the peer's certificate was issued by another trust root/);
  });

  it('IAM is per machine: disabling the client account on the server machine shuts it out there', async () => {
    const stateDir = join(dir, 'server-machine', 'state');
    assert.equal((await run(PROGRAMS.emulator, ['disable', CLIENT_SA, '--state-dir', stateDir])).code, 0);
    const disabled = await call(CLIENT_SA, server, SERVER_SA);
    assert.equal(disabled.code, UNAVAILABLE, disabled.stderr);
    assert.ok(
      serverLog.some((l) => l.includes(`IAM: the peer's service account "${CLIENT_SA}" is disabled`)),
      serverLog.join('\n'),
    );
    assert.equal((await run(PROGRAMS.emulator, ['enable', CLIENT_SA, '--state-dir', stateDir])).code, 0);
    assert.equal((await call(CLIENT_SA, server, SERVER_SA)).code, 0);
  });
});
