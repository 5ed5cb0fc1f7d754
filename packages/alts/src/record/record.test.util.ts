// Helpers of the record tests that know the library's record layer (not a test itself; `*.test.*`
// keeps it out of the published package). Sockets come from @grpc-alts/test-support.
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Side } from '../constants.js';
import { AltsError } from '../errors.js';
import type { RecordOpening, SealedRecord } from './crypter.js';
import { type RecordOpener, RecordReader } from './reader.js';

export interface AesGcmVector {
  id: string;
  key: string;
  counter: string;
  plaintext: string;
  ciphertext_and_tag: string;
  sender: Side;
}
export interface RekeyVector {
  id: string;
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  ciphertext_and_tag: string;
  derived_aes_key: string;
  masked_nonce: string;
  kdf_counter: string;
}
export interface CounterIncrementVector {
  overflow_len: number;
  before: string;
  after: string;
}
export interface CounterOverflowVector {
  overflow_len: number;
  start: string;
}
export interface DerivedRecordVector {
  name: string;
  record_protocol: string;
  key: string;
  sender: Side;
  frame_index: number;
  counter: string;
  plaintext: string;
  ciphertext_and_tag: string;
  frame: string;
  derived_aes_key?: string;
  masked_nonce?: string;
}
export interface Vectors {
  constants: Record<string, number | string>;
  aes128gcm: AesGcmVector[];
  rekey_aead: RekeyVector[];
  counter_increment: CounterIncrementVector[];
  counter_overflow: CounterOverflowVector[];
  initial_counters: {
    client_outbound_and_server_inbound: string;
    server_outbound_and_client_inbound: string;
  };
  derived_records: DerivedRecordVector[];
}

/** The repository root: the nearest ancestor of this file holding tsconfig.base.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'tsconfig.base.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('record tests: cannot find the repository root (tsconfig.base.json)');
    dir = parent;
  }
}

let cached: Vectors | undefined;

/** Loads `test/vectors/alts-vectors.json` (in this repository), the single source of the vectors. */
export function loadVectors(): Vectors {
  if (cached !== undefined) return cached;
  const path = resolve(repoRoot(), 'test', 'vectors', 'alts-vectors.json');
  if (!existsSync(path)) {
    throw new Error(`record tests: test vectors not found at ${path}`);
  }
  cached = JSON.parse(readFileSync(path, 'utf8')) as Vectors;
  return cached;
}

export function hex(value: string): Buffer {
  return Buffer.from(value, 'hex');
}

/** Fast deterministic bytes (AES-CTR keystream) for bulk transfers. */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * One frame as a peer sends it, built by hand rather than by the library's writer, so that tests
 * of the reader do not lean on the code they are meant to check.
 */
export function frameOf({ ciphertext, tag }: SealedRecord): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(4 + ciphertext.length + tag.length, 0);
  header.writeUInt32LE(6, 4);
  return Buffer.concat([header, ciphertext, tag]);
}

/**
 * An opener without crypto for driving the record reader: "opening" a record yields its ciphertext
 * as plaintext and records the frame. A record wholly inside one input chunk is recorded as the
 * views the reader passed; a straddling one as copies (the reader reuses its buffers).
 * The record numbered `failAt` (from 0) fails authentication instead.
 */
export class RecordingOpener implements RecordOpener {
  readonly records: SealedRecord[] = [];
  /** Plaintext handed out for the straddling record that failed: the reader must have wiped it. */
  readonly unauthenticated: Buffer[] = [];

  readonly #failAt: number;

  constructor(failAt = -1) {
    this.#failAt = failAt;
  }

  open(ciphertext: Uint8Array, tag: Uint8Array): Buffer {
    this.#check();
    this.records.push({
      ciphertext: Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.length),
      tag: Buffer.from(tag.buffer, tag.byteOffset, tag.length),
    });
    return Buffer.from(ciphertext);
  }

  beginOpen(): RecordOpening {
    const pieces: Buffer[] = [];
    return {
      update: (ciphertext) => {
        const plaintext = Buffer.from(ciphertext);
        pieces.push(plaintext);
        return plaintext;
      },
      finish: (tag) => {
        if (this.records.length === this.#failAt) this.unauthenticated.push(...pieces);
        this.#check();
        this.records.push({ ciphertext: Buffer.concat(pieces), tag: Buffer.from(tag) });
      },
    };
  }

  #check(): void {
    if (this.records.length === this.#failAt) throw recordingOpenerFailure();
  }
}

/** The failure of {@link RecordingOpener}'s failing record. */
export function recordingOpenerFailure(): AltsError {
  return new AltsError('AUTH_FAILED', 'record authentication failed');
}

/**
 * The frames in `wire`, found by the library's own reader (no crypto), and whether an incomplete
 * frame follows them.
 */
export function splitFrames(wire: Buffer): { frames: SealedRecord[]; partial: boolean } {
  const opener = new RecordingOpener();
  const reader = new RecordReader(opener, () => true);
  reader.enqueue(wire);
  reader.drain();
  return { frames: opener.records, partial: reader.pending };
}
