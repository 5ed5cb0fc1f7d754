import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FakeSocket, loopbackPair, tick } from '@grpc-alts/test-support/sockets';
import {
  AES128_KEY_SIZE,
  ALTSRP_GCM_AES128,
  ALTSRP_GCM_AES128_REKEY,
  MAX_FRAME_LENGTH_FIELD,
  REKEY_KEY_SIZE,
  type Side,
} from '../constants.js';
import { AltsError } from '../errors.js';
import { createRecordCrypter } from './crypter.js';
import { FRAME_OVERHEAD } from './frame.js';
import { createProtectedStream, type ProtectedStream } from './protected-stream.js';
import { frameOf, hex, loadVectors, pseudoRandomBytes, sha256, splitFrames } from './record.test.util.js';

const KEY = Buffer.from(
  '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b',
  'hex',
);
const FRAME = 16 * 1024;

/** The wire bytes `side` would send for these plaintexts, one record each, from frame index 0. */
function records(side: Side, plaintexts: readonly Buffer[], key: Buffer = KEY): Buffer[] {
  const crypter = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, key, side);
  return plaintexts.map((p) => frameOf(crypter.seal(p)));
}

function fakeServer(options: { leftover?: Buffer; writeFrameSize?: number } = {}): {
  fake: FakeSocket;
  stream: ProtectedStream;
} {
  const fake = new FakeSocket();
  const stream = createProtectedStream(fake.asSocket(), {
    recordProtocol: ALTSRP_GCM_AES128_REKEY,
    keyData: KEY,
    side: 'server',
    leftover: options.leftover,
    writeFrameSize: options.writeFrameSize ?? FRAME,
  });
  return { fake, stream };
}

interface Outcome {
  data: Buffer;
  chunks: number;
  ended: boolean;
  error: Error | undefined;
}

/** Reads `stream` until it closes; never rejects. */
function outcome(stream: ProtectedStream): Promise<Outcome> {
  const parts: Buffer[] = [];
  let ended = false;
  let error: Error | undefined;
  stream.on('data', (chunk: Buffer) => parts.push(chunk));
  stream.on('end', () => {
    ended = true;
  });
  stream.on('error', (err) => {
    error = err;
  });
  return new Promise((done) => {
    stream.on('close', () => done({ data: Buffer.concat(parts), chunks: parts.length, ended, error }));
  });
}

function code(error: Error | undefined): string | undefined {
  return AltsError.is(error) ? error.code : undefined;
}

async function protectedPair(
  writeFrameSize: number,
  recordProtocol: string = ALTSRP_GCM_AES128_REKEY,
): Promise<[client: ProtectedStream, server: ProtectedStream, sockets: [Socket, Socket]]> {
  const [c, s] = await loopbackPair();
  const keyData = recordProtocol === ALTSRP_GCM_AES128 ? KEY.subarray(0, AES128_KEY_SIZE) : KEY;
  return [
    createProtectedStream(c, { recordProtocol, keyData, side: 'client', writeFrameSize }),
    createProtectedStream(s, { recordProtocol, keyData, side: 'server', writeFrameSize }),
    [c, s],
  ];
}

/** Writes `data` in a repeating pattern of chunk sizes, honouring backpressure (does not end). */
async function writeAll(stream: ProtectedStream, data: Buffer, sizes: readonly number[]): Promise<void> {
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    const n = Math.min(sizes[i++ % sizes.length] ?? 1, data.length - offset);
    if (!stream.write(data.subarray(offset, offset + n))) await once(stream, 'drain');
    offset += n;
  }
}

/** Hashes what is read from `stream` until `expected` bytes arrived, or until 'end' without a limit. */
function readHash(
  stream: ProtectedStream,
  expected = Number.POSITIVE_INFINITY,
): Promise<{ hash: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  return new Promise((done, fail) => {
    const finish = () => done({ hash: hash.digest('hex'), length });
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
      if (length >= expected) finish();
    });
    stream.once('error', fail);
    stream.once('end', () => {
      if (length < expected) finish();
    });
  });
}

