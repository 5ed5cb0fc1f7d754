// The OtBooking client's flow-control window: what the factory passes to grpc-js,
// and that grpc-js puts it on the wire (SETTINGS_INITIAL_WINDOW_SIZE and the connection window),
// seen by a plain HTTP/2 server on loopback. No ALTS here: the window is grpc-js's HTTP/2 layer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type ClientHttp2Session, connect, createServer, type Http2Session, type Settings } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Client, credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import { OT_BOOKING_FLOW_CONTROL_WINDOW, otBookingChannelOptions } from './factories.js';

/** HTTP/2's initial window (RFC 9113 §6.9.2), which grpc-js keeps unless told otherwise. */
const HTTP2_DEFAULT_WINDOW = 65_535;
/** Generous bound for a loopback peer's WINDOW_UPDATE on a loaded machine. */
const WINDOW_UPDATE_WAIT_MS = 10_000;
const POLL_MS = 10;

/** Waits until `read()` returns `want` (it changes on a frame no event reports), or the bound passes. */
async function until(read: () => number | undefined, want: number): Promise<number | undefined> {
  const deadline = Date.now() + WINDOW_UPDATE_WAIT_MS;
  while (read() !== want && Date.now() < deadline) await new Promise((r) => setTimeout(r, POLL_MS));
  return read();
}

describe('otBookingChannelOptions', () => {
  it('sets the flow-control window of OT_BOOKING_FLOW_CONTROL_WINDOW (1 MiB)', () => {
    assert.equal(OT_BOOKING_FLOW_CONTROL_WINDOW, 1024 * 1024);
    assert.deepEqual(otBookingChannelOptions(), {
      'grpc-node.flow_control_window': OT_BOOKING_FLOW_CONTROL_WINDOW,
    });
  });

  it("keeps the caller's options, which win over the window", () => {
    assert.deepEqual(
      otBookingChannelOptions({
        'grpc-node.flow_control_window': HTTP2_DEFAULT_WINDOW,
        'grpc.keepalive_time_ms': 1,
      }),
      { 'grpc-node.flow_control_window': HTTP2_DEFAULT_WINDOW, 'grpc.keepalive_time_ms': 1 },
    );
  });
});

describe('the window on the wire', () => {
  it('a grpc-js client with these options advertises the window per stream and per connection', async () => {
    const h2 = createServer();
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    const sessionSettings = new Promise<{ session: Http2Session; settings: Settings }>((resolve) =>
      h2.once('session', (session) =>
        session.once('remoteSettings', (settings) => resolve({ session, settings })),
      ),
    );
    const client = new Client(
      `127.0.0.1:${(h2.address() as AddressInfo).port}`,
      credentials.createInsecure(),
      otBookingChannelOptions(),
    );
    try {
      client.waitForReady(Date.now() + WINDOW_UPDATE_WAIT_MS, () => undefined);
      const { session, settings } = await sessionSettings;
      assert.equal(settings.initialWindowSize, OT_BOOKING_FLOW_CONTROL_WINDOW);
      assert.equal(
        await until(() => session.state.remoteWindowSize, OT_BOOKING_FLOW_CONTROL_WINDOW),
        OT_BOOKING_FLOW_CONTROL_WINDOW,
      );
      session.destroy();
    } finally {
      client.close();
      h2.close();
    }
  });

  it("grpc-js's Server still ignores the option (else createOtBookingServer and README should)", async () => {
    const server = new Server({ 'grpc-node.flow_control_window': OT_BOOKING_FLOW_CONTROL_WINDOW });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      ),
    );
    let session: ClientHttp2Session | undefined;
    try {
      session = connect(`http://127.0.0.1:${port}`);
      session.on('error', () => undefined);
      const [settings] = (await once(session, 'remoteSettings')) as [Settings];
      assert.equal(settings.initialWindowSize, HTTP2_DEFAULT_WINDOW);
    } finally {
      session?.destroy();
      server.forceShutdown();
    }
  });
});
