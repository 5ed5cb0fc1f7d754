import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { createFailureLog, FAILURE_WINDOW_MS, FAILURES_IN_FULL_PER_WINDOW } from './failure-log.js';

describe('HARDENING 37: handshake failures are aggregated, not logged one by one', () => {
  it('logs a few in full per window, then one summary line counted by code', () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      const lines: string[] = [];
      let described = 0;
      const log = createFailureLog((line) => lines.push(line));
      for (let i = 0; i < 1_000; i++) {
        log.record(i % 2 ? 'PEER_CLOSED' : 'HANDSHAKE_TIMEOUT', () => `failure ${described++}`);
      }
      assert.equal(lines.length, FAILURES_IN_FULL_PER_WINDOW);
      assert.equal(described, FAILURES_IN_FULL_PER_WINDOW, 'suppressed failures are not even formatted');
      mock.timers.tick(FAILURE_WINDOW_MS);
      assert.equal(lines.length, FAILURES_IN_FULL_PER_WINDOW + 1);
      assert.equal(
        lines.at(-1),
        '995 more handshake failures in the last 10 s (PEER_CLOSED 498, HANDSHAKE_TIMEOUT 497)',
      );

      log.record('PEER_CLOSED', () => 'next window, in full');
      assert.equal(lines.at(-1), 'next window, in full');
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
    const log = createFailureLog((line) => lines.push(line));
    for (let i = 0; i < FAILURES_IN_FULL_PER_WINDOW + 3; i++) log.record('CONNECTION_REFUSED', () => 'x');
    log.close();
    assert.equal(lines.at(-1), '3 more handshake failures in the last 10 s (CONNECTION_REFUSED 3)');
  });
});