describe('protected stream', () => {
  const plaintexts = [
    Buffer.from('first record'),
    Buffer.alloc(0),
    pseudoRandomBytes(5000, 1),
    Buffer.from('x'),
  ];
  const expected = Buffer.concat(plaintexts);
  const wire = Buffer.concat(records('client', plaintexts));

  test('a socket that ended or closed before the stream existed ends the stream (no hang)', async () => {
    const [ended, endedPeer] = await loopbackPair();
    endedPeer.end();
    ended.resume();
    await once(ended, 'end');
    const [closed, closedPeer] = await loopbackPair();
    closedPeer.destroy();
    await once(closed, 'close');
    for (const socket of [ended, closed]) {
      const stream = createProtectedStream(socket, {
        recordProtocol: ALTSRP_GCM_AES128_REKEY,
        keyData: KEY,
        side: 'client',
        writeFrameSize: FRAME,
      });
      stream.on('error', () => undefined);
      stream.resume();
      const [outcome] = await Promise.race([
        once(stream, 'close').then(() => ['closed']),
        new Promise<[string]>((resolve) => setTimeout(() => resolve(['still open']), 10_000).unref()),
      ]);
      assert.equal(outcome, 'closed');
      socket.destroy();
    }
  });

  test('derived vector records from the wire are opened by a server-side stream', async () => {
    const v = loadVectors().derived_records.find((r) => r.name === 'cfake-client-preface');
    assert.ok(v);
    const fake = new FakeSocket();
    const stream = createProtectedStream(fake.asSocket(), {
      recordProtocol: v.record_protocol,
      keyData: hex(v.key),
      side: 'server',
      writeFrameSize: FRAME,
    });
    const result = outcome(stream);
    fake.feed(hex(v.frame));
    fake.feedEnd();
    stream.end();
    const { data, ended, error } = await result;
    assert.equal(error, undefined);
    assert.ok(ended);
    assert.equal(data.toString('hex'), v.plaintext);
  });

  test('HARDENING 2: identical plaintext at any read size (1 byte, mid-header, mid-tag, many)', async () => {
    const splits: Array<[string, number[]]> = [
      ['one chunk', [wire.length]],
      ['1-byte chunks', Array.from({ length: wire.length }, () => 1)],
      ['ends mid-header', [3, 5, 4, wire.length]],
      ['ends mid-tag', [12 + 24 - 5, 5, wire.length]],
      ['straddles 3 chunks', [30, 20, 4000, wire.length]],
      ['7-byte chunks', Array.from({ length: Math.ceil(wire.length / 7) }, () => 7)],
    ];
    for (const [name, sizes] of splits) {
      const { fake, stream } = fakeServer();
      const result = outcome(stream);
      let offset = 0;
      for (const size of sizes) {
        if (offset >= wire.length) break;
        fake.feed(wire.subarray(offset, offset + size));
        offset += size;
      }
      fake.feedEnd();
      stream.end();
      const { data, error } = await result;
      assert.equal(error, undefined, name);
      assert.ok(data.equals(expected), name);
    }
  });

  test('HARDENING 2: a record wholly inside one chunk is opened in place (no frame copy)', async () => {
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    const alloc = Buffer.allocUnsafe;
    const big: number[] = [];
    Buffer.allocUnsafe = ((size: number) => {
      if (size >= 1000) big.push(size);
      return alloc(size);
    }) as typeof Buffer.allocUnsafe;
    try {
      fake.feed(wire);
      await tick();
    } finally {
      Buffer.allocUnsafe = alloc;
    }
    fake.feedEnd();
    stream.end();
    assert.ok((await result).data.equals(expected));
    assert.deepEqual(big, [], 'no frame-sized copy');
  });

  test('HARDENING 3: EOF exactly at a record boundary ends cleanly', async () => {
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    stream.write('last words');
    fake.feed(wire);
    fake.feedEnd();
    const { data, ended, error } = await result;
    assert.equal(error, undefined);
    assert.ok(ended, "'end' emitted");
    assert.ok(data.equals(expected));
    assert.ok(fake.writableEnded, 'we ended the socket in turn (allowHalfOpen false, like net)');
    assert.equal(splitFrames(fake.written).frames.length, 1, 'what was written before was flushed first');
  });

  test('HARDENING 3: EOF inside a header, a body or a tag is TRUNCATED, never a clean end', async () => {
    const first = records('client', [Buffer.from('complete')])[0] as Buffer;
    for (const cut of [1, 4, 7, 8, 9, wire.length - 16 - 1000, wire.length - 1]) {
      const { fake, stream } = fakeServer();
      const result = outcome(stream);
      fake.feed(first);
      fake.feed(
        (records('client', [Buffer.from('complete'), pseudoRandomBytes(1200, 2)])[1] as Buffer).subarray(
          0,
          cut % 1224,
        ),
      );
      fake.feedEnd();
      const { data, ended, error } = await result;
      assert.equal(code(error), 'TRUNCATED', `cut ${cut}`);
      assert.equal(ended, false);
      assert.equal(data.toString(), 'complete', 'records before the cut were delivered');
      assert.ok(fake.destroyed, 'socket destroyed');
    }
  });

  const badHeaders: Array<[string, number, number, RegExp]> = [
    ['HARDENING 4: length 0', 0, 6, /shorter than the message type field/],
    ['HARDENING 4: length 3', 3, 6, /shorter than the message type field/],
    ['HARDENING 4: length 19 (no room for a tag)', 19, 6, /no room for the 16-byte tag/],
    ['HARDENING 5: length 1 MiB + 1', MAX_FRAME_LENGTH_FIELD + 1, 6, /larger than the limit/],
    ['HARDENING 6: length 0xffffffff', 0xffffffff, 6, /larger than the limit/],
    ['HARDENING 6: length 0x80000000', 0x80000000, 6, /larger than the limit/],
    ['HARDENING 7: type 0x106 (grpc-go would accept it)', 100, 0x106, /message type 262/],
    ['HARDENING 7: type 7', 100, 7, /message type 7/],
  ];
  for (const [name, length, type, message] of badHeaders) {
    test(`${name}: the stream and socket are destroyed with BAD_FRAME from the header alone`, async () => {
      const { fake, stream } = fakeServer();
      const result = outcome(stream);
      const good = records('client', [Buffer.from('ok')])[0] as Buffer;
      const header = Buffer.alloc(8);
      header.writeUInt32LE(length, 0);
      header.writeUInt32LE(type, 4);
      // Header delivered byte by byte: the length is judged as soon as its 4 bytes are in.
      fake.feed(good);
      for (const byte of header.subarray(0, length < 20 || length > MAX_FRAME_LENGTH_FIELD ? 4 : 8)) {
        fake.feed(Buffer.from([byte]));
      }
      const { data, error } = await result;
      assert.equal(code(error), 'BAD_FRAME', name);
      assert.match(error?.message ?? '', message);
      assert.equal(data.toString(), 'ok');
      assert.ok(fake.destroyed);
    });
  }

  test('HARDENING 5: a frame of exactly 1 MiB (length field 1 048 576) is accepted', async () => {
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    const payload = pseudoRandomBytes(MAX_FRAME_LENGTH_FIELD - 20, 3);
    const frame = records('client', [payload])[0] as Buffer;
    assert.equal(frame.readUInt32LE(0), MAX_FRAME_LENGTH_FIELD);
    for (let offset = 0; offset < frame.length; offset += 65536)
      fake.feed(frame.subarray(offset, offset + 65536));
    fake.feedEnd();
    const { data, error } = await result;
    assert.equal(error, undefined);
    assert.ok(data.equals(payload));
  });

  test('HARDENING 8: a bit flipped in length, type, ciphertext or tag kills the stream', async () => {
    const [first, second] = records('client', [Buffer.from('before'), Buffer.from('secret after')]);
    assert.ok(first && second);
    const codes = new Set<string | undefined>();
    for (let bit = 0; bit < second.length * 8; bit++) {
      const flipped = Buffer.from(second);
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      const { fake, stream } = fakeServer();
      const result = outcome(stream);
      fake.feed(Buffer.concat([first, flipped]));
      fake.feedEnd();
      const { data, ended, error } = await result;
      assert.ok(error !== undefined && AltsError.is(error), `bit ${bit}`);
      codes.add(code(error));
      assert.equal(ended, false);
      assert.equal(data.toString(), 'before', `bit ${bit}: only the intact record`);
      assert.ok(fake.destroyed);
    }
    // Length flips give BAD_FRAME or TRUNCATED, type flips BAD_FRAME, body flips AUTH_FAILED.
    assert.deepEqual([...codes].sort(), ['AUTH_FAILED', 'BAD_FRAME', 'TRUNCATED']);
    // Other connections are unaffected.
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    fake.feed(wire);
    fake.feedEnd();
    assert.ok((await result).data.equals(expected));
  });

  test('HARDENING 8: a tampered record split across chunks delivers none of its plaintext', async () => {
    const secret = pseudoRandomBytes(40_000, 8);
    const [first, second] = records('client', [Buffer.from('before'), secret]);
    assert.ok(first && second);
    // One flip in the ciphertext, one in the tag: the record is decrypted as its pieces arrive,
    // but nothing of it may come out before (or after) its tag fails.
    for (const bit of [8 * 100, 8 * (second.length - 3)]) {
      const flipped = Buffer.from(second);
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ 1;
      for (const size of [1, 7, 1000, 5000, 20_000]) {
        const { fake, stream } = fakeServer();
        const result = outcome(stream);
        fake.feed(first);
        for (let offset = 0; offset < flipped.length; offset += size) {
          fake.feed(flipped.subarray(offset, offset + size));
        }
        fake.feedEnd();
        const { data, error } = await result;
        assert.equal(code(error), 'AUTH_FAILED', `bit ${bit}, ${size}-byte chunks`);
        assert.equal(data.toString(), 'before', `bit ${bit}, ${size}-byte chunks`);
      }
    }
  });

  test('HARDENING 9: a replayed record fails authentication', async () => {
    const [one] = records('client', [Buffer.from('one')]);
    assert.ok(one);
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    fake.feed(Buffer.concat([one, one]));
    const { data, error } = await result;
    assert.equal(code(error), 'AUTH_FAILED');
    assert.equal(data.toString(), 'one');
  });

  test('HARDENING 10: reordered records fail authentication', async () => {
    const [one, two] = records('client', [Buffer.from('one'), Buffer.from('two')]);
    assert.ok(one && two);
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    fake.feed(Buffer.concat([two, one]));
    const { data, error } = await result;
    assert.equal(code(error), 'AUTH_FAILED');
    assert.equal(data.length, 0);
  });

  test("HARDENING 11: the server's own records reflected back fail authentication", async () => {
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    stream.write('reflect me');
    await tick();
    fake.feed(fake.written);
    const { data, error } = await result;
    assert.equal(code(error), 'AUTH_FAILED');
    assert.equal(data.length, 0);
  });

  test('HARDENING 12: an exhausted outbound counter fails the write and destroys the stream', async () => {
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    stream.setFrameIndexesForTesting((1n << 64n) - 1n, 0n);
    const first = new Promise<Error | null | undefined>((done) => stream.write('last', done));
    assert.ok(!(await first));
    const second = new Promise<Error | null | undefined>((done) => stream.write('one too many', done));
    const { error } = await result;
    assert.equal(code(error), 'COUNTER_OVERFLOW');
    assert.equal(code((await second) ?? undefined), 'COUNTER_OVERFLOW');
    assert.equal(splitFrames(fake.written).frames.length, 1, 'only the last valid record was written');
    assert.ok(fake.destroyed);
  });

  test('HARDENING 12: an exhausted inbound counter fails the read', async () => {
    const sender = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    sender.setFrameIndexesForTesting((1n << 64n) - 1n, 0n);
    const last = sender.seal(Buffer.from('last'));
    const { fake, stream } = fakeServer();
    stream.setFrameIndexesForTesting(0n, (1n << 64n) - 1n);
    const result = outcome(stream);
    const frame = frameOf(last);
    fake.feed(Buffer.concat([frame, frame]));
    const { data, error } = await result;
    assert.equal(code(error), 'COUNTER_OVERFLOW');
    assert.equal(data.toString(), 'last');
  });

  test('HARDENING 13: rekey boundary at 2^16 frames crossed in both directions over TCP', async () => {
    const [client, server] = await protectedPair(FRAME);
    const start = 0x10000n - 5n;
    client.setFrameIndexesForTesting(start, start);
    server.setFrameIndexesForTesting(start, start);
    const messages = Array.from({ length: 12 }, (_, i) => Buffer.from(`message ${i} `.repeat(i + 1)));
    const fromClient = outcome(client);
    const fromServer = outcome(server);
    for (const m of messages) {
      // One record per message: wait for each to be sealed before the next.
      await new Promise((done) => client.write(m, done));
      await new Promise((done) => server.write(m, done));
    }
    client.end();
    const [c, s] = await Promise.all([fromClient, fromServer]);
    assert.equal(c.error, undefined);
    assert.equal(s.error, undefined);
    assert.ok(c.data.equals(Buffer.concat(messages)));
    assert.ok(s.data.equals(Buffer.concat(messages)));
  });

  for (const frameSize of [4096, 16384]) {
    test(`HARDENING 14: a 612 KiB write is split into frames of at most ${frameSize} bytes`, async () => {
      const { fake, stream } = fakeServer({ writeFrameSize: frameSize });
      const data = pseudoRandomBytes(612 * 1024, 4);
      await new Promise((done) => stream.write(data, done));
      const { frames, partial } = splitFrames(fake.written);
      assert.equal(partial, false);
      const payload = frameSize - FRAME_OVERHEAD;
      assert.equal(frames.length, Math.ceil(data.length / payload));
      frames.forEach((f, i) => {
        assert.ok(f.ciphertext.length + FRAME_OVERHEAD <= frameSize);
        if (i < frames.length - 1) assert.equal(f.ciphertext.length, payload);
      });
      const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
      const opened = Buffer.concat(frames.map((f) => client.open(f.ciphertext, f.tag)));
      assert.ok(opened.equals(data));
      stream.destroy();
    });
  }

  test('HARDENING 14: small writes of a tick share a frame; corked writes are batched', async () => {
    const { fake, stream } = fakeServer();
    stream.write('a');
    stream.write('b');
    stream.write('c');
    await tick();
    stream.cork();
    for (let i = 0; i < 100; i++) stream.write('0123456789');
    stream.uncork();
    await tick();
    await tick();
    const { frames } = splitFrames(fake.written);
    assert.ok(frames.length <= 3, `${frames.length} frames`);
    const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    const opened = Buffer.concat(frames.map((f) => client.open(f.ciphertext, f.tag)));
    assert.equal(opened.toString(), `abc${'0123456789'.repeat(100)}`);
    stream.destroy();
  });

  test('HARDENING 14: large corked writes share frames sealed part by part, byte-exact', async () => {
    const { fake, stream } = fakeServer();
    // 9-byte pieces between 10 000-byte ones, like HTTP/2 frame headers between DATA payloads: the
    // parts average over 4 KiB, so each is sealed by its own cipher update, across frame boundaries.
    const pieces: Buffer[] = [];
    for (let i = 0; i < 12; i++) pieces.push(pseudoRandomBytes(9, 20 + i), pseudoRandomBytes(10_000, 40 + i));
    stream.cork();
    for (const piece of pieces) stream.write(piece);
    stream.uncork();
    await tick();
    await tick();
    const { frames } = splitFrames(fake.written);
    const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    const opened = Buffer.concat(frames.map((f) => client.open(f.ciphertext, f.tag)));
    assert.ok(opened.equals(Buffer.concat(pieces)));
    assert.ok(frames.every((f) => f.ciphertext.length <= FRAME - FRAME_OVERHEAD));
    assert.equal(frames.length, Math.ceil(opened.length / (FRAME - FRAME_OVERHEAD)));
    stream.destroy();
  });

  test('HARDENING 14: a write that fails part-way is reported, not swallowed', async () => {
    const [client, server, [, serverSocket]] = await protectedPair(FRAME);
    server.pause();
    const result = outcome(client);
    const written = new Promise<Error | null | undefined>((done) =>
      client.write(pseudoRandomBytes(12 << 20, 5), done),
    );
    await once(serverSocket, 'data');
    serverSocket.resetAndDestroy();
    const writeError = await written;
    const { error } = await result;
    assert.ok(writeError instanceof Error, 'write callback got an error');
    assert.ok(error instanceof Error, "'error' emitted");
  });

  test('HARDENING 15: handshake leftover bytes are opened first, even when they end mid-record', async () => {
    for (const cut of [0, 5, 40, wire.length - 3, wire.length]) {
      const { fake, stream } = fakeServer({ leftover: wire.subarray(0, cut) });
      const result = outcome(stream);
      fake.feed(wire.subarray(cut));
      fake.feedEnd();
      const { data, error } = await result;
      assert.equal(error, undefined, `cut ${cut}`);
      assert.ok(data.equals(expected), `cut ${cut}`);
    }
  });

  test('HARDENING 16: empty records are accepted; a flood of them delivers and buffers nothing', async () => {
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    const empties = records('client', [
      ...Array.from({ length: 10_000 }, () => Buffer.alloc(0)),
      Buffer.from('end'),
    ]);
    const flood = Buffer.concat(empties);
    for (let offset = 0; offset < flood.length; offset += 65536) {
      fake.feed(flood.subarray(offset, offset + 65536));
      await tick();
      assert.equal(stream.readableLength, 0);
    }
    fake.feedEnd();
    const { data, chunks, error } = await result;
    assert.equal(error, undefined);
    assert.equal(data.toString(), 'end');
    assert.equal(chunks, 1);
  });

  test('HARDENING 17: a slow reader pauses the socket; plaintext buffered is bounded, not lost', async () => {
    const [client, server, [, serverSocket]] = await protectedPair(FRAME);
    const clientClosed = once(client, 'close');
    const data = pseudoRandomBytes(12 << 20, 6);
    let accepted = 0;
    let stalled = false;
    const writer = (async () => {
      for (let offset = 0; offset < data.length; offset += 65536) {
        accepted += 65536;
        if (!client.write(data.subarray(offset, offset + 65536))) {
          const drained = once(client, 'drain');
          const timeout = new Promise((done) => setTimeout(done, 300, 'timeout'));
          if ((await Promise.race([drained, timeout])) === 'timeout') {
            stalled = true;
            return;
          }
        }
      }
    })();
    await writer;
    assert.ok(stalled, 'the writer stalled on backpressure');
    assert.ok(accepted < data.length, `writer accepted ${accepted} bytes`);
    assert.ok(server.readableLength <= 64 * 1024 + FRAME, `server buffered ${server.readableLength}`);
    assert.ok(serverSocket.isPaused(), 'the socket is paused while the reader is slow');
    // The reader catches up: everything arrives intact.
    const received = readHash(server);
    for (let offset = accepted; offset < data.length; offset += 65536) {
      if (!client.write(data.subarray(offset, offset + 65536))) await once(client, 'drain');
    }
    client.end();
    client.resume();
    const { hash, length } = await received;
    assert.equal(length, data.length);
    assert.equal(hash, sha256(data));
    await clientClosed;
  });

  describe('64 MiB each way over loopback TCP', () => {
    let data: Buffer;
    before(() => {
      data = pseudoRandomBytes(64 << 20, 7);
    });
    after(() => {
      data = Buffer.alloc(0);
    });
    for (const frameSize of [4096, 16384, 1 << 20]) {
      test(`intact (sha256) at frame size ${frameSize}`, async () => {
        const [client, server] = await protectedPair(frameSize);
        const closed = Promise.all([once(client, 'close'), once(server, 'close')]);
        const digest = sha256(data);
        const atServer = readHash(server, data.length);
        const atClient = readHash(client, data.length);
        await Promise.all([
          writeAll(client, data, [1 << 20, 7, 65536, 300_001, 1, 16384]),
          writeAll(server, data, [65536, 1 << 18, 3, 2_000_000]),
        ]);
        const [s, c] = await Promise.all([atServer, atClient]);
        // Ending one side ends the other in turn (like net): only once both directions are through.
        client.end();
        assert.equal(s.length, data.length);
        assert.equal(c.length, data.length);
        assert.equal(s.hash, digest);
        assert.equal(c.hash, digest);
        await closed;
      });
    }
  });

  test('ALTSRP_GCM_AES128 streams interoperate too', async () => {
    const [client, server] = await protectedPair(FRAME, ALTSRP_GCM_AES128);
    const clientClosed = once(client, 'close');
    const received = readHash(server);
    const data = pseudoRandomBytes(300_000, 8);
    await writeAll(client, data, [100_000]);
    client.end();
    assert.equal((await received).hash, sha256(data));
    client.resume();
    await clientClosed;
  });

  test('end() flushes and sends FIN; the peer ends cleanly and ends in turn; both close', async () => {
    const [client, server] = await protectedPair(FRAME);
    const atServer = outcome(server);
    const atClient = outcome(client);
    client.end('bye');
    const [s, c] = await Promise.all([atServer, atClient]);
    assert.equal(s.error, undefined);
    assert.equal(c.error, undefined);
    assert.ok(s.ended && c.ended);
    assert.equal(s.data.toString(), 'bye');
  });

  test('destroy() destroys the socket; a socket error destroys the stream with that error', async () => {
    const [client, server, [clientSocket, serverSocket]] = await protectedPair(FRAME);
    const atServer = outcome(server);
    client.destroy();
    assert.ok(clientSocket.destroyed);
    await atServer;
    assert.ok(serverSocket.destroyed);
    const { fake, stream } = fakeServer();
    const result = outcome(stream);
    fake.destroy(new Error('boom'));
    assert.equal((await result).error?.message, 'boom');
  });

  test('socket-like members forward to the socket', () => {
    const { fake, stream } = fakeServer();
    stream.setNoDelay(true);
    assert.equal(fake.noDelay, true);
    stream.unref();
    assert.equal(fake.refed, false);
    stream.ref();
    assert.equal(fake.refed, true);
    assert.equal(stream.remoteAddress, '10.0.0.1');
    assert.equal(stream.remotePort, 4242);
    assert.equal(stream.localAddress, '10.0.0.2');
    assert.equal(stream.localPort, 443);
    assert.deepEqual(stream.address(), { address: '10.0.0.2', family: 'IPv4', port: 443 });
    assert.equal(stream.setKeepAlive(true, 1000), stream);
    assert.equal(stream.setTimeout(0), stream);
    stream.destroy();
  });

  test('bad options are INVALID_ARGUMENT and leave the socket untouched', () => {
    const fake = new FakeSocket();
    const base = {
      recordProtocol: ALTSRP_GCM_AES128_REKEY,
      keyData: KEY,
      side: 'client' as const,
      writeFrameSize: FRAME,
    };
    const bad = [
      { ...base, writeFrameSize: 1000 },
      { ...base, writeFrameSize: (1 << 20) + 1 },
      { ...base, writeFrameSize: 16384.5 },
      { ...base, keyData: Buffer.alloc(REKEY_KEY_SIZE + 84) },
      { ...base, recordProtocol: 'TLS' },
    ];
    for (const options of bad) {
      assert.throws(
        () => createProtectedStream(fake.asSocket(), options),
        (err: unknown) => AltsError.is(err) && err.code === 'INVALID_ARGUMENT',
      );
    }
    assert.equal(fake.listenerCount('data'), 0);
  });

  test('carries HTTP/2 (http2.connect createConnection / server emit connection)', async () => {
    const [client, server] = await protectedPair(FRAME);
    const h2 = http2.createServer();
    h2.on('stream', (stream, headers) => {
      const hash = createHash('sha256');
      stream.on('data', (chunk: Buffer) => hash.update(chunk));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(`${String(headers[':path'])} ${hash.digest('hex')}`);
      });
    });
    h2.emit('connection', server);
    const session = http2.connect('https://alts.test', { createConnection: () => client });
    const request = session.request({ ':method': 'POST', ':path': '/over-alts' });
    const upload = pseudoRandomBytes(200_000, 9);
    request.end(upload);
    const body: Buffer[] = [];
    request.on('data', (chunk: Buffer) => body.push(chunk));
    await once(request, 'end');
    assert.equal(Buffer.concat(body).toString(), `/over-alts ${sha256(upload)}`);
    const serverClosed = once(server, 'close');
    session.close();
    await serverClosed;
    h2.close();
  });
});
