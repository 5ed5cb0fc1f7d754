/**
 * Record crypters for ALTSRP_GCM_AES128_REKEY and ALTSRP_GCM_AES128 (docs/protocol.md §4.1, §4.3, §4.4),
 * built on node:crypto AES-128-GCM and HMAC-SHA256 only.
 */
import {
  type CipherGCM,
  type CipherGCMOptions,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type DecipherGCM,
  type KeyObject,
} from 'node:crypto';
import {
  AES128_KEY_SIZE,
  ALTSRP_GCM_AES128,
  ALTSRP_GCM_AES128_REKEY,
  REKEY_KEY_SIZE,
  type RecordProtocol,
  type Side,
} from '../constants.js';
import { AltsError } from '../errors.js';
import {
  COUNTER_SIZE,
  createFrameCounter,
  type FrameCounter,
  PLAIN_COUNTER_OVERFLOW_LENGTH,
  REKEY_COUNTER_OVERFLOW_LENGTH,
} from './counter.js';
import { FRAME_TAG_SIZE } from './frame.js';

/** HMAC-SHA256 key at the front of the rekey key data (go `kdfKeyLen`, java `KDF_KEY_LENGTH`). */
export const REKEY_KDF_KEY_SIZE = 32;
/**
 * First nonce byte fed to the KDF: bytes 0–1 are the frame index within a 2^16 window (go
 * `kdfCounterOffset`).
 */
export const REKEY_KDF_COUNTER_OFFSET = 2;
/** Nonce bytes fed to the KDF (go `kdfCounterLen`, java `KDF_COUNTER_LENGTH`). */
export const REKEY_KDF_COUNTER_SIZE = 6;
/** GCM nonce size; the counter is one nonce (go `nonceLen`). */
export const GCM_NONCE_SIZE = COUNTER_SIZE;
/**
 * HKDF-Expand's first block counter byte: T(1) = HMAC(PRK, info ‖ 0x01) (RFC 5869 §2.3; docs/protocol.md
 * §4.4).
 */
const HKDF_FIRST_BLOCK = 0x01;

const GCM_OPTIONS: CipherGCMOptions = { authTagLength: FRAME_TAG_SIZE };

