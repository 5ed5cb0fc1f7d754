// Under attack every connection attempt can fail its handshake (thousands a minute): logged one by
// one, the failures would bury everything else and cost the server its disk and CPU. So a few per
// window are logged in full and the rest are counted by code and summed up once per window.
import { type AltsError, type AltsErrorCode, quoteUntrusted } from '../errors.js';

/** Length of one counting window. */
export const FAILURE_WINDOW_MS = 10_000;
/** Failures logged in full per window; enough to diagnose a single broken client. */
export const FAILURES_IN_FULL_PER_WINDOW = 5;

/** A log of failed handshakes at a bounded rate; see {@link createHandshakeFailureLog}. */
export interface HandshakeFailureLog {
  /** One failed or refused handshake: the `onHandshakeFailure` of `AltsServerOptions`. */
  readonly onHandshakeFailure: (error: AltsError, remoteAddress: string) => void;
  /** Writes the pending summary now (at shutdown) and stops the window timer. */
  close(): void;
}

/**
 * Logs failed handshakes at a bounded rate through `write`, one line per call: the first 5 of each
 * 10-second window in full (`handshake with <address> failed: <message>`), then one line per
 * window counting the rest by {@link AltsError} code. Lines are safe to log as they are (outside
 * text escaped, as in every AltsError message). Its timer does not keep the process alive.
 *
 * @example
 * const failures = createHandshakeFailureLog((line) => console.error(line));
 * const server = createAltsServer({ onHandshakeFailure: failures.onHandshakeFailure });
 */
export function createHandshakeFailureLog(write: (line: string) => void): HandshakeFailureLog {
  let inFull = 0;
  let suppressed = new Map<AltsErrorCode, number>();
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
    onHandshakeFailure(error, remoteAddress) {
      if (timer === undefined) {
        timer = setInterval(summarize, FAILURE_WINDOW_MS);
        timer.unref();
      }
      if (inFull < FAILURES_IN_FULL_PER_WINDOW) {
        inFull++;
        const line = `handshake with ${remoteAddress} failed: ${error.message}`;
        write(quoteUntrusted(line, Number.POSITIVE_INFINITY));
        return;
      }
      suppressed.set(error.code, (suppressed.get(error.code) ?? 0) + 1);
    },
    close() {
      summarize();
      clearInterval(timer);
      timer = undefined;
    },
  };
}
