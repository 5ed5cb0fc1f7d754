// A raw ALTS client for the hardening tests (not a test itself), built only on the public handshaker
// contract and node:crypto, to send tampered records after a real handshake: a second, independent
// ALTS implementation written from docs/protocol.md.
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { type HandshakerResult, HandshakerServiceClient } from '@grpc-alts/handshaker-proto';
import { clientStart, next } from '@grpc-alts/test-support/handshaker';
import { RawHandshakerStream } from '@grpc-alts/test-support/handshaker-stream';

/** The raw client's DoHandshake deadline: a handshake through a local emulator takes milliseconds. */
const HANDSHAKE_DEADLINE_MS = 10_000;

export function connectRaw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves with the ms until the peer closed `socket` (end or close), or -1 after `limitMs`. */
export function closedBy(socket: Socket, limitMs: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => finish(-1), limitMs);
    socket.on('error', () => undefined);
    socket.once('end', () => finish(performance.now() - started));
    socket.once('close', () => finish(performance.now() - started));
    socket.resume();
  });
}

function readSome(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      cleanup();
      socket.pause();
      resolve(b);
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('peer closed during the raw handshake'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/** The ALTS client handshake over `socket` through the emulator; returns the result and leftover. */
export async function rawClientHandshake(
  socket: Socket,
  handshakerAddress: string,
): Promise<{ result: HandshakerResult; leftover: Buffer }> {
  const client = new HandshakerServiceClient(handshakerAddress, credentials.createInsecure());
  const stream = new RawHandshakerStream(client, { deadlineMs: HANDSHAKE_DEADLINE_MS });
  try {
    let resp = await stream.send(clientStart());
    let pending = Buffer.alloc(0);
    for (;;) {
      if (resp.status && resp.status.code !== 0) throw new Error(`handshaker: ${resp.status.details}`);
      if (resp.outFrames.length > 0) socket.write(resp.outFrames);
      if (resp.result) return { result: resp.result, leftover: pending.subarray(resp.bytesConsumed) };
      pending = Buffer.concat([pending.subarray(resp.bytesConsumed), await readSome(socket)]);
      resp = await stream.send(next(pending));
    }
  } finally {
    stream.close();
    client.close();
  }
}

/** ALTSRP_GCM_AES128_REKEY for one direction (docs/protocol.md §4.3–4.4), written from the spec. */
export class RawRecords {
  #counter = 0n;
  readonly #kdfKey: Buffer;
  readonly #mask: Buffer;
  readonly #serverBit: number;
  constructor(keyData: Uint8Array, sender: 'client' | 'server') {
    this.#kdfKey = Buffer.from(keyData.subarray(0, 32));
    this.#mask = Buffer.from(keyData.subarray(32, 44));
    this.#serverBit = sender === 'server' ? 0x80 : 0;
  }
  #next(): { key: Buffer; nonce: Buffer } {
    const counter = Buffer.alloc(12);
    counter.writeBigUInt64LE(this.#counter++);
    counter[11] = this.#serverBit;
    const key = createHmac('sha256', this.#kdfKey)
      .update(Buffer.concat([counter.subarray(2, 8), Buffer.from([1])]))
      .digest()
      .subarray(0, 16);
    const nonce = Buffer.alloc(12);
    for (let i = 0; i < 12; i++) nonce[i] = (counter[i] as number) ^ (this.#mask[i] as number);
    return { key, nonce };
  }
  seal(plaintext: Buffer): Buffer {
    const { key, nonce } = this.#next();
    const cipher = createCipheriv('aes-128-gcm', key, nonce);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(4 + ciphertext.length + 16, 0);
    header.writeUInt32LE(6, 4);
    return Buffer.concat([header, ciphertext, cipher.getAuthTag()]);
  }
  /** Opens one whole frame (header included). Throws on a bad tag. */
  open(frame: Buffer): Buffer {
    const { key, nonce } = this.#next();
    const decipher = createDecipheriv('aes-128-gcm', key, nonce);
    decipher.setAuthTag(frame.subarray(frame.length - 16));
    return Buffer.concat([decipher.update(frame.subarray(8, frame.length - 16)), decipher.final()]);
  }
}

/** Reads whole frames from `socket` (after `leftover`) until one is complete; returns it. */
export async function readFrame(socket: Socket, leftover: Buffer): Promise<{ frame: Buffer; rest: Buffer }> {
  let buffer = leftover;
  for (;;) {
    if (buffer.length >= 4) {
      const total = 4 + buffer.readUInt32LE(0);
      if (buffer.length >= total) return { frame: buffer.subarray(0, total), rest: buffer.subarray(total) };
    }
    buffer = Buffer.concat([buffer, await readSome(socket)]);
  }
}

/** The HTTP/2 client connection preface plus an empty SETTINGS frame. */
export const HTTP2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

/** The ClientInit a client would send first (a valid handshake prefix), from a client_start. */
export async function clientInitBytes(handshakerAddress: string): Promise<Buffer> {
  const client = new HandshakerServiceClient(handshakerAddress, credentials.createInsecure());
  const stream = new RawHandshakerStream(client, { deadlineMs: HANDSHAKE_DEADLINE_MS });
  try {
    const resp = await stream.send(clientStart());
    return Buffer.from(resp.outFrames);
  } finally {
    stream.close();
    client.close();
  }
}