/** Ciphertext and tag of one sealed record, kept apart so they can be written without a copy. */
export interface SealedRecord {
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** Ciphertext pieces (one per plaintext part, same sizes) and tag of one sealed record. */
export interface SealedParts {
  readonly ciphertext: Buffer[];
  readonly tag: Buffer;
}

/**
 * One connection's record crypto: seals outbound records and opens inbound ones, each direction with its own
 * counter. Any failure is fatal for the connection (docs/protocol.md §10.20): the caller must close it.
 */
export interface RecordCrypter {
  readonly recordProtocol: RecordProtocol;
  /** Bytes the AEAD adds to a plaintext (the tag). The 8-byte frame header is counted by the framing. */
  readonly overhead: number;
  /** Seals the next outbound record. Throws `COUNTER_OVERFLOW` when the outbound counter is exhausted. */
  seal(plaintext: Uint8Array): SealedRecord;
  /**
   * Seals the next outbound record, whose plaintext is the concatenation of `parts`, without
   * concatenating them: each part is encrypted by its own cipher update, and `ciphertext[i]` is the
   * ciphertext of `parts[i]`. Same failures as {@link seal}.
   */
  sealParts(parts: readonly Uint8Array[]): SealedParts;
  /**
   * Opens the next inbound record. Throws `AUTH_FAILED` (tampered, replayed, reordered, reflected; the
   * crypter then refuses every later record) or `COUNTER_OVERFLOW`. Returns no plaintext on failure.
   */
  open(ciphertext: Uint8Array, tag: Uint8Array): Buffer;
  /**
   * Starts opening the next inbound record piece by piece, for a record that arrives over several
   * socket reads: the pieces are decrypted as they come instead of being copied together first.
   * Same failures as {@link open} (thrown here for a broken crypter or an exhausted counter, or by
   * `finish`). Finish one opening before starting the next or calling `open`.
   */
  beginOpen(): RecordOpening;
  /** Test seam: positions both counters at the given frame indexes (direction bits untouched). */
  setFrameIndexesForTesting(outbound: bigint, inbound: bigint): void;
  /** Wipes the key material the crypter holds in JS memory; every later call then fails. */
  dispose(): void;
}

/** One inbound record being opened piece by piece (see {@link RecordCrypter.beginOpen}). */
export interface RecordOpening {
  /**
   * Decrypts the next piece of the ciphertext; returns as many bytes as given. The result is NOT
   * authenticated until `finish` returns: never deliver it before, and wipe it if `finish` throws.
   */
  update(ciphertext: Uint8Array): Buffer;
  /**
   * Checks the record's tag and advances the inbound counter. Throws `AUTH_FAILED` (the crypter then
   * refuses every later record) if the record does not authenticate.
   */
  finish(tag: Uint8Array): void;
}

/** An AEAD keyed once, called with an explicit 12-byte nonce and optional AAD. */
export interface NonceAead {
  seal(nonce: Buffer, plaintext: Uint8Array, aad?: Uint8Array): SealedRecord;
  open(nonce: Buffer, ciphertext: Uint8Array, tag: Uint8Array, aad?: Uint8Array): Buffer;
  /** A cipher for `nonce`, to be fed and finalised by the caller. */
  cipher(nonce: Buffer): CipherGCM;
  /** A decipher for `nonce` whose tag is set, and checked, by the caller before `final()`. */
  decipher(nonce: Buffer): DecipherGCM;
  /** Wipes the key material held in JS buffers (KeyObjects live in native memory, out of reach). */
  dispose(): void;
}

function authFailed(cause?: unknown): AltsError {
  return new AltsError('AUTH_FAILED', 'record authentication failed', { cause });
}

function gcmSeal(key: KeyObject, nonce: Buffer, plaintext: Uint8Array, aad?: Uint8Array): SealedRecord {
  const cipher = createCipheriv('aes-128-gcm', key, nonce, GCM_OPTIONS);
  if (aad !== undefined && aad.length > 0) cipher.setAAD(aad);
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  return { ciphertext, tag: cipher.getAuthTag() };
}

function gcmOpen(
  key: KeyObject,
  nonce: Buffer,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  if (tag.length !== FRAME_TAG_SIZE) throw authFailed();
  const decipher = createDecipheriv('aes-128-gcm', key, nonce, GCM_OPTIONS);
  decipher.setAuthTag(tag);
  if (aad !== undefined && aad.length > 0) decipher.setAAD(aad);
  const plaintext = decipher.update(ciphertext);
  try {
    decipher.final();
  } catch (err) {
    // Overwrite the unauthenticated plaintext: it must not outlive the failure.
    plaintext.fill(0);
    throw authFailed(err);
  }
  return plaintext;
}

/** AES-128-GCM with the nonce used as given (ALTSRP_GCM_AES128). */
class PlainAead implements NonceAead {
  readonly #key: KeyObject;

  constructor(key: Uint8Array) {
    if (key.length !== AES128_KEY_SIZE) {
      throw new AltsError(
        'INVALID_ARGUMENT',
        `${ALTSRP_GCM_AES128} needs a ${AES128_KEY_SIZE}-byte key, got ${key.length}`,
      );
    }
    this.#key = createSecretKey(key);
  }

