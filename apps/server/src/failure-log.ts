// Under attack every connection attempt can fail its handshake (thousands a minute): logged one by
// one, the failures would bury everything else and cost the server its disk and CPU. So a few per
// window are logged in full and the rest are counted by code and summed up once per window.

/** Length of one counting window. */
export const FAILURE_WINDOW_MS = 10_000;
/** Failures logged in full per window; enough to diagnose a single broken client. */
export const FAILURES_IN_FULL_PER_WINDOW = 5;

export interface FailureLog {
  /** One failed handshake; `describe` is called only when the failure is logged in full. */
  record(code: string, describe: () => string): void;
  /** Logs the pending summary now (at shutdown) and stops the window timer. */
  close(): void;
}

export function createFailureLog(write: (line: string) => void): FailureLog {
  let inFull = 0;
  let suppressed = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  const summarize = () => {
    const total = [...suppressed.values()].reduce((a, b) => a + b, 0);
    if (total > 0) {
      const byCode = [...suppressed].map(([code, n]) => `${code} ${n}`).join(', ');
      write(`${total} more handshake failures in the last ${FAILURE_WINDOW_MS / 1000} s (${byCode})`);
    }
    inFull = 0;
    suppressed = new Map();
    if (total === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    record(code, describe) {
      if (timer === undefined) {
        timer = setInterval(summarize, FAILURE_WINDOW_MS);
        timer.unref();
      }
      if (inFull < FAILURES_IN_FULL_PER_WINDOW) {
        inFull++;
        write(describe());
        return;
      }
      suppressed.set(code, (suppressed.get(code) ?? 0) + 1);
    },
    close() {
      summarize();
      clearInterval(timer);
      timer = undefined;
    },
  };
}
