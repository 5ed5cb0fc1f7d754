// `npm run demo` must leave nothing behind however it ends: output cut off by a reader that stops
// (`npm run demo | head`), or a stop signal mid-run. Its processes are found by an environment
// variable that they all inherit, so a child re-parented to PID 1 is found too; its temp dir by
// giving it a TMPDIR of its own.
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROGRAMS } from '@grpc-alts/test-support/processes';

/** Set in the demo's environment only; every process that carries it belongs to one demo run. */
const MARKER_VARIABLE = 'OT_BOOKING_DEMO_CLEANUP_TEST';
/** The line after which the demo runs both emulators and the server. */
const CHILDREN_RUNNING = /ot-booking-server listens on /;
/** Two emulated VMs and the back end. */
const CHILDREN_AT_THAT_POINT = 3;
/** Bounds for a loaded machine: reaching that line (three processes started), then exiting. */
const START_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 20_000;
const POLL_MS = 250;
const TEST_TIMEOUT_MS = START_TIMEOUT_MS + 2 * EXIT_TIMEOUT_MS;

type Demo = ChildProcessByStdio<null, Readable, Readable>;

/** PIDs of the live processes whose environment holds `marker` (zombies have none left). */
async function markedPids(marker: string): Promise<number[]> {
  const entry = `${MARKER_VARIABLE}=${marker}`;
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const marked = await Promise.all(
    pids.map(async (pid) => {
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      return environ.split('\0').includes(entry) ? Number(pid) : undefined;
    }),
  );
  return marked.filter((pid) => pid !== undefined);
}

/** Polls until no process holds `marker`, or `EXIT_TIMEOUT_MS`; returns those left. */
async function waitForNoMarked(marker: string): Promise<number[]> {
  const until = Date.now() + EXIT_TIMEOUT_MS;
  let left = await markedPids(marker);
  while (left.length > 0 && Date.now() < until) {
    await sleep(POLL_MS);
    left = await markedPids(marker);
  }
  return left;
}

function startDemo(tempRoot: string, marker: string): Demo {
  return spawn(process.execPath, [PROGRAMS.demo], {
    env: { ...process.env, TMPDIR: tempRoot, [MARKER_VARIABLE]: marker },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves once the demo prints the line after which its children run. */
function childrenRunning(demo: Demo): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${CHILDREN_RUNNING.source}" line within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    const lines = createInterface({ input: demo.stdout });
    lines.on('line', (line) => {
      if (!CHILDREN_RUNNING.test(line)) return;
      clearTimeout(timer);
      lines.close();
      resolve();
    });
    demo.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code}) before its children ran`));
    });
  });
}

/** Resolves with the exit code (or signal) and everything printed on stderr. */
async function exited(demo: Demo): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  let stderr = '';
  demo.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const timer = setTimeout(() => demo.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  const [code, signal] = (await once(demo, 'close')) as [number | null, string | null];
  clearTimeout(timer);
  return { code, signal, stderr };
}

describe('npm run demo cleans up when cut off or signalled', {
  skip: process.platform !== 'linux' && 'finds processes through /proc',
}, () => {
  let tempRoot: string;
  let marker: string;

  beforeEach(async () => {
    tempRoot = await mkdtemp(join(tmpdir(), 'demo-cleanup-'));
    marker = randomUUID();
  });
  afterEach(async () => {
    // A failed run must not leave its processes to the next tests.
    for (const pid of await markedPids(marker)) process.kill(pid, 'SIGKILL');
    await rm(tempRoot, { recursive: true, force: true });
  });

  /** Starts the demo and returns it once its children run, with their PIDs. */
  async function demoWithChildren(): Promise<{ demo: Demo; children: number[] }> {
    const demo = startDemo(tempRoot, marker);
    await childrenRunning(demo);
    const children = (await markedPids(marker)).filter((pid) => pid !== demo.pid);
    assert.ok(
      children.length >= CHILDREN_AT_THAT_POINT,
      `expected the emulators and the server to run, found PIDs ${children.join(', ')}`,
    );
    return { demo, children };
  }

  async function assertNothingLeft(children: number[]): Promise<void> {
    assert.deepEqual(await waitForNoMarked(marker), [], `processes left behind (children were ${children})`);
    assert.deepEqual(await readdir(tempRoot), [], 'the demo left its temp dir');
  }

  it('its reader closing the pipe (| head): exits 0 silently, stops every child, removes its temp dir', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { demo, children } = await demoWithChildren();
    const done = exited(demo);
    // What `head` does once it has its lines: the demo's next write fails with EPIPE.
    demo.stdout.destroy();
    const { code, signal, stderr } = await done;
    assert.deepEqual({ code, signal, stderr }, { code: 0, signal: null, stderr: '' });
    await assertNothingLeft(children);
  });

  for (const stopSignal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${stopSignal} mid-run: exits 128 + signal, stops every child, removes its temp dir`, {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const { demo, children } = await demoWithChildren();
      demo.stdout.resume();
      const done = exited(demo);
      demo.kill(stopSignal);
      const { code, stderr } = await done;
      assert.equal(code, 128 + constants.signals[stopSignal], stderr);
      assert.match(stderr, new RegExp(`${stopSignal}: stopping`));
      await assertNothingLeft(children);
    });
  }
});