  seal(nonce: Buffer, plaintext: Uint8Array, aad?: Uint8Array): SealedRecord {
    return gcmSeal(this.#key, nonce, plaintext, aad);
  }

  open(nonce: Buffer, ciphertext: Uint8Array, tag: Uint8Array, aad?: Uint8Array): Buffer {
    return gcmOpen(this.#key, nonce, ciphertext, tag, aad);
  }

  cipher(nonce: Buffer): CipherGCM {
    return createCipheriv('aes-128-gcm', this.#key, nonce, GCM_OPTIONS);
  }

  decipher(nonce: Buffer): DecipherGCM {
    return createDecipheriv('aes-128-gcm', this.#key, nonce, GCM_OPTIONS);
  }

  dispose(): void {}
}

/**
 * The rekeying AEAD (go `aeadrekey.go`): per-frame AES key = HMAC-SHA256(kdf_key, nonce[2..8) ‖ 0x01)[0..16),
 * derived only when those six bytes change (every 2^16 frames); GCM nonce = nonce XOR mask.
 */
export class RekeyAead implements NonceAead {
  readonly #kdfKey: KeyObject;
  readonly #nonceMask: Buffer;
  readonly #maskedNonce = Buffer.alloc(GCM_NONCE_SIZE);
  readonly #kdfInput = Buffer.alloc(REKEY_KDF_COUNTER_SIZE + 1);
  #aesKey: KeyObject | undefined;

  constructor(key: Uint8Array) {
    if (key.length !== REKEY_KEY_SIZE) {
      throw new AltsError(
        'INVALID_ARGUMENT',
        `${ALTSRP_GCM_AES128_REKEY} needs a ${REKEY_KEY_SIZE}-byte key, got ${key.length}`,
      );
    }
    this.#kdfKey = createSecretKey(key.subarray(0, REKEY_KDF_KEY_SIZE));
    this.#nonceMask = Buffer.from(key.subarray(REKEY_KDF_KEY_SIZE, REKEY_KEY_SIZE));
    this.#kdfInput[REKEY_KDF_COUNTER_SIZE] = HKDF_FIRST_BLOCK;
  }

  /** The AES key for `nonce`'s KDF window, re-derived only when the window changes. */
  #keyFor(nonce: Buffer): KeyObject {
    const input = this.#kdfInput;
    let same = this.#aesKey !== undefined;
    for (let i = 0; i < REKEY_KDF_COUNTER_SIZE; i++) {
      const byte = nonce[REKEY_KDF_COUNTER_OFFSET + i] ?? 0;
      if (input[i] !== byte) {
        input[i] = byte;
        same = false;
      }
    }
    if (same && this.#aesKey !== undefined) return this.#aesKey;
    const digest = createHmac('sha256', this.#kdfKey).update(input).digest();
    const aesKey = createSecretKey(digest.subarray(0, AES128_KEY_SIZE));
    digest.fill(0);
    this.#aesKey = aesKey;
    return aesKey;
  }

  dispose(): void {
    this.#nonceMask.fill(0);
    this.#maskedNonce.fill(0);
    this.#kdfInput.fill(0);
    this.#aesKey = undefined;
  }

  #mask(nonce: Buffer): Buffer {
    const out = this.#maskedNonce;
    const mask = this.#nonceMask;
    for (let i = 0; i < GCM_NONCE_SIZE; i++) out[i] = (nonce[i] ?? 0) ^ (mask[i] ?? 0);
    return out;
  }

  seal(nonce: Buffer, plaintext: Uint8Array, aad?: Uint8Array): SealedRecord {
    checkNonce(nonce);
    return gcmSeal(this.#keyFor(nonce), this.#mask(nonce), plaintext, aad);
  }

  open(nonce: Buffer, ciphertext: Uint8Array, tag: Uint8Array, aad?: Uint8Array): Buffer {
    checkNonce(nonce);
    return gcmOpen(this.#keyFor(nonce), this.#mask(nonce), ciphertext, tag, aad);
  }

  cipher(nonce: Buffer): CipherGCM {
    checkNonce(nonce);
    // The masked nonce is a reused buffer: createCipheriv copies it.
    return createCipheriv('aes-128-gcm', this.#keyFor(nonce), this.#mask(nonce), GCM_OPTIONS);
  }

  decipher(nonce: Buffer): DecipherGCM {
    checkNonce(nonce);
    // The masked nonce is a reused buffer: createDecipheriv copies it.
    return createDecipheriv('aes-128-gcm', this.#keyFor(nonce), this.#mask(nonce), GCM_OPTIONS);
  }
}

function checkNonce(nonce: Buffer): void {
  if (nonce.length !== GCM_NONCE_SIZE) {
    throw new AltsError('INVALID_ARGUMENT', `nonce must be ${GCM_NONCE_SIZE} bytes, got ${nonce.length}`);
  }
}

/** Plain AES-128-GCM as an explicit-nonce AEAD, for known-answer tests of ALTSRP_GCM_AES128. */
export function createPlainAead(key: Uint8Array): NonceAead {
  return new PlainAead(key);
}

class CounterCrypter implements RecordCrypter {
  readonly overhead = FRAME_TAG_SIZE;
  readonly recordProtocol: RecordProtocol;
  readonly #aead: NonceAead;
  readonly #out: FrameCounter;
  readonly #in: FrameCounter;
  #broken = false;
  #disposed = false;

  constructor(recordProtocol: RecordProtocol, aead: NonceAead, out: FrameCounter, inbound: FrameCounter) {
    this.recordProtocol = recordProtocol;
    this.#aead = aead;
    this.#out = out;
    this.#in = inbound;
  }

  seal(plaintext: Uint8Array): SealedRecord {
    this.#checkUsable();
    const sealed = this.#aead.seal(this.#out.value(), plaintext);
    this.#out.increment();
    return sealed;
  }

  sealParts(parts: readonly Uint8Array[]): SealedParts {
    this.#checkUsable();
    const cipher = this.#aead.cipher(this.#out.value());
    const ciphertext = new Array<Buffer>(parts.length);
    for (let i = 0; i < parts.length; i++) ciphertext[i] = cipher.update(parts[i] as Uint8Array);
    cipher.final();
    this.#out.increment();
    return { ciphertext, tag: cipher.getAuthTag() };
  }

  open(ciphertext: Uint8Array, tag: Uint8Array): Buffer {
    if (this.#broken) throw authFailed();
    const nonce = this.#in.value();
    let plaintext: Buffer;
    try {
      plaintext = this.#aead.open(nonce, ciphertext, tag);
    } catch (err) {
      this.#broken = true;
      throw err;
    }
    this.#in.increment();
    return plaintext;
  }

  beginOpen(): RecordOpening {
    if (this.#broken) throw authFailed();
    const decipher = this.#aead.decipher(this.#in.value());
    return {
      update: (ciphertext) => decipher.update(ciphertext),
      finish: (tag) => {
        try {
          if (tag.length !== FRAME_TAG_SIZE) throw authFailed();
          decipher.setAuthTag(tag);
          decipher.final();
        } catch (err) {
          this.#broken = true;
          throw AltsError.is(err) ? err : authFailed(err);
        }
        this.#in.increment();
      },
    };
  }

  setFrameIndexesForTesting(outbound: bigint, inbound: bigint): void {
    this.#out.setFrameIndexForTesting(outbound);
    this.#in.setFrameIndexForTesting(inbound);
  }

  dispose(): void {
    this.#disposed = true;
    this.#broken = true;
    this.#aead.dispose();
  }

  /** A disposed crypter's mask is zero: sealing with it would reuse nonces, so refuse. */
  #checkUsable(): void {
    if (this.#disposed) throw new AltsError('INTERNAL', 'the record crypter was used after it was disposed');
  }
}

/**
 * Creates the record crypter for a negotiated record protocol. `keyData` must be exactly
 * `RECORD_PROTOCOL_KEY_SIZES[protocol]` bytes (constants.ts; 44 for REKEY, 16 for plain): truncate the
 * handshaker's longer `key_data` first (docs/protocol.md §10.15). `side` is our side of the connection.
 * Throws `INVALID_ARGUMENT` for an unknown protocol or a wrong key length.
 */
export function createRecordCrypter(recordProtocol: string, keyData: Uint8Array, side: Side): RecordCrypter {
  if (side !== 'client' && side !== 'server') {
    throw new AltsError('INVALID_ARGUMENT', `side must be 'client' or 'server'`);
  }
  if (recordProtocol === ALTSRP_GCM_AES128_REKEY) {
    return new CounterCrypter(
      recordProtocol,
      new RekeyAead(keyData),
      createFrameCounter(side, 'outbound', REKEY_COUNTER_OVERFLOW_LENGTH),
      createFrameCounter(side, 'inbound', REKEY_COUNTER_OVERFLOW_LENGTH),
    );
  }
  if (recordProtocol === ALTSRP_GCM_AES128) {
    return new CounterCrypter(
      recordProtocol,
      new PlainAead(keyData),
      createFrameCounter(side, 'outbound', PLAIN_COUNTER_OVERFLOW_LENGTH),
      createFrameCounter(side, 'inbound', PLAIN_COUNTER_OVERFLOW_LENGTH),
    );
  }
  throw new AltsError('INVALID_ARGUMENT', `unsupported record protocol ${JSON.stringify(recordProtocol)}`);
}
