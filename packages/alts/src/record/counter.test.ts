import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AltsError } from '../errors.js';
import {
  COUNTER_SIZE,
  createFrameCounter,
  FrameCounter,
  PLAIN_COUNTER_OVERFLOW_LENGTH,
  REKEY_COUNTER_OVERFLOW_LENGTH,
} from './counter.js';
import { hex, loadVectors } from './record.test.util.js';

function overflowError(err: unknown): boolean {
  return AltsError.is(err) && err.code === 'COUNTER_OVERFLOW';
}

describe('counter', () => {
  test('overflow lengths and size match vectors.json', () => {
    const c = loadVectors().constants;
    assert.equal(COUNTER_SIZE, c.counter_bytes);
    assert.equal(REKEY_COUNTER_OVERFLOW_LENGTH, c.rekey_overflow_len_bytes);
    assert.equal(PLAIN_COUNTER_OVERFLOW_LENGTH, c.plain_overflow_len_bytes);
  });

  test('every counter_increment vector', () => {
    const vectors = loadVectors().counter_increment;
    assert.ok(vectors.length > 0);
    for (const v of vectors) {
      const counter = new FrameCounter(hex(v.before), v.overflow_len);
      counter.increment();
      assert.equal(counter.value().toString('hex'), v.after, v.before);
    }
  });

  test('HARDENING 12: every counter_overflow vector: one more increment is valid, then none, no wrap', () => {
    const vectors = loadVectors().counter_overflow;
    assert.ok(vectors.length > 0);
    for (const v of vectors) {
      const counter = new FrameCounter(hex(v.start), v.overflow_len);
      counter.increment();
      const allOnes = counter.value().toString('hex');
      assert.equal(allOnes.slice(0, 2 * v.overflow_len), 'ff'.repeat(v.overflow_len), v.start);
      assert.equal(allOnes.slice(2 * v.overflow_len), v.start.slice(2 * v.overflow_len));
      counter.increment();
      assert.ok(counter.exhausted);
      assert.throws(() => counter.value(), overflowError);
      assert.throws(() => counter.increment(), overflowError);
      assert.throws(() => counter.value(), overflowError, 'stays unusable');
    }
  });

  test('initial counters: client out / server in all zero, server out / client in byte 11 = 0x80', () => {
    const v = loadVectors().initial_counters;
    for (const len of [REKEY_COUNTER_OVERFLOW_LENGTH, PLAIN_COUNTER_OVERFLOW_LENGTH]) {
      assert.equal(
        createFrameCounter('client', 'outbound', len).value().toString('hex'),
        v.client_outbound_and_server_inbound,
      );
      assert.equal(
        createFrameCounter('server', 'inbound', len).value().toString('hex'),
        v.client_outbound_and_server_inbound,
      );
      assert.equal(
        createFrameCounter('server', 'outbound', len).value().toString('hex'),
        v.server_outbound_and_client_inbound,
      );
      assert.equal(
        createFrameCounter('client', 'inbound', len).value().toString('hex'),
        v.server_outbound_and_client_inbound,
      );
    }
  });

  test('little-endian carry stays inside the counted bytes and never touches the direction byte', () => {
    const counter = createFrameCounter('server', 'outbound', REKEY_COUNTER_OVERFLOW_LENGTH);
    counter.setFrameIndexForTesting(0xffffn);
    counter.increment();
    assert.equal(counter.value().toString('hex'), '000001000000000000000080');
    counter.setFrameIndexForTesting((1n << 64n) - 1n);
    assert.equal(counter.value().toString('hex'), 'ffffffffffffffff00000080');
    counter.increment();
    assert.throws(() => counter.value(), overflowError);
  });

  test('rejects bad construction arguments', () => {
    assert.throws(() => new FrameCounter(Buffer.alloc(11), 8), /INVALID_ARGUMENT/);
    assert.throws(() => new FrameCounter(Buffer.alloc(12), 0), /INVALID_ARGUMENT/);
    assert.throws(() => new FrameCounter(Buffer.alloc(12), 12), /INVALID_ARGUMENT/);
    const c = new FrameCounter(Buffer.alloc(12), 5);
    assert.throws(() => c.setFrameIndexForTesting(1n << 40n), /INVALID_ARGUMENT/);
  });
});
