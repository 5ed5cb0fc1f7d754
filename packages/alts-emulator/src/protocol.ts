// The peer-to-peer handshake messages of the emulator (format in README.md "Message formats"):
// framing, encoding/decoding, identity certificates and the key schedule. Pure functions over
// buffers and KeyObjects; no I/O.
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import type { RpcProtocolVersions } from '@grpc-alts/handshaker-proto';
import { malformed, unauthenticated } from './errors.js';
import { checkServiceAccount, comparableServiceAccount, MAX_IDENTITY_BYTES } from './identity.js';

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
/** Longest alert text carried to the peer. */
const MAX_ALERT_DETAILS_BYTES = 1024;
/**
 * key_data length in the result. 44 bytes are needed for ALTSRP_GCM_AES128_REKEY; the real
 * service is said to return 128 (grpc-go comment, docs/protocol.md §3.13), so clients must truncate.
 */
export const KEY_DATA_BYTES = 128;

const X25519_KEY_BYTES = 32;
const ED25519_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
const MAC_BYTES = 32;
/** Root key id: the first 8 bytes of SHA-256 of the root's raw public key (diagnostics only). */
const KEY_ID_BYTES = 8;
const CERTIFICATE_VERSION = 1;

// Domain separation: every signature, MAC key and output key has its own label.
const CERTIFICATE_LABEL = Buffer.from('alts-emulator v1 identity certificate\0', 'latin1');
const SERVER_SIGNATURE_LABEL = Buffer.from('alts-emulator v1 server signature\0', 'latin1');
const CLIENT_SIGNATURE_LABEL = Buffer.from('alts-emulator v1 client signature\0', 'latin1');
const SERVER_FINISHED_INFO = Buffer.from('alts-emulator v1 server finished', 'latin1');
const CLIENT_FINISHED_INFO = Buffer.from('alts-emulator v1 client finished', 'latin1');
const KEY_DATA_INFO = Buffer.from('alts-emulator v1 key data', 'latin1');

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
function frame(type: MessageType, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(WIRE_VERSION, 2);
  header.writeUInt8(type, 3);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

class Writer {
  private readonly parts: Buffer[] = [];

  u8(value: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(value);
    this.parts.push(b);
    return this;
  }

  u32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.parts.push(b);
    return this;
  }

  fixed(bytes: Buffer): this {
    this.parts.push(bytes);
    return this;
  }

  bytes16(bytes: Buffer): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(bytes.length);
    this.parts.push(b, bytes);
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
    return Buffer.concat(this.parts);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bounds-checked reader over one body; every field must be read and nothing may remain. */
class Reader {
  private offset = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get position(): number {
    return this.offset;
  }

  private need(n: number): void {
    if (this.buf.length - this.offset < n) throw malformed(`${this.what} is truncated`);
  }

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.offset++);
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  fixed(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  bytes16(max: number, field: string): Buffer {
    const n = this.u16();
    if (n > max) throw malformed(`${this.what}: ${field} is longer than ${max} bytes`);
    return this.fixed(n);
  }

  str16(max: number, field: string): string {
    const bytes = this.bytes16(max, field);
    try {
      return utf8.decode(bytes);
    } catch {
      throw malformed(`${this.what}: ${field} is not UTF-8`);
    }
  }

  list(field: string): string[] {
    const count = this.u8();
    if (count > MAX_PROTOCOLS) throw malformed(`${this.what}: more than ${MAX_PROTOCOLS} ${field}`);
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
    if (this.offset !== this.buf.length) throw malformed(`${this.what} has trailing bytes`);
  }
}

/** What a peer advertises about itself in its init message (taken from its start request). */
export interface PeerParameters {
  readonly rpcVersions: RpcProtocolVersions;
  readonly maxFrameSize: number;
}

export interface ClientInit extends PeerParameters {
  readonly ephemeralKey: Buffer;
  readonly applicationProtocols: readonly string[];
  readonly recordProtocols: readonly string[];
}

export interface ServerInit extends PeerParameters {
  readonly ephemeralKey: Buffer;
  readonly applicationProtocol: string;
  readonly recordProtocol: string;
  readonly certificate: Buffer;
}

export interface ServerFinished {
  readonly signature: Buffer;
  readonly mac: Buffer;
}

export interface ClientFinished {
  readonly certificate: Buffer;
  readonly signature: Buffer;
  readonly mac: Buffer;
  /** The body bytes before the signature: what the signature covers (after the transcript). */
  readonly signedPrefix: Buffer;
  /** The body bytes before the MAC. */
  readonly macedPrefix: Buffer;
}

export interface Alert {
  readonly code: number;
  readonly details: string;
}

/** Longest encoded certificate: fixed fields + the longest identity. */
const MAX_CERTIFICATE_BYTES =
  1 + KEY_ID_BYTES + ED25519_KEY_BYTES + 2 + MAX_IDENTITY_BYTES + ED25519_SIGNATURE_BYTES;

export function encodeClientInit(m: ClientInit): Buffer {
  const body = new Writer()
    .fixed(m.ephemeralKey)
    .versions(m.rpcVersions)
    .u32(m.maxFrameSize)
    .list(m.applicationProtocols)
    .list(m.recordProtocols)
    .build();
  return frame(MessageType.CLIENT_INIT, body);
}

export function decodeClientInit(body: Buffer): ClientInit {
  const r = new Reader(body, 'ClientInit');
  const m: ClientInit = {
    ephemeralKey: r.fixed(X25519_KEY_BYTES),
    rpcVersions: r.versions(),
    maxFrameSize: r.u32(),
    applicationProtocols: r.list('application protocols'),
    recordProtocols: r.list('record protocols'),
  };
  r.end();
  return m;
}

export function encodeServerInit(m: ServerInit): Buffer {
  const body = new Writer()
    .fixed(m.ephemeralKey)
    .versions(m.rpcVersions)
    .u32(m.maxFrameSize)
    .str16(m.applicationProtocol)
    .str16(m.recordProtocol)
    .bytes16(m.certificate)
    .build();
  return frame(MessageType.SERVER_INIT, body);
}

export function decodeServerInit(body: Buffer): ServerInit {
  const r = new Reader(body, 'ServerInit');
  const m: ServerInit = {
    ephemeralKey: r.fixed(X25519_KEY_BYTES),
    rpcVersions: r.versions(),
    maxFrameSize: r.u32(),
    applicationProtocol: r.str16(MAX_PROTOCOL_NAME_BYTES, 'application protocol'),
    recordProtocol: r.str16(MAX_PROTOCOL_NAME_BYTES, 'record protocol'),
    certificate: r.bytes16(MAX_CERTIFICATE_BYTES, 'certificate'),
  };
  r.end();
  return m;
}

export function encodeServerFinished(m: ServerFinished): Buffer {
  return frame(MessageType.SERVER_FINISHED, Buffer.concat([m.signature, m.mac]));
}

export function decodeServerFinished(body: Buffer): ServerFinished {
  const r = new Reader(body, 'ServerFinished');
  const m = { signature: r.fixed(ED25519_SIGNATURE_BYTES), mac: r.fixed(MAC_BYTES) };
  r.end();
  return m;
}

/** The ClientFinished body up to its signature: the client certificate. */
export function clientFinishedSignedPrefix(certificate: Buffer): Buffer {
  return new Writer().bytes16(certificate).build();
}

export function encodeClientFinished(signedPrefix: Buffer, signature: Buffer, mac: Buffer): Buffer {
  return frame(MessageType.CLIENT_FINISHED, Buffer.concat([signedPrefix, signature, mac]));
}

export function decodeClientFinished(body: Buffer): ClientFinished {
  const r = new Reader(body, 'ClientFinished');
  const certificate = r.bytes16(MAX_CERTIFICATE_BYTES, 'certificate');
  const signedEnd = r.position;
  const signature = r.fixed(ED25519_SIGNATURE_BYTES);
  const macedEnd = r.position;
  const mac = r.fixed(MAC_BYTES);
  r.end();
  return {
    certificate,
    signature,
    mac,
    signedPrefix: body.subarray(0, signedEnd),
    macedPrefix: body.subarray(0, macedEnd),
  };
}

export function encodeAlert(m: Alert): Buffer {
  let details = Buffer.from(m.details, 'utf8');
  if (details.length > MAX_ALERT_DETAILS_BYTES) {
    // Cut at a character boundary so the peer's strict UTF-8 decoding accepts it: a streaming
    // decode holds back a split trailing character (a fresh decoder, so no state leaks).
    const cut = new TextDecoder().decode(details.subarray(0, MAX_ALERT_DETAILS_BYTES), { stream: true });
    details = Buffer.from(cut, 'utf8');
  }
  return frame(MessageType.ALERT, new Writer().u32(m.code).bytes16(details).build());
}

export function decodeAlert(body: Buffer): Alert {
  const r = new Reader(body, 'Alert');
  const m = { code: r.u32(), details: r.str16(MAX_ALERT_DETAILS_BYTES, 'details') };
  r.end();
  return m;
}

// ---- keys ------------------------------------------------------------------------------------

/** The raw 32-byte form of an X25519 or Ed25519 public (or private → its public) key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('not an OKP key');
  return Buffer.from(jwk.x, 'base64url');
}

function publicKeyFromRaw(crv: 'X25519' | 'Ed25519', raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: raw.toString('base64url') }, format: 'jwk' });
}

export function keyIdOf(rootPublicKey: KeyObject): Buffer {
  return createHash('sha256').update(rawPublicKey(rootPublicKey)).digest().subarray(0, KEY_ID_BYTES);
}

/** The trust root as verifiers see it. */
export interface TrustAnchor {
  readonly publicKey: KeyObject;
  readonly keyId: Buffer;
}

/** An identity this emulator may speak for: its signing key and the certificate for it. */
export interface LocalIdentity {
  readonly serviceAccount: string;
  readonly privateKey: KeyObject;
  readonly certificate: Buffer;
}

function certificateBody(keyId: Buffer, identityKey: Buffer, serviceAccount: string): Buffer {
  return new Writer().u8(CERTIFICATE_VERSION).fixed(keyId).fixed(identityKey).str16(serviceAccount).build();
}

/** Issues the certificate binding `serviceAccount` to `identityPublicKey`, signed by the root. */
export function issueCertificate(
  rootPrivateKey: KeyObject,
  serviceAccount: string,
  identityPublicKey: KeyObject,
): Buffer {
  checkServiceAccount(serviceAccount);
  const body = certificateBody(keyIdOf(rootPrivateKey), rawPublicKey(identityPublicKey), serviceAccount);
  const signature = sign(null, Buffer.concat([CERTIFICATE_LABEL, body]), rootPrivateKey);
  return Buffer.concat([body, signature]);
}

/** Checks a certificate against the trust anchor; returns the identity it vouches for. */
export function verifyCertificate(
  certificate: Buffer,
  anchor: TrustAnchor,
): { serviceAccount: string; identityKey: KeyObject } {
  const r = new Reader(certificate, 'certificate');
  const version = r.u8();
  if (version !== CERTIFICATE_VERSION) throw malformed(`unsupported certificate version ${version}`);
  const keyId = r.fixed(KEY_ID_BYTES);
  const identityKey = r.fixed(ED25519_KEY_BYTES);
  const serviceAccount = r.str16(MAX_IDENTITY_BYTES, 'service account');
  const bodyEnd = r.position;
  const signature = r.fixed(ED25519_SIGNATURE_BYTES);
  r.end();
  // The service account is not named in these errors: until the root's signature is checked it
  // is whatever the peer wrote (issue 13, finding 3).
  if (!keyId.equals(anchor.keyId)) {
    throw unauthenticated(
      "the peer's certificate was issued by another trust root " +
        `(root key id ${keyId.toString('hex')}, ours ${anchor.keyId.toString('hex')})`,
    );
  }
  const signed = Buffer.concat([CERTIFICATE_LABEL, certificate.subarray(0, bodyEnd)]);
  if (!verify(null, signed, anchor.publicKey, signature)) {
    throw unauthenticated("the peer's certificate has a bad signature");
  }
  if (comparableServiceAccount(serviceAccount) === undefined) {
    throw unauthenticated(
      "the peer's certificate is for a service account outside visible ASCII, which matches no identity",
    );
  }
  return { serviceAccount, identityKey: publicKeyFromRaw('Ed25519', identityKey) };
}

// ---- key schedule --------------------------------------------------------------------------------

export function transcriptHash(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** X25519 with the peer's raw key; rejects the all-zero result of a small-order point. */
export function sharedSecret(ephemeralPrivateKey: KeyObject, peerRawKey: Buffer): Buffer {
  let secret: Buffer;
  try {
    secret = diffieHellman({
      privateKey: ephemeralPrivateKey,
      publicKey: publicKeyFromRaw('X25519', peerRawKey),
    });
  } catch (cause) {
    throw unauthenticated(`key agreement failed: ${String(cause)}`);
  }
  if (secret.every((b) => b === 0))
    throw unauthenticated('key agreement failed: peer sent a small-order key');
  return secret;
}

function hkdf(secret: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, length));
}

