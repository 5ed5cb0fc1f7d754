import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_LENGTH_FIELD, MIN_FRAME_SIZE } from '../constants.js';
import { AltsError } from '../errors.js';
import {
  FRAME_HEADER_SIZE,
  FRAME_LENGTH_FIELD_SIZE,
  FRAME_OVERHEAD,
  FRAME_TAG_SIZE,
  FRAME_TYPE_FIELD_SIZE,
  negotiateWriteFrameSize,
  parseFrames,
  RECORD_MESSAGE_TYPE,
  serializeFrame,
} from './frame.js';
import { hex, loadVectors } from './support.test.shared.js';

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

  test('serializeFrame and parseFrames round-trip every derived record byte for byte', () => {
    for (const v of loadVectors().derived_records) {
      const body = hex(v.ciphertext_and_tag);
      const frame = serializeFrame(body.subarray(0, -16), body.subarray(-16));
      assert.equal(frame.toString('hex'), v.frame, v.name);
      const { frames, rest } = parseFrames(frame);
      assert.equal(frames.length, 1);
      assert.equal(rest.length, 0);
      const [parsed] = frames;
      assert.ok(parsed);
      assert.equal(Buffer.concat([parsed.ciphertext, parsed.tag]).toString('hex'), v.ciphertext_and_tag);
    }
  });

  test('parseFrames returns whole frames and the rest without reading past the buffer', () => {
    const records = loadVectors().derived_records.map((v) => hex(v.frame));
    const all = Buffer.concat(records);
    for (let cut = 0; cut <= all.length; cut++) {
      const { frames, rest } = parseFrames(all.subarray(0, cut));
      let whole = 0;
      let used = 0;
      for (const r of records) {
        if (used + r.length > cut) break;
        used += r.length;
        whole++;
      }
      assert.equal(frames.length, whole, `cut ${cut}`);
      assert.equal(rest.length, cut - used);
      // Views, not copies.
      if (frames[0] !== undefined) assert.equal(frames[0].ciphertext.buffer, all.buffer);
    }
  });

  test('HARDENING 4: length < 4 (incl. 0) and length < 20 are rejected before any body is read', () => {
    for (const length of [0, 1, 3]) {
      badFrame(() => parseFrames(header(length).subarray(0, 4)), /shorter than the message type field/);
    }
    for (const length of [4, 5, 19]) {
      badFrame(() => parseFrames(header(length)), /no room for the 16-byte tag/);
    }
    // 20 is the smallest legal frame (empty plaintext): accepted.
    assert.equal(parseFrames(Buffer.concat([header(20), Buffer.alloc(16)])).frames.length, 1);
  });

  test('HARDENING 5: length > 1 MiB is rejected from the 4 length bytes alone; exactly 1 MiB is accepted', () => {
    badFrame(
      () => parseFrames(header(MAX_FRAME_LENGTH_FIELD + 1).subarray(0, 4)),
      /larger than the limit 1048576/,
    );
    const max = Buffer.concat([header(MAX_FRAME_LENGTH_FIELD), Buffer.alloc(MAX_FRAME_LENGTH_FIELD - 4)]);
    const { frames } = parseFrames(max);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.ciphertext.length, MAX_FRAME_LENGTH_FIELD - 20);
    // Incomplete max-size frame: waits, no error.
    assert.equal(parseFrames(max.subarray(0, 100)).rest.length, 100);
  });

  test('HARDENING 6: 0xffffffff and 0x80000000 lengths are rejected like oversize, no sign bugs', () => {
    for (const length of [0xffffffff, 0x80000000, 0x7fffffff]) {
      badFrame(() => parseFrames(header(length)), /larger than the limit/);
    }
  });

  test('HARDENING 7: any type other than exactly 6 is rejected, on all four bytes (stricter than grpc-go)', () => {
    const ok = Buffer.concat([header(20), Buffer.alloc(16)]);
    for (const type of [0, 5, 7, 0x106, 0x10006, 0x1000006, 0x06000000, 0xffffffff]) {
      const frame = Buffer.from(ok);
      frame.writeUInt32LE(type, 4);
      badFrame(() => parseFrames(frame), /message type/);
    }
  });

  test('serializeFrame refuses a bad tag or an oversized body', () => {
    badFrame(() => serializeFrame(Buffer.alloc(1), Buffer.alloc(15)), /tag/);
    badFrame(
      () => serializeFrame(Buffer.alloc(MAX_FRAME_LENGTH_FIELD), Buffer.alloc(16)),
      /larger than the limit/,
    );
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
