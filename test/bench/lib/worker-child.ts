/** The child side of an IPC worker: answers `{id, command, args}` messages from the orchestrator. */

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
