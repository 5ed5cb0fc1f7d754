import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http2';
import { describe, it } from 'node:test';
import { handshakerAnswers } from './handshaker-probe.js';

/** Long enough for a loaded machine to connect to loopback several times over. */
const PROBE_WAIT_MS = 5_000;
/** Port 1 (tcpmux) is unassigned on any machine these tests run on. */
const NOTHING_LISTENS = '127.0.0.1:1';
/** Date.now() and the timers' clock may disagree by a little. */
const CLOCK_SLACK_MS = 50;

describe('handshakerAnswers', () => {
  it('is true for a listening HTTP/2 server, without retrying', async () => {
    // An h2c server completes grpc-js's connection as any gRPC server does.
    const h2 = createServer();
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    const { port } = h2.address() as { port: number };
    let retries = 0;
    try {
      assert.equal(
        await handshakerAnswers(`127.0.0.1:${port}`, new Date(Date.now() + PROBE_WAIT_MS), () => retries++),
        true,
      );
      assert.equal(retries, 0);
    } finally {
      h2.close();
    }
  });

  it('is false by the deadline when nothing listens, and says once that it retries', async () => {
    let retries = 0;
    const started = Date.now();
    const answers = await handshakerAnswers(
      NOTHING_LISTENS,
      new Date(started + PROBE_WAIT_MS),
      () => retries++,
    );
    assert.equal(answers, false);
    assert.equal(retries, 1);
    assert.ok(Date.now() - started >= PROBE_WAIT_MS - CLOCK_SLACK_MS, 'waited until the deadline');
  });
});
