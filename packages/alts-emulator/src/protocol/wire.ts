// The wire format of the emulator's peer-to-peer messages (README.md "Message formats"): the
// frame header, taking one message off the front of a byte stream, and the bounds-checked field
// writer and reader that messages and certificates are encoded with. Pure functions over buffers.
import type { RpcProtocolVersions } from '@grpc-alts/handshaker-proto';
import { malformed } from './errors.js';

/** "AE": every emulator message starts with it, so a peer on another handshaker fails at once. */
const MAGIC = Buffer.from('AE', 'latin1');
/** Wire version of this format; bumped on any incompatible change. */
const WIRE_VERSION = 1;
/** magic (2) + version (1) + type (1) + body length (u32 BE). */
export const HEADER_BYTES = 8;
/**
 * Upper bound of a message body, checked before buffering it. Our largest message is well under
 * 1 KiB; 64 KiB matches the read size of grpc-go's handshake loop (docs/protocol.md §3.3 `frameLimit`).
 */
export const MAX_BODY_BYTES = 64 * 1024;
/** Most protocol names in one list (every gRPC library sends exactly one, docs/protocol.md §3.1). */
export const MAX_PROTOCOLS = 16;
/** Longest protocol name (the longest known, "ALTSRP_GCM_AES128_REKEY", is 23 bytes). */
export const MAX_PROTOCOL_NAME_BYTES = 255;

export const MessageType = {
  CLIENT_INIT: 1,
  SERVER_INIT: 2,
  SERVER_FINISHED: 3,
  CLIENT_FINISHED: 4,
  ALERT: 5,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const MESSAGE_NAMES: Record<MessageType, string> = {
  1: 'ClientInit',
  2: 'ServerInit',
  3: 'ServerFinished',
  4: 'ClientFinished',
  5: 'Alert',
};

export function messageName(type: MessageType): string {
  return MESSAGE_NAMES[type];
}

function isMessageType(value: number): value is MessageType {
  return value in MESSAGE_NAMES;
}

/** One framed message as received: `raw` (header + body) is what the transcript hashes. */
export interface RawMessage {
  readonly type: MessageType;
  readonly body: Buffer;
  readonly raw: Buffer;
}

/**
 * Takes one message from the front of `input`. Returns undefined while the message is still
 * incomplete; throws as soon as the bytes seen so far cannot start a valid message, and checks
 * the declared length against {@link MAX_BODY_BYTES} before waiting for (or buffering) the body.
 */
export function takeMessage(input: Buffer): { message: RawMessage; rest: Buffer } | undefined {
  const magicSeen = Math.min(input.length, MAGIC.length);
  if (!input.subarray(0, magicSeen).equals(MAGIC.subarray(0, magicSeen))) {
    throw malformed(
      'not an alts-emulator handshake message (bad magic); is the peer using another handshaker?',
    );
  }
  if (input.length < HEADER_BYTES) return undefined;
  const version = input.readUInt8(2);
  if (version !== WIRE_VERSION)
    throw malformed(`unsupported wire version ${version} (this is ${WIRE_VERSION})`);
  const type = input.readUInt8(3);
  if (!isMessageType(type)) throw malformed(`unknown message type ${type}`);
  const length = input.readUInt32BE(4);
  if (length > MAX_BODY_BYTES) throw malformed(`declared length ${length} exceeds ${MAX_BODY_BYTES}`);
  const end = HEADER_BYTES + length;
  if (input.length < end) return undefined;
  return {
    message: { type, body: input.subarray(HEADER_BYTES, end), raw: input.subarray(0, end) },
    rest: input.subarray(end),
  };
}

/** Frames a body; the caller keeps bodies below MAX_BODY_BYTES (ours are under 2 KiB). */
export function frame(type: MessageType, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(WIRE_VERSION, 2);
  header.writeUInt8(type, 3);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export class Writer {
  readonly #parts: Buffer[] = [];

  u8(value: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(value);
    this.#parts.push(b);
    return this;
  }

  u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.#parts.push(b);
    return this;
  }

  fixed(bytes: Buffer): this {
    this.#parts.push(bytes);
    return this;
  }

  bytes16(bytes: Buffer): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(bytes.length);
    this.#parts.push(b, bytes);
    return this;
  }

  str16(value: string): this {
    return this.bytes16(Buffer.from(value, 'utf8'));
  }

  list(values: readonly string[]): this {
    this.u8(values.length);
    for (const v of values) this.str16(v);
    return this;
  }

  versions(v: RpcProtocolVersions): this {
    return this.u32(v.maxRpcVersion?.major ?? 0)
      .u32(v.maxRpcVersion?.minor ?? 0)
      .u32(v.minRpcVersion?.major ?? 0)
      .u32(v.minRpcVersion?.minor ?? 0);
  }

  build(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bounds-checked reader over one body; every field must be read and nothing may remain. */
export class Reader {
  #offset = 0;
  readonly #buf: Buffer;
  readonly #what: string;

  constructor(buf: Buffer, what: string) {
    this.#buf = buf;
    this.#what = what;
  }

  get position(): number {
    return this.#offset;
  }

  #need(n: number): void {
    if (this.#buf.length - this.#offset < n) throw malformed(`${this.#what} is truncated`);
  }

  u8(): number {
    this.#need(1);
    return this.#buf.readUInt8(this.#offset++);
  }

  u16(): number {
    this.#need(2);
    const v = this.#buf.readUInt16BE(this.#offset);
    this.#offset += 2;
    return v;
  }

  u32(): number {
    this.#need(4);
    const v = this.#buf.readUInt32BE(this.#offset);
    this.#offset += 4;
    return v;
  }

  fixed(n: number): Buffer {
    this.#need(n);
    const v = this.#buf.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return v;
  }

  bytes16(max: number, field: string): Buffer {
    const n = this.u16();
    if (n > max) throw malformed(`${this.#what}: ${field} is longer than ${max} bytes`);
    return this.fixed(n);
  }

  str16(max: number, field: string): string {
    const bytes = this.bytes16(max, field);
    try {
      return utf8.decode(bytes);
    } catch {
      throw malformed(`${this.#what}: ${field} is not UTF-8`);
    }
  }

  list(field: string): string[] {
    const count = this.u8();
    if (count > MAX_PROTOCOLS) throw malformed(`${this.#what}: more than ${MAX_PROTOCOLS} ${field}`);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(this.str16(MAX_PROTOCOL_NAME_BYTES, field));
    return out;
  }

  versions(): RpcProtocolVersions {
    const maxRpcVersion = { major: this.u32(), minor: this.u32() };
    const minRpcVersion = { major: this.u32(), minor: this.u32() };
    return { maxRpcVersion, minRpcVersion };
  }

  end(): void {
    if (this.#offset !== this.#buf.length) throw malformed(`${this.#what} has trailing bytes`);
  }
}
