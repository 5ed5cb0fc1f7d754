// The byte-level mutations the seeded fuzzers share (the record layer's stream, the emulator's
// handshake flights): each fuzzer weighs these arbitraries among its own kinds in one fc.oneof
// and hands these kinds to mutateBytes.
import fc from 'fast-check';

/** A change to a byte string that is not about its format. */
export type ByteMutation =
  | { kind: 'none' }
  /** Flips bit `bits[i]` (0 when missing) of the byte at `positions[i]` (modulo the length). */
  | { kind: 'flip'; positions: number[]; bits: number[] }
  /** Keeps the first `at` bytes (modulo length + 1). */
  | { kind: 'truncate'; at: number }
  /** Inserts `bytes` before byte `at` (modulo length + 1). */
  | { kind: 'insert'; at: number; bytes: Uint8Array };

export const noMutationArb = fc.constant<ByteMutation>({ kind: 'none' });

/** 1 to `maxFlips` flipped bits. */
export function flipArb(maxFlips: number): fc.Arbitrary<ByteMutation> {
  return fc.record({
    kind: fc.constant('flip' as const),
    positions: fc.array(fc.nat(), { minLength: 1, maxLength: maxFlips }),
    bits: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: maxFlips, maxLength: maxFlips }),
  });
}

export const truncateArb: fc.Arbitrary<ByteMutation> = fc.record({
  kind: fc.constant('truncate' as const),
  at: fc.nat(),
});

/** 1 to `maxBytes` random bytes inserted anywhere. */
export function insertArb(maxBytes: number): fc.Arbitrary<ByteMutation> {
  return fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: maxBytes }),
  });
}

/** `bytes` changed by `m`; a copy whenever anything changes, `bytes` itself otherwise. */
export function mutateBytes(bytes: Buffer, m: ByteMutation): Buffer {
  switch (m.kind) {
    case 'none':
      return bytes;
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      m.positions.forEach((p, i) => {
        const at = p % out.length;
        out[at] = (out[at] as number) ^ (1 << (m.bits[i] ?? 0));
      });
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, m.at % (bytes.length + 1));
    case 'insert': {
      const at = m.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
    }
  }
}
