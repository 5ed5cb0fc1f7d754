// Node's own resource accounting, for leak checks: live handles by kind, file descriptors, memory,
// and a full GC so heap figures compare retained memory only.
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface Resources {
  sockets: number;
  servers: number;
  timers: number;
  processes: number;
  fds: number;
  rss: number;
  heap: number;
}

/** A full garbage collection (exposes gc for this process on first use). */
export function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** The handles, fds and memory in use now. */
export function resources(): Resources {
  const live = process.getActiveResourcesInfo();
  const count = (name: string) => live.filter((r) => r === name).length;
  let fds = -1;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    // not Linux: the handle counts still apply
  }
  const memory = process.memoryUsage();
  return {
    sockets: count('TCPSocketWrap'),
    servers: count('TCPServerWrap'),
    timers: count('Timeout'),
    processes: count('ProcessWrap'),
    fds,
    rss: memory.rss,
    heap: memory.heapUsed,
  };
}

/** Handles/fds above the baseline after letting closes settle (up to `ms`), after a GC. */
export async function leakedHandles(
  baseline: Resources,
  ms = 5_000,
): Promise<{ leaked: number; now: Resources }> {
  const over = (r: Resources) =>
    Math.max(0, r.sockets - baseline.sockets) +
    Math.max(0, r.servers - baseline.servers) +
    Math.max(0, r.timers - baseline.timers) +
    Math.max(0, r.processes - baseline.processes) +
    Math.max(0, r.fds - baseline.fds);
  let now = resources();
  for (let waited = 0; over(now) > 0 && waited < ms; waited += 100) {
    await sleep(100);
    forceGc();
    now = resources();
  }
  return { leaked: over(now), now };
}
