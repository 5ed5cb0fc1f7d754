import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ALTSRP_GCM_AES128_REKEY,
  MAX_FRAME_LENGTH_FIELD,
  MAX_WRITE_FRAME_SIZE,
  MIN_FRAME_SIZE,
  REKEY_KEY_SIZE,
} from '../constants.js';
import { AltsError } from '../errors.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../grpc/options.js';
import { createRecordCrypter } from './crypter.js';
import {
  FRAME_HEADER_SIZE,
  FRAME_LENGTH_FIELD_SIZE,
  FRAME_OVERHEAD,
  FRAME_TAG_SIZE,
  FRAME_TYPE_FIELD_SIZE,
  frameHeader,
  negotiateWriteFrameSize,
  RECORD_MESSAGE_TYPE,
} from './frame.js';
import { hex, loadVectors, pseudoRandomBytes, splitFrames } from './record.test.util.js';
import { OutboundPlaintext, RecordWriter } from './writer.js';

function header(length: number, type = RECORD_MESSAGE_TYPE): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h.writeUInt32LE(length, 0);
  h.writeUInt32LE(type, 4);
  return h;
}

function badFrame(fn: () => unknown, message: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) => AltsError.is(err) && err.code === 'BAD_FRAME' && message.test(err.message),
  );
}

