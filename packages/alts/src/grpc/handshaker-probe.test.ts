import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http2';
import { describe, it } from 'node:test';
import { AltsError } from '../errors.js';
import { waitForHandshaker } from './handshaker-probe.js';

/** Long enough for a loaded machine to connect to loopback several times over. */
const PROBE_WAIT_MS = 5_000;
/** Port 1 (tcpmux) is unassigned on any machine these tests run on. */
const NOTHING_LISTENS = '127.0.0.1:1';
/** Date.now() and the timers' clock may disagree by a little. */
const CLOCK_SLACK_MS = 50;

describe('waitForHandshaker', () => {
  it('is true for a listening HTTP/2 server, without retrying', async () => {
    // An h2c server completes grpc-js's connection as any gRPC server does.
    const h2 = createServer();
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    const { port } = h2.address() as { port: number };
    let retries = 0;
    try {
      const answers = await waitForHandshaker(`127.0.0.1:${port}`, {
        timeoutMs: PROBE_WAIT_MS,
        onRetry: () => retries++,
      });
      assert.equal(answers, true);
      assert.equal(retries, 0);
    } finally {
      h2.close();
    }
  });

  it('is false by the deadline when nothing listens, and says once that it retries', async () => {
    let retries = 0;
    const started = Date.now();
    const answers = await waitForHandshaker(NOTHING_LISTENS, {
      timeoutMs: PROBE_WAIT_MS,
      onRetry: () => retries++,
    });
    assert.equal(answers, false);
    assert.equal(retries, 1);
    assert.ok(Date.now() - started >= PROBE_WAIT_MS - CLOCK_SLACK_MS, 'waited until the deadline');
  });

  it('refuses an empty address and a timeout out of bounds (INVALID_ARGUMENT)', async () => {
    const invalid = (e: unknown) => AltsError.is(e) && e.code === 'INVALID_ARGUMENT';
    await assert.rejects(waitForHandshaker(''), invalid);
    for (const timeoutMs of [0, -1, 1.5, Number.POSITIVE_INFINITY, 120_001]) {
      await assert.rejects(waitForHandshaker(NOTHING_LISTENS, { timeoutMs }), invalid, String(timeoutMs));
    }
  });
});
