import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  ALTSRP_GCM_AES128,
  ALTSRP_GCM_AES128_REKEY,
  RECORD_PROTOCOL_KEY_SIZES,
  REKEY_KEY_SIZE,
  type RecordProtocol,
} from '../constants.js';
import { AltsError } from '../errors.js';
import {
  createPlainAead,
  createRecordCrypter,
  REKEY_KDF_COUNTER_OFFSET,
  REKEY_KDF_COUNTER_SIZE,
  REKEY_KDF_KEY_SIZE,
  RekeyAead,
} from './crypter.js';
import { FRAME_TAG_SIZE } from './frame.js';
import { frameOf, hex, loadVectors, splitFrames } from './record.test.util.js';

function isCode(code: string): (err: unknown) => boolean {
  return (err) => AltsError.is(err) && err.code === code;
}

function split(ciphertextAndTag: Buffer): [Buffer, Buffer] {
  return [ciphertextAndTag.subarray(0, -FRAME_TAG_SIZE), ciphertextAndTag.subarray(-FRAME_TAG_SIZE)];
}

const KEY = Buffer.alloc(REKEY_KEY_SIZE, 7);

describe('crypter', () => {
  test('key sizes match vectors.json', () => {
    const c = loadVectors().constants;
    assert.equal(REKEY_KEY_SIZE, c.rekey_key_data_bytes);
    assert.equal(REKEY_KDF_KEY_SIZE, c.rekey_kdf_key_bytes);
    assert.equal(REKEY_KDF_COUNTER_OFFSET, c.rekey_kdf_counter_offset);
    assert.equal(REKEY_KDF_COUNTER_SIZE, c.rekey_kdf_counter_len);
    assert.equal(RECORD_PROTOCOL_KEY_SIZES[ALTSRP_GCM_AES128], c.plain_key_bytes);
  });

  test('HARDENING 1: every aes128gcm vector (grpc-go aes128gcm_test.go) seals and opens byte-exact', () => {
    const vectors = loadVectors().aes128gcm;
    assert.ok(vectors.length > 0);
    for (const v of vectors) {
      const aead = createPlainAead(hex(v.key));
      const sealed = aead.seal(hex(v.counter), hex(v.plaintext));
      assert.equal(
        Buffer.concat([sealed.ciphertext, sealed.tag]).toString('hex'),
        v.ciphertext_and_tag,
        v.id,
      );
      const [ct, tag] = split(hex(v.ciphertext_and_tag));
      assert.equal(aead.open(hex(v.counter), ct, tag).toString('hex'), v.plaintext, v.id);
      // The vector's sender follows the direction bit in byte 11.
      const byteEleven = hex(v.counter)[11] ?? 0;
      assert.equal(byteEleven >= 0x80 ? 'server' : 'client', v.sender);
    }
  });

  test('HARDENING 1: every rekey_aead vector (go/java/core), with KDF key, counter and mask steps', () => {
    const vectors = loadVectors().rekey_aead;
    assert.equal(vectors.length, 24);
    for (const v of vectors) {
      const key = hex(v.key);
      const nonce = hex(v.nonce);
      // Intermediates, computed independently of the implementation under test.
      const kdfCounter = nonce.subarray(2, 8);
      assert.equal(kdfCounter.toString('hex'), v.kdf_counter, v.id);
      const derived = createHmac('sha256', key.subarray(0, 32))
        .update(Buffer.concat([kdfCounter, Buffer.from([1])]))
        .digest()
        .subarray(0, 16);
      assert.equal(derived.toString('hex'), v.derived_aes_key, v.id);
      const masked = Buffer.from(nonce.map((b, i) => b ^ (key[32 + i] ?? 0)));
      assert.equal(masked.toString('hex'), v.masked_nonce, v.id);

      const aead = new RekeyAead(key);
      const sealed = aead.seal(nonce, hex(v.plaintext), hex(v.aad));
      assert.equal(
        Buffer.concat([sealed.ciphertext, sealed.tag]).toString('hex'),
        v.ciphertext_and_tag,
        v.id,
      );
      const [ct, tag] = split(hex(v.ciphertext_and_tag));
      assert.equal(aead.open(nonce, ct, tag, hex(v.aad)).toString('hex'), v.plaintext, v.id);
    }
  });

  test('HARDENING 1: every derived record is produced by the sender and opened by the receiver', () => {
    const vectors = loadVectors().derived_records;
    assert.ok(vectors.length > 0);
    for (const v of vectors) {
      const key = hex(v.key);
      const receiver = v.sender === 'client' ? 'server' : 'client';
      const sender = createRecordCrypter(v.record_protocol, key, v.sender);
      const opener = createRecordCrypter(v.record_protocol, key, receiver);
      sender.setFrameIndexesForTesting(BigInt(v.frame_index), 0n);
      opener.setFrameIndexesForTesting(0n, BigInt(v.frame_index));
      const sealed = sender.seal(hex(v.plaintext));
      assert.equal(frameOf(sealed).toString('hex'), v.frame, v.name);
      const frame = splitFrames(hex(v.frame)).frames[0];
      assert.ok(frame);
      assert.equal(opener.open(frame.ciphertext, frame.tag).toString('hex'), v.plaintext, v.name);
    }
  });

  test('HARDENING 9: a replayed record fails authentication, and the crypter stays failed', () => {
    const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    const server = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'server');
    const first = client.seal(Buffer.from('one'));
    assert.equal(server.open(first.ciphertext, first.tag).toString(), 'one');
    assert.throws(() => server.open(first.ciphertext, first.tag), isCode('AUTH_FAILED'));
    const second = client.seal(Buffer.from('two'));
    assert.throws(() => server.open(second.ciphertext, second.tag), isCode('AUTH_FAILED'));
  });

  test('beginOpen: a record opened piece by piece equals open(); a bad tag breaks the crypter', () => {
    const protocols: RecordProtocol[] = [ALTSRP_GCM_AES128_REKEY, ALTSRP_GCM_AES128];
    for (const protocol of protocols) {
      const key = KEY.subarray(0, RECORD_PROTOCOL_KEY_SIZES[protocol]);
      const client = createRecordCrypter(protocol, key, 'client');
      const server = createRecordCrypter(protocol, key, 'server');
      const plaintext = Buffer.from('a record that arrives in several socket reads');
      for (let round = 0; round < 3; round++) {
        const { ciphertext, tag } = client.seal(plaintext);
        const opening = server.beginOpen();
        const pieces = [ciphertext.subarray(0, 5), ciphertext.subarray(5, 6), ciphertext.subarray(6)];
        const opened = Buffer.concat(pieces.map((piece) => opening.update(piece)));
        opening.finish(tag);
        assert.ok(opened.equals(plaintext), protocol);
      }
      // The counter advanced once per record: open() takes the next one.
      const next = client.seal(Buffer.from('next'));
      assert.equal(server.open(next.ciphertext, next.tag).toString(), 'next', protocol);
      const bad = client.seal(Buffer.from('bad'));
      const opening = server.beginOpen();
      opening.update(bad.ciphertext);
      const badTag = Buffer.from(bad.tag);
      badTag[0] = (badTag[0] ?? 0) ^ 1;
      assert.throws(() => opening.finish(badTag), isCode('AUTH_FAILED'), protocol);
      const after = client.seal(Buffer.from('after'));
      assert.throws(() => server.beginOpen(), isCode('AUTH_FAILED'), protocol);
      assert.throws(() => server.open(after.ciphertext, after.tag), isCode('AUTH_FAILED'), protocol);
    }
  });

  test('HARDENING 10: reordered or skipped records fail authentication', () => {
    const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    const server = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'server');
    client.seal(Buffer.from('one'));
    const second = client.seal(Buffer.from('two'));
    assert.throws(() => server.open(second.ciphertext, second.tag), isCode('AUTH_FAILED'));
  });

  test('HARDENING 11: a record echoed back to its sender fails: counters differ by direction', () => {
    for (const protocol of [ALTSRP_GCM_AES128_REKEY, ALTSRP_GCM_AES128] as const) {
      const key = KEY.subarray(0, RECORD_PROTOCOL_KEY_SIZES[protocol]);
      const client = createRecordCrypter(protocol, key, 'client');
      const own = client.seal(Buffer.from('hello'));
      assert.throws(() => client.open(own.ciphertext, own.tag), isCode('AUTH_FAILED'), protocol);
    }
  });

  test('HARDENING 12: counter exhaustion: seal and open refuse after 2^64 (rekey) / 2^40 (plain)', () => {
    const cases: Array<[RecordProtocol, bigint]> = [
      [ALTSRP_GCM_AES128_REKEY, 64n],
      [ALTSRP_GCM_AES128, 40n],
    ];
    for (const [protocol, bits] of cases) {
      const key = KEY.subarray(0, RECORD_PROTOCOL_KEY_SIZES[protocol]);
      const client = createRecordCrypter(protocol, key, 'client');
      const server = createRecordCrypter(protocol, key, 'server');
      const last = (1n << bits) - 1n;
      client.setFrameIndexesForTesting(last, 0n);
      server.setFrameIndexesForTesting(0n, last);
      const sealed = client.seal(Buffer.from('last'));
      assert.equal(server.open(sealed.ciphertext, sealed.tag).toString(), 'last', protocol);
      assert.throws(() => client.seal(Buffer.from('wrapped')), isCode('COUNTER_OVERFLOW'), protocol);
      assert.throws(() => client.seal(Buffer.from('again')), isCode('COUNTER_OVERFLOW'), protocol);
      assert.throws(() => server.open(sealed.ciphertext, sealed.tag), isCode('COUNTER_OVERFLOW'), protocol);
    }
  });

  test('HARDENING 13: the key changes exactly at the 2^16 boundary, both ways (65 537 records each)', () => {
    const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    const server = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'server');
    const empty = Buffer.alloc(0);
    for (let i = 0; i <= 0x10000; i++) {
      const c = client.seal(empty);
      server.open(c.ciphertext, c.tag);
      const s = server.seal(empty);
      client.open(s.ciphertext, s.tag);
    }
    // Frame 65 537 on each side: uses the second key; compare with an independent computation.
    const ref = new RekeyAead(KEY);
    const c = client.seal(Buffer.from('abc'));
    const clientNonce = hex('010001000000000000000000');
    assert.deepEqual(ref.seal(clientNonce, Buffer.from('abc')), c);
    assert.equal(server.open(c.ciphertext, c.tag).toString(), 'abc');
    const s = server.seal(Buffer.from('xyz'));
    const serverNonce = hex('010001000000000000000080');
    assert.deepEqual(ref.seal(serverNonce, Buffer.from('xyz')), s);
    assert.equal(client.open(s.ciphertext, s.tag).toString(), 'xyz');
  });

  test('HARDENING 13: wrong key lengths and unknown protocols are INVALID_ARGUMENT', () => {
    for (const size of [0, 16, 32, 43, 45, 128]) {
      assert.throws(
        () => createRecordCrypter(ALTSRP_GCM_AES128_REKEY, Buffer.alloc(size), 'client'),
        isCode('INVALID_ARGUMENT'),
      );
    }
    for (const size of [0, 15, 17, 44]) {
      assert.throws(
        () => createRecordCrypter(ALTSRP_GCM_AES128, Buffer.alloc(size), 'server'),
        isCode('INVALID_ARGUMENT'),
      );
    }
    assert.throws(
      () => createRecordCrypter('ALTSRP_GMAC_128', Buffer.alloc(16), 'client'),
      isCode('INVALID_ARGUMENT'),
    );
    assert.throws(
      () => createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'peer' as 'client'),
      isCode('INVALID_ARGUMENT'),
    );
  });

  test('a wrong-length tag or a flipped bit never yields plaintext', () => {
    const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    const sealed = client.seal(Buffer.from('secret'));
    const fresh = () => createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'server');
    assert.throws(() => fresh().open(sealed.ciphertext, sealed.tag.subarray(0, 12)), isCode('AUTH_FAILED'));
    const body = Buffer.concat([sealed.ciphertext, sealed.tag]);
    for (let bit = 0; bit < body.length * 8; bit++) {
      const copy = Buffer.from(body);
      copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      assert.throws(() => fresh().open(copy.subarray(0, -16), copy.subarray(-16)), isCode('AUTH_FAILED'));
    }
    assert.equal(fresh().open(sealed.ciphertext, sealed.tag).toString(), 'secret');
  });

  test('overhead is the tag; seal does not alias its input', () => {
    const client = createRecordCrypter(ALTSRP_GCM_AES128_REKEY, KEY, 'client');
    assert.equal(client.overhead, 16);
    const input = Buffer.from('payload');
    const sealed = client.seal(input);
    assert.equal(input.toString(), 'payload');
    assert.notEqual(sealed.ciphertext.buffer, input.buffer);
  });
});
