import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cutAt, envInt, settleWithin, within } from './fuzz.js';

describe('fuzz harness', () => {
  test('envInt: unset, empty or non-integer values fall back; integers are clamped', () => {
    const name = 'TEST_SUPPORT_ENV_INT';
    const read = (value: string | undefined) => {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
      return envInt(name, 7, -5, 100);
    };
    try {
      assert.equal(read(undefined), 7);
      assert.equal(read(''), 7);
      assert.equal(read('  '), 7);
      assert.equal(read('1e3'), 7);
      assert.equal(read('12abc'), 7);
      assert.equal(read(' 42 '), 42);
      assert.equal(read('-9'), -5);
      assert.equal(read('99999999999'), 100);
    } finally {
      delete process.env[name];
    }
  });

  test('cutAt: cuts taken modulo the length, duplicates and 0 dropped, nothing lost', () => {
    const data = Buffer.from('abcdefgh');
    assert.deepEqual(
      cutAt(data, [3, 11, 0, 8, 5]).map((b) => b.toString()),
      ['abc', 'de', 'fgh'],
    );
    assert.deepEqual(cutAt(data, []), [data]);
    assert.deepEqual(cutAt(Buffer.alloc(0), [1, 2]), []);
  });

  test('settleWithin reports both outcomes and fails a promise that hangs', async () => {
    assert.deepEqual(await settleWithin(Promise.resolve(1), 1_000, 'x'), { status: 'fulfilled', value: 1 });
    const error = new Error('no');
    assert.deepEqual(await settleWithin(Promise.reject(error), 1_000, 'x'), {
      status: 'rejected',
      reason: error,
    });
    await assert.rejects(settleWithin(new Promise(() => undefined), 10, 'the case'), {
      name: 'AssertionError',
      message: /the case did not settle within 10 ms/,
    });
  });

  test('within passes a rejection through', async () => {
    assert.equal(await within(Promise.resolve('v'), 1_000, 'x'), 'v');
    await assert.rejects(within(Promise.reject(new Error('no')), 1_000, 'x'), /no/);
  });
});