/** Finished MAC keys, bound to ClientInit || ServerInit. */
export function finishedKeys(secret: Buffer, initHash: Buffer): { server: Buffer; client: Buffer } {
  return {
    server: hkdf(secret, initHash, SERVER_FINISHED_INFO, MAC_BYTES),
    client: hkdf(secret, initHash, CLIENT_FINISHED_INFO, MAC_BYTES),
  };
}

/** The result's key_data, bound to the whole transcript. */
export function keyData(secret: Buffer, fullTranscriptHash: Buffer): Buffer {
  return hkdf(secret, fullTranscriptHash, KEY_DATA_INFO, KEY_DATA_BYTES);
}

export function mac(key: Buffer, hash: Buffer): Buffer {
  return createHmac('sha256', key).update(hash).digest();
}

export function macEquals(expected: Buffer, received: Buffer): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

export function signTranscript(role: 'server' | 'client', hash: Buffer, key: KeyObject): Buffer {
  const label = role === 'server' ? SERVER_SIGNATURE_LABEL : CLIENT_SIGNATURE_LABEL;
  return sign(null, Buffer.concat([label, hash]), key);
}

export function verifyTranscript(
  role: 'server' | 'client',
  hash: Buffer,
  key: KeyObject,
  signature: Buffer,
): boolean {
  const label = role === 'server' ? SERVER_SIGNATURE_LABEL : CLIENT_SIGNATURE_LABEL;
  return verify(null, Buffer.concat([label, hash]), key, signature);
}

/** Reads a PKCS#8 PEM Ed25519 private key (trust root or identity key files). */
export function ed25519PrivateKeyFromPem(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 private key');
  return key;
}
