import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { AltsError, type AltsErrorCode } from '../errors.js';
import {
  createHandshakeFailureLog,
  FAILURE_WINDOW_MS,
  FAILURES_IN_FULL_PER_WINDOW,
} from './handshake-failure-log.js';

const REMOTE = '192.0.2.7:40000';

describe('HARDENING 37: handshake failures are aggregated, not logged one by one', () => {
  it('logs a few in full per window, then one summary line counted by code', () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      const lines: string[] = [];
      let described = 0;
      const log = createHandshakeFailureLog((line) => lines.push(line));
      for (let i = 0; i < 1_000; i++) {
        const code: AltsErrorCode = i % 2 ? 'PEER_CLOSED' : 'HANDSHAKE_TIMEOUT';
        // Counts the messages read: a suppressed failure's is not even formatted.
        const error = {
          code,
          get message() {
            return `[${code}] failure ${described++}`;
          },
        } as AltsError;
        log.onHandshakeFailure(error, REMOTE);
      }
      assert.equal(lines.length, FAILURES_IN_FULL_PER_WINDOW);
      assert.equal(lines[0], `handshake with ${REMOTE} failed: [HANDSHAKE_TIMEOUT] failure 0`);
      assert.equal(described, FAILURES_IN_FULL_PER_WINDOW, 'suppressed failures are not even formatted');
      mock.timers.tick(FAILURE_WINDOW_MS);
      assert.equal(lines.length, FAILURES_IN_FULL_PER_WINDOW + 1);
      assert.equal(
        lines.at(-1),
        '995 more handshake failures in the last 10 s (PEER_CLOSED 498, HANDSHAKE_TIMEOUT 497)',
      );

      log.onHandshakeFailure(new AltsError('PEER_CLOSED', 'next window'), REMOTE);
      assert.equal(lines.at(-1), `handshake with ${REMOTE} failed: [PEER_CLOSED] next window`);
      mock.timers.tick(FAILURE_WINDOW_MS);
      mock.timers.tick(FAILURE_WINDOW_MS);
      assert.equal(lines.length, FAILURES_IN_FULL_PER_WINDOW + 2, 'quiet windows log nothing');
      log.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('close() logs what is pending at once', () => {
    const lines: string[] = [];
    const log = createHandshakeFailureLog((line) => lines.push(line));
    const refused = new AltsError('CONNECTION_REFUSED', 'too many connections handshaking');
    for (let i = 0; i < FAILURES_IN_FULL_PER_WINDOW + 3; i++) log.onHandshakeFailure(refused, REMOTE);
    log.close();
    assert.equal(lines.at(-1), '3 more handshake failures in the last 10 s (CONNECTION_REFUSED 3)');
  });

  it('HARDENING 33: a line in full is one escaped line whatever the message holds', () => {
    const lines: string[] = [];
    const log = createHandshakeFailureLog((line) => lines.push(line));
    const forged = { code: 'PEER_CLOSED', message: 'x\n2026-01-01T00:00:00Z forged\u202e' } as AltsError;
    log.onHandshakeFailure(forged, REMOTE);
    log.close();
    assert.deepEqual(lines, [`handshake with ${REMOTE} failed: x\\u000a2026-01-01T00:00:00Z forged\\u202e`]);
  });
});
