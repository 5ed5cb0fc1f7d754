/** The child side of an IPC worker: answers `{id, command, args}` messages from the orchestrator. */
import { constants, PerformanceObserver } from 'node:perf_hooks';

export type Handler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

/**
 * Serves `handlers` over the IPC channel and tells the parent it is ready. The process exits when
 * the parent disconnects, on SIGTERM, or after `stop` (which runs `onStop` first).
 */
export function serveWorker(
  handlers: Record<string, Handler>,
  info: Record<string, unknown>,
  onStop: () => Promise<void> | void = () => undefined,
): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('this worker must be started by the benchmark (no IPC channel)');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await onStop();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (message: { id: number; command: string; args?: Record<string, unknown> }) => {
    const handler = handlers[message.command];
    const reply = (body: { ok: boolean; result?: unknown; error?: string }) => {
      if (process.connected) send({ id: message.id, ...body });
    };
    if (message.command === 'stop') {
      reply({ ok: true });
      void stop();
      return;
    }
    if (!handler) {
      reply({ ok: false, error: `unknown command ${message.command}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.args ?? {}))
      .then(
        (result) => reply({ ok: true, result }),
        (error: unknown) =>
          reply({ ok: false, error: error instanceof Error ? error.message : String(error) }),
      );
  });
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready', ...info });
}

/** RSS after a full GC (needs --expose-gc; otherwise just RSS). */
export async function settledRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return process.memoryUsage().rss;
}

/**
 * Major GCs (mark-compact) in this process since it started, counted from the 'gc' performance
 * entries (issue 16: the gap to TLS in streaming was mostly major GCs, so they are a figure of
 * their own). The entries arrive asynchronously, after the collection: a short pause first lets
 * the ones already made reach the counter.
 */
let majorGcCount = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    // Node puts the GC kind in `detail`, which @types/node 20 does not declare on PerformanceEntry.
    const { detail } = entry as { detail?: { kind?: number } };
    if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcCount++;
  }
}).observe({ entryTypes: ['gc'] });
/** How long queued 'gc' entries take to reach the observer (they are delivered on a later tick). */
const GC_ENTRY_SETTLE_MS = 50;

export async function majorGcs(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, GC_ENTRY_SETTLE_MS));
  return majorGcCount;
}