describe('frame', () => {
  test('constants match vectors.json', () => {
    const c = loadVectors().constants;
    assert.equal(FRAME_LENGTH_FIELD_SIZE, c.frame_length_field_bytes);
    assert.equal(FRAME_TYPE_FIELD_SIZE, c.frame_type_field_bytes);
    assert.equal(FRAME_HEADER_SIZE, c.frame_header_bytes);
    assert.equal(FRAME_TAG_SIZE, c.tag_bytes);
    assert.equal(RECORD_MESSAGE_TYPE, c.frame_type_value);
    assert.equal(FRAME_OVERHEAD, 24);
    assert.equal(MAX_FRAME_LENGTH_FIELD, 1_048_576);
  });

  test('the writer frames and the reader unframes every derived record byte for byte', () => {
    for (const v of loadVectors().derived_records) {
      const body = hex(v.ciphertext_and_tag);
      assert.equal(
        Buffer.concat([frameHeader(body.length - FRAME_TAG_SIZE), body]).toString('hex'),
        v.frame,
        v.name,
      );
      const { frames, partial } = splitFrames(hex(v.frame));
      assert.equal(frames.length, 1);
      assert.equal(partial, false);
      const [parsed] = frames;
      assert.ok(parsed);
      assert.equal(Buffer.concat([parsed.ciphertext, parsed.tag]).toString('hex'), v.ciphertext_and_tag);
      // An empty write needs no record: the writer never sends one, though the reader accepts it.
      if (v.plaintext.length === 0) continue;
      const sender = createRecordCrypter(v.record_protocol, hex(v.key), v.sender);
      sender.setFrameIndexesForTesting(BigInt(v.frame_index), 0n);
      const written: Buffer[] = [];
      new RecordWriter(sender, MAX_WRITE_FRAME_SIZE).sealInto(
        { write: (piece) => written.push(piece) },
        new OutboundPlaintext([hex(v.plaintext)]),
        Number.POSITIVE_INFINITY,
      );
      assert.equal(Buffer.concat(written).toString('hex'), v.frame, v.name);
    }
  });

  test('the reader opens every whole frame at any cut, in place, and waits for the rest', () => {
    const records = loadVectors().derived_records.map((v) => hex(v.frame));
    const all = Buffer.concat(records);
    for (let cut = 0; cut <= all.length; cut++) {
      const { frames, partial } = splitFrames(all.subarray(0, cut));
      let whole = 0;
      let used = 0;
      for (const r of records) {
        if (used + r.length > cut) break;
        used += r.length;
        whole++;
      }
      assert.equal(frames.length, whole, `cut ${cut}`);
      assert.equal(partial, cut > used, `cut ${cut}`);
      // Views, not copies.
      if (frames[0] !== undefined) assert.equal(frames[0].ciphertext.buffer, all.buffer);
    }
  });

  test('HARDENING 4: length < 4 (incl. 0) and length < 20 are rejected before any body is read', () => {
    for (const length of [0, 1, 3]) {
      badFrame(() => splitFrames(header(length).subarray(0, 4)), /shorter than the message type field/);
    }
    for (const length of [4, 5, 19]) {
      badFrame(() => splitFrames(header(length)), /no room for the 16-byte tag/);
    }
    // 20 is the smallest legal frame (empty plaintext): accepted.
    assert.equal(splitFrames(Buffer.concat([header(20), Buffer.alloc(16)])).frames.length, 1);
  });

  test('HARDENING 5: length > 1 MiB is rejected from the 4 length bytes alone; 1 MiB is accepted', () => {
    badFrame(
      () => splitFrames(header(MAX_FRAME_LENGTH_FIELD + 1).subarray(0, 4)),
      /larger than the limit 1048576/,
    );
    const max = Buffer.concat([header(MAX_FRAME_LENGTH_FIELD), Buffer.alloc(MAX_FRAME_LENGTH_FIELD - 4)]);
    const { frames } = splitFrames(max);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.ciphertext.length, MAX_FRAME_LENGTH_FIELD - 20);
    // Incomplete max-size frame: waits, no error.
    assert.equal(splitFrames(max.subarray(0, 100)).partial, true);
  });

  test('HARDENING 6: 0xffffffff and 0x80000000 lengths are rejected like oversize, no sign bugs', () => {
    for (const length of [0xffffffff, 0x80000000, 0x7fffffff]) {
      badFrame(() => splitFrames(header(length)), /larger than the limit/);
    }
  });

  test('HARDENING 7: any type but exactly 6 is rejected, on all four bytes (stricter than grpc-go)', () => {
    const ok = Buffer.concat([header(20), Buffer.alloc(16)]);
    for (const type of [0, 5, 7, 0x106, 0x10006, 0x1000006, 0x06000000, 0xffffffff]) {
      const frame = Buffer.from(ok);
      frame.writeUInt32LE(type, 4);
      badFrame(() => splitFrames(frame), /message type/);
    }
  });

  test('the writer makes the same frames from a payload whole, in small writes or in large parts', () => {
    const writeFrameSize = 16 * 1024;
    const payload = pseudoRandomBytes(3 * (writeFrameSize - FRAME_OVERHEAD) + 5000, 10);
    const pieces = (sizes: readonly number[]): Buffer[] => {
      const out: Buffer[] = [];
      for (let at = 0, i = 0; at < payload.length; i++) {
        const size = sizes[i % sizes.length] ?? 1;
        out.push(payload.subarray(at, at + size));
        at += size;
      }
      return out;
    };
    const ways: Array<[string, Buffer[], 'seal' | 'sealParts']> = [
      ['whole', [payload], 'seal'],
      // Small writes are copied together and sealed at once.
      ['small writes', pieces([100, 7, 1000]), 'seal'],
      // HTTP/2-like 9-byte headers between large payloads are sealed part by part.
      ['large parts', pieces([9, 10_000]), 'sealParts'],
    ];
    let reference: Buffer | undefined;
    for (const [name, buffers, route] of ways) {
      for (const budget of [Number.POSITIVE_INFINITY, 1]) {
        const crypter = createRecordCrypter(
          ALTSRP_GCM_AES128_REKEY,
          Buffer.alloc(REKEY_KEY_SIZE, 7),
          'client',
        );
        const calls = { seal: 0, sealParts: 0 };
        const writer = new RecordWriter(
          {
            seal: (plaintext) => {
              calls.seal++;
              return crypter.seal(plaintext);
            },
            sealParts: (parts) => {
              calls.sealParts++;
              return crypter.sealParts(parts);
            },
          },
          writeFrameSize,
        );
        const written: Buffer[] = [];
        const plaintext = new OutboundPlaintext(buffers);
        // A budget of one byte seals one frame per call: batches resume where the last one stopped.
        while (!plaintext.done) writer.sealInto({ write: (piece) => written.push(piece) }, plaintext, budget);
        const wire = Buffer.concat(written);
        reference ??= wire;
        assert.ok(wire.equals(reference), `${name}, budget ${budget}`);
        assert.ok(calls[route] > 0, `${name} sealed by ${route}`);
        const { frames, partial } = splitFrames(wire);
        assert.equal(partial, false);
        assert.equal(frames.length, 4);
        assert.ok(frames.every((f) => f.ciphertext.length + FRAME_OVERHEAD <= writeFrameSize));
      }
    }
  });

  test('a small frame is written as one piece (header, ciphertext, tag); a large one stays in pieces', () => {
    const key = Buffer.alloc(REKEY_KEY_SIZE, 9);
    const writer = new RecordWriter(
      createRecordCrypter(ALTSRP_GCM_AES128_REKEY, key, 'client'),
      MIN_FRAME_SIZE,
    );
    const reference = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, key, 'client');
    // The frame before the copy threshold, the last copied one, and the first one written in pieces.
    const sizes = [100, 4095 - FRAME_OVERHEAD, 4096 - FRAME_OVERHEAD];
    const written: Buffer[][] = [];
    const expected: Buffer[] = [];
    for (const size of sizes) {
      const pieces: Buffer[] = [];
      const payload = pseudoRandomBytes(size, size);
      writer.sealInto({ write: (piece) => pieces.push(piece) }, new OutboundPlaintext([payload]), size);
      const { ciphertext, tag } = reference.seal(payload);
      written.push(pieces);
      expected.push(Buffer.concat([frameHeader(size), ciphertext, tag]));
    }
    assert.deepEqual(
      written.map((pieces) => pieces.length),
      [1, 1, 3],
    );
    // Checked after every frame was written: copied frames share Node's allocation pool, never
    // each other's bytes.
    for (const [i, pieces] of written.entries()) {
      assert.ok(Buffer.concat(pieces).equals(expected[i] as Buffer), `${sizes[i]}`);
    }
  });

  test('negotiateWriteFrameSize follows docs/protocol.md §4.6 for every peer kind', () => {
    assert.equal(MIN_FRAME_SIZE, 16384);
    // grpc-go peer advertises nothing.
    assert.equal(negotiateWriteFrameSize(0, DEFAULT_MAX_FRAME_SIZE), 16384);
    // java peer: 128 KiB.
    assert.equal(negotiateWriteFrameSize(131072, 1048576), 131072);
    assert.equal(negotiateWriteFrameSize(131072, DEFAULT_MAX_FRAME_SIZE), 131072);
    // C-core peer: 1 MiB, capped by ours.
    assert.equal(negotiateWriteFrameSize(1048576, 131072), 131072);
    assert.equal(negotiateWriteFrameSize(1048576, 1048576), 1048576);
    // A peer asking for less than the floor still gets 16 KiB (java/core behaviour).
    assert.equal(negotiateWriteFrameSize(4096, 1048576), 16384);
    // Never above 1 MiB total, whatever both sides say.
    assert.equal(negotiateWriteFrameSize(16 * 1048576, 16 * 1048576), 1048576);
    assert.equal(negotiateWriteFrameSize(Number.NaN, 1048576), 16384);
    assert.equal(negotiateWriteFrameSize(1048576, 0), 16384);
    assert.ok(DEFAULT_MAX_FRAME_SIZE === 131072 || DEFAULT_MAX_FRAME_SIZE === 1048576);
  });
});
