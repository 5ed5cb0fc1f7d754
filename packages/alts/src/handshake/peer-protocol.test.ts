// The first bytes of real peers of other protocols, captured from Node's own
// HTTP/2, TLS and HTTP/1 stacks and grpc-js, are named; bytes that could start ALTS never are.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Client, credentials } from '@grpc/grpc-js';
import fc from 'fast-check';
import { describeNonAltsPeer, nonAltsPeerError } from './peer-protocol.js';

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** The first chunk a client started by `dial(port)` sends to a raw listener. */
async function clientFirstBytes(dial: (port: number) => () => void): Promise<Buffer> {
  const server = createServer();
  const port = await listen(server);
  const close = dial(port);
  try {
    const [socket] = (await once(server, 'connection')) as [Socket];
    socket.on('error', () => {});
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    return chunk;
  } finally {
    close();
    server.close();
  }
}

/** The first chunk a server on `port` sends to a raw client that writes `hello` (what ALTS sends). */
async function serverFirstBytes(port: number, hello: Buffer): Promise<Buffer> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(hello);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return chunk;
}

/** What an ALTS client sends first: a frame of u32 LE length, u32 LE type 6, then the message. */
function altsFrame(bodyBytes: number, fill = 0x50): Buffer {
  const frame = Buffer.alloc(8 + bodyBytes, fill);
  frame.writeUInt32LE(4 + bodyBytes, 0);
  frame.writeUInt32LE(6, 4);
  return frame;
}

describe('a peer that does not speak ALTS is named by its first bytes', () => {
  it('a plaintext grpc-js client: the HTTP/2 client preface', async () => {
    const bytes = await clientFirstBytes((port) => {
      const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
      client.getChannel().getConnectivityState(true);
      return () => client.close();
    });
    assert.equal(describeNonAltsPeer(bytes), 'an HTTP/2 client preface (a plaintext gRPC or HTTP/2 client)');
    assert.equal(describeNonAltsPeer(bytes.subarray(0, 4)), describeNonAltsPeer(bytes), '"PRI " is enough');
  });

  it('a plaintext HTTP/2 server: its SETTINGS frame', async () => {
    const server = createHttp2Server();
    const port = await listen(server as unknown as Server);
    try {
      const bytes = await serverFirstBytes(port, altsFrame(200));
      assert.equal(
        describeNonAltsPeer(bytes),
        'an HTTP/2 SETTINGS frame (a plaintext gRPC or HTTP/2 server)',
      );
    } finally {
      server.close();
    }
  });

  it('a TLS client: its ClientHello record; a TLS server: its alert', async () => {
    const hello = await clientFirstBytes((port) => {
      const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      socket.on('error', () => {});
      return () => socket.destroy();
    });
    assert.equal(
      describeNonAltsPeer(hello),
      'a TLS handshake record (a TLS peer, such as gRPC with ssl credentials)',
    );
    // A TLS 1.2 fatal alert (decode_error), what a TLS server answers to an ALTS ClientInit.
    const alert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
    assert.equal(
      describeNonAltsPeer(alert),
      'a TLS alert record (a TLS peer, such as gRPC with ssl credentials)',
    );
  });

  it('HTTP/1: a request line from a client, a status line from a server, quoted escaped', async () => {
    const request = await clientFirstBytes((port) => {
      const req = httpRequest({ port, host: '127.0.0.1', path: '/healthz' });
      req.on('error', () => {});
      req.end();
      return () => req.destroy();
    });
    assert.equal(
      describeNonAltsPeer(request),
      'an HTTP/1 request "GET /healthz HTTP/1.1" (an HTTP/1 client)',
    );
    const server = createHttpServer();
    const port = await listen(server);
    try {
      const response = await serverFirstBytes(port, altsFrame(200));
      assert.equal(
        describeNonAltsPeer(response),
        'an HTTP/1 response "HTTP/1.1 400 Bad Request" (an HTTP/1 server)',
      );
    } finally {
      server.close();
    }
    assert.equal(
      describeNonAltsPeer(Buffer.from('GET /\u001b[2K\u009b HTTP/1.1\r\n', 'latin1')),
      'an HTTP/1 request "GET /\\u001b[2K\\u009b HTTP/1.1" (an HTTP/1 client)',
    );
  });

  it('bytes that could start an ALTS frame, the emulator’s messages, or too few to tell: undefined', () => {
    for (const bytes of [
      altsFrame(200),
      altsFrame(0x16_03_01 - 4, 0),
      altsFrame(200).subarray(0, 6),
      Buffer.from('AE\x01\x01\x00\x00\x00\x40', 'latin1'),
      Buffer.from('PR'),
      Buffer.alloc(0),
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00]),
    ]) {
      assert.equal(describeNonAltsPeer(bytes), undefined, bytes.toString('hex'));
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1024 * 1024 - 4 }),
        fc.uint8Array({ maxLength: 64 }),
        (length, body) => {
          const frame = Buffer.concat([altsFrame(0), body]);
          frame.writeUInt32LE(4 + length, 0);
          for (let end = 0; end <= frame.length; end++) {
            assert.equal(describeNonAltsPeer(frame.subarray(0, end)), undefined);
          }
        },
      ),
    );
  });

  it('any bytes: never throws, and anything named is named in printable text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const what = describeNonAltsPeer(Buffer.from(bytes));
        if (what !== undefined) assert.doesNotMatch(what, /[\p{Cc}\p{Cf}]/u);
      }),
    );
  });

  it('the errors name the other side and the fix', () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    const server = nonAltsPeerError('server', 'server handshake', preface);
    assert.equal(server?.code, 'CONNECTION_REFUSED');
    assert.equal(
      server?.message,
      '[CONNECTION_REFUSED] the server handshake failed: the client does not speak ALTS, its first bytes ' +
        'are an HTTP/2 client preface (a plaintext gRPC or HTTP/2 client); give it ALTS channel ' +
        'credentials to call this server',
    );
    const settings = Buffer.from('000000040000000000', 'hex');
    assert.equal(
      nonAltsPeerError('client', 'client handshake to 127.0.0.1:8080', settings)?.message,
      '[CONNECTION_REFUSED] the client handshake to 127.0.0.1:8080 failed: the server does not speak ' +
        'ALTS, its first bytes are an HTTP/2 SETTINGS frame (a plaintext gRPC or HTTP/2 server); call ' +
        'it with the credentials it serves (insecure or TLS), or serve it over ALTS',
    );
    assert.equal(nonAltsPeerError('client', 'x', altsFrame(10)), undefined);
  });
});
