// `alts-emulator run` as a process: what the command sees, that its stdio, exit status and signals
// are its own, and that nothing is left behind. Linux with mount namespaces only (else skipped with
// the reason); as root the rootless path is tested too, as the user nobody.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanupsAfterAll, collect, connect, relayHandshake } from '../emulator.test.util.js';
import { checkSandboxSupport, GCE_PRODUCT_NAME, sandboxMode } from './sandbox.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
const SA = 'runner@project.iam.gserviceaccount.com';
/** The unprivileged user the rootless path runs as when the tests run as root. */
const NOBODY_UID = 65534;
const asNobody = ['setpriv', `--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups'];
const RELAY = new URL('../emulator.test.util.js', import.meta.url).href;
/**
 * A node program (ESM; argv: handshaker address, RELAY) that relays a handshake between two
 * streams of that handshaker and prints the client's local and the server's peer identity, or
 * "failed" and the error.
 */
const HANDSHAKE = `const { connect, relayHandshake } = await import(process.argv[2]);
const service = connect(process.argv[1]);
try {
  const o = await relayHandshake(service, service);
  console.log(o.client.result?.localIdentity?.serviceAccount, o.server.result?.peerIdentity?.serviceAccount);
} catch (error) {
  console.log('failed', error.message);
}
service.close();`;
/** Generous bound for a process to go away after its parent was SIGKILLed (loaded 2-core CI). */
const GONE_WITHIN_MS = 20_000;

function unsupported(): string | false {
  try {
    checkSandboxSupport(sandboxMode());
    return false;
  } catch (error) {
    return (error as Error).message;
  }
}
const skip = unsupported();
const isRoot = process.geteuid?.() === 0;

const cleanups = cleanupsAfterAll();

/**
 * Shell code printing the shell's pid as the host sees it: in the sandbox's PID namespace `$$` is
 * the namespace's number, while /proc is still the host's.
 */
const ECHO_HOST_PID = 'read -r pid _ < /proc/self/stat; echo "$pid"';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function connectTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

/** A private directory (state dir, TMPDIR), owned by `uid` when given. */
async function privateDir(uid?: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'alts-run-test-'));
  if (uid !== undefined) await chown(dir, uid, uid);
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Started {
  child: ChildProcess;
  /** TMPDIR of the run: where its sandbox files live while it runs. */
  scratch: string;
}

/**
 * `alts-emulator run <identity> -- command` (identity: `--service-account SA` unless given), as
 * nobody when `rootless` and root.
 */
async function startRun(
  command: readonly string[],
  rootless = false,
  identity: readonly string[] = ['--service-account', SA],
): Promise<Started> {
  const uid = rootless ? NOBODY_UID : undefined;
  const [stateDir, scratch] = await Promise.all([privateDir(uid), privateDir(uid)]);
  const run = [process.execPath, CLI, 'run', ...identity, '--state-dir', stateDir, '--', ...command];
  const argv = rootless ? [...asNobody, ...run] : run;
  const [file, ...args] = argv as [string, ...string[]];
  const env = { ...process.env, TMPDIR: scratch };
  return { child: spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env }), scratch };
}

async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

/**
 * For a run whose command prints the metadata name's address and waits for a line on stdin: the
 * emulator there handshakes both sides as `account`; then the command is let go and exits 0.
 */
async function expectServedAs(child: ChildProcess, account: string): Promise<void> {
  const done = collect(child);
  const address = `${(await firstLine(child)).split(/\s/)[0]}:8080`;
  const service = connect(address);
  const outcome = await relayHandshake(service, service);
  service.close();
  assert.equal(outcome.client.result?.localIdentity?.serviceAccount, account);
  assert.equal(outcome.server.result?.peerIdentity?.serviceAccount, account);
  child.stdin?.end('\n');
  assert.equal((await done).code, 0);
}

for (const rootless of [false, true]) {
  const label = rootless ? 'rootless (as nobody)' : sandboxMode();
  const skipRootless = rootless && !isRoot && 'not root: the run above already was the rootless path';
  describe(`alts-emulator run, ${label}`, { skip: skip || skipRootless }, () => {
    it(
      'the command sees a Compute Engine VM and metadata.google.internal(.) on its own loopback; ' +
        'its stdin, stdout and exit status are its own',
      async () => {
        const { child, scratch } = await startRun(
          [
            '/bin/sh',
            '-c',
            'cat /sys/class/dmi/id/product_name; getent hosts metadata.google.internal; getent hosts ' +
              'metadata.google.internal.; id -u; read line; echo "stdin: $line"; exit 7',
          ],
          rootless,
        );
        const done = collect(child);
        child.stdin?.end('hello\n');
        const { code, stdout, stderr } = await done;
        assert.equal(code, 7, stderr);
        const [product, short, dotted, uid, echoed, ...rest] = stdout.split('\n');
        assert.equal(product, GCE_PRODUCT_NAME);
        const address = /^(127\.0\.0\.\d+)\s/.exec(short ?? '')?.[1];
        assert.ok(address && address !== '127.0.0.1', `metadata.google.internal is ${short}`);
        assert.match(dotted ?? '', new RegExp(`^${address.replaceAll('.', '\\.')}\\s`));
        assert.equal(
          uid,
          String(rootless ? NOBODY_UID : process.getuid?.()),
          'the command runs as its caller',
        );
        assert.equal(echoed, 'stdin: hello');
        assert.deepEqual(rest, [''], 'nothing of the emulator on stdout (no READY line)');
        assert.match(stderr, new RegExp(`^alts-emulator: \\S+ listening on ${address}:8080 as "${SA}"`, 'm'));
        // Issue 21 finding 9: two names, so "resolve to", not "is".
        assert.ok(
          stderr.includes(
            `run: metadata.google.internal and metadata.google.internal. resolve to ${address} for "/bin/sh"`,
          ),
          stderr,
        );
        assert.deepEqual(await readdir(scratch), [], 'the sandbox files are removed');
      },
    );

    it(
      'HARDENING 46: the emulator at that address handshakes as the chosen account for the command; ' +
        'a process of another uid is refused',
      async () => {
        const { child } = await startRun(
          [
            '/bin/sh',
            '-c',
            'getent hosts metadata.google.internal.; "$0" --input-type=module -e "$1" ' +
              'metadata.google.internal.:8080 "$2"; read line',
            process.execPath,
            HANDSHAKE,
            RELAY,
          ],
          rootless,
        );
        const done = collect(child);
        const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
        const [address, inside] = [(await once(lines, 'line'))[0], (await once(lines, 'line'))[0]] as [
          string,
          string,
        ];
        lines.close();
        assert.equal(inside, `${SA} ${SA}`, 'the command handshakes as its account on both sides');
        // As root, the run as root is refused to nobody and the run as nobody to root.
        if (isRoot) {
          const outsider = [
            process.execPath,
            '--input-type=module',
            '-e',
            HANDSHAKE,
            `${address.split(/\s/)[0]}:8080`,
            RELAY,
          ];
          const [file, ...args] = (rootless ? outsider : [...asNobody, ...outsider]) as [string, ...string[]];
          const ran = await collect(spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
          assert.match(ran.stdout, /^failed stream ended: 14 /, 'UNAVAILABLE: closed at accept');
        }
        child.stdin?.end('\n');
        const { code, stderr } = await done;
        assert.equal(code, 0, stderr);
        if (isRoot)
          assert.match(stderr, /closed a connection: its other end is uid \d+, and this emulator serves uid/);
      },
    );

    it('SIGTERM and (stdin not a terminal) SIGINT reach the command; run ends the way it did', async () => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const { child } = await startRun(['/bin/sh', '-c', 'echo started; exec sleep 600'], rootless);
        await firstLine(child);
        child.kill(signal);
        const [code, gotSignal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
        assert.deepEqual([code, gotSignal], [null, signal]);
      }
    });

    it('a run killed outright takes its command with it (parent-death signal)', async () => {
      const { child } = await startRun(['/bin/sh', '-c', `${ECHO_HOST_PID}; exec sleep 600`], rootless);
      const pid = Number(await firstLine(child));
      child.kill('SIGKILL');
      const deadline = Date.now() + GONE_WITHIN_MS;
      while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(alive(pid), false, `the command (pid ${pid}) outlived its run`);
    });

    it(
      'HARDENING 44: a launcher killed by SIGTERM leaves no process behind, ' + 'and its emulator is stopped',
      async () => {
        // As `npx server` or `go run`: the launcher starts the real server and waits; SIGTERM ends
        // only the launcher. The server listens and prints its pid as the host sees it.
        const server = `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => {
        const pid = require('node:fs').readFileSync('/proc/self/stat', 'latin1').split(' ')[0];
        console.log('server', pid, s.address().port);
      });`;
        const { child } = await startRun(
          [
            '/bin/sh',
            '-c',
            '"$0" -e "$1" & getent hosts metadata.google.internal.; exec sleep 600',
            process.execPath,
            server,
          ],
          rootless,
        );
        const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
        let address: string | undefined;
        let serverPid = 0;
        let serverPort = 0;
        for await (const line of lines) {
          const [first, pid, port] = line.split(/\s+/);
          if (first === 'server') [serverPid, serverPort] = [Number(pid), Number(port)];
          else address = first;
          if (address !== undefined && serverPid !== 0) break;
        }
        assert.ok(address && alive(serverPid), 'the background server runs');
        child.kill('SIGTERM');
        const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
        assert.deepEqual([code, signal], [null, 'SIGTERM'], 'run ends as its command did');
        lines.close();
        const survived = alive(serverPid);
        // Before the test fails: a survivor holds the test's pipe open and would hang it.
        if (survived) process.kill(serverPid, 'SIGKILL');
        assert.equal(survived, false, `the background server (pid ${serverPid}) outlived its run`);
        for (const port of [serverPort, 8080]) {
          const host = port === 8080 ? address : '127.0.0.1';
          await assert.rejects(
            connectTcp(host, port),
            { code: 'ECONNREFUSED' },
            `${host}:${port} still answers`,
          );
        }
      },
    );
  });
}

describe('alts-emulator run --bundle', { skip }, () => {
  it('serves the account of a bundle issued by init + issue (the team PKI)', async () => {
    const admin = await privateDir();
    const rootDir = join(admin, 'root');
    const bundle = join(admin, 'vm.json');
    const account = 'bundled@project.iam.gserviceaccount.com';
    for (const args of [
      ['init', '--root-dir', rootDir],
      ['issue', account, '--out', bundle, '--root-dir', rootDir],
    ]) {
      const { code, stderr } = await collect(spawn(process.execPath, [CLI, ...args]));
      assert.equal(code, 0, stderr);
    }
    const { child } = await startRun(
      ['/bin/sh', '-c', 'getent hosts metadata.google.internal.; read line'],
      false,
      ['--bundle', bundle],
    );
    await expectServedAs(child, account);
  });
});

describe('alts-emulator run: errors', { skip }, () => {
  it('a command that cannot be found or executed: 127 / 126, as a shell says', async () => {
    assert.equal((await collect((await startRun(['alts-run-test-no-such-command'])).child)).code, 127);
    assert.equal((await collect((await startRun(['/etc/hosts'])).child)).code, 126);
  });

  it('usage errors: one line and a pointer to --help, exit 2', async () => {
    for (const [args, line] of [
      [['run', '--service-account', SA, 'true'], 'run needs -- <command> [args...] after its options'],
      [['run', '--service-account', SA, '--'], 'run needs a command after --'],
      [['run', '--', 'true'], 'run needs --service-account <sa> or --bundle <file>'],
    ] as const) {
      const ran = await collect(
        spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
      );
      assert.equal(ran.code, 2);
      assert.equal(ran.stderr, `alts-emulator: ${line}\nRun 'alts-emulator --help' for usage.\n`);
    }
  });
});
