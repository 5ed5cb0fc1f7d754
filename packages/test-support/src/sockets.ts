// Sockets for tests: a fake whose inbound chunks the test controls exactly and whose outbound
// bytes it records, and a real connected loopback pair.
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** A connected pair of real loopback TCP sockets. */
export async function loopbackPair(): Promise<[client: Socket, server: Socket]> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const accepted = new Promise<Socket>((done) => server.once('connection', done));
  const client = netConnect(address.port, '127.0.0.1');
  await new Promise<void>((done, fail) => {
    client.once('connect', done);
    client.once('error', fail);
  });
  const serverSide = await accepted;
  server.close();
  return [client, serverSide];
}

/**
 * A stand-in for a net.Socket whose inbound chunks the test controls exactly (`feed`, `feedEnd`)
 * and whose outbound bytes it records (`written`). Honours pause/resume like a real socket.
 */
export class FakeSocket extends Duplex {
  readonly writtenChunks: Buffer[] = [];
  remoteAddress = '10.0.0.1';
  remotePort = 4242;
  localAddress = '10.0.0.2';
  localPort = 443;
  noDelay: boolean | undefined;
  refed = true;

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _read(): void {}

  /** When set, every write fails as a write to a peer that already reset does. */
  failWrites = false;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error) => void): void {
    if (this.failWrites) {
      callback(Object.assign(new Error('write ECONNRESET'), { code: 'ECONNRESET' }));
      return;
    }
    this.writtenChunks.push(chunk);
    callback();
  }

  feed(chunk: Uint8Array): void {
    this.push(Buffer.from(chunk));
  }

  feedEnd(): void {
    this.push(null);
  }

  get written(): Buffer {
    return Buffer.concat(this.writtenChunks);
  }

  setNoDelay(noDelay?: boolean): this {
    this.noDelay = noDelay;
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    this.refed = true;
    return this;
  }
  unref(): this {
    this.refed = false;
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }

  asSocket(): Socket {
    return this as unknown as Socket;
  }
}

/** Resolves on the next macrotask, after pending nextTicks and I/O callbacks. */
export function tick(): Promise<void> {
  return new Promise((done) => setImmediate(done));
}
