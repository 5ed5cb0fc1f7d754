// A peer that does not speak ALTS says what it speaks in its first bytes: a plaintext gRPC client
// starts with the HTTP/2 preface, a plaintext server with a SETTINGS frame, TLS with a record
// header, HTTP/1 with a request or status line. Without this the handshaker's verdict on them
// ("bad magic", a frame too long) sent users looking for the wrong fault. Pure functions.
import type { Side } from '../constants.js';
import { AltsError, quoteUntrusted } from '../errors.js';

/** RFC 9113 §3.4: every HTTP/2 client starts its connection with these 24 bytes. */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** RFC 9113 §4.1: length (3), type (1), flags (1), stream identifier (4). */
const HTTP2_FRAME_HEADER_BYTES = 9;
/** RFC 9113 §6.5: the SETTINGS frame type, and its entries of 6 bytes each. */
const HTTP2_SETTINGS = 0x4;
const HTTP2_SETTING_BYTES = 6;
/** RFC 9113 §4.2: SETTINGS_MAX_FRAME_SIZE's initial value bounds a server's first frame. */
const HTTP2_INITIAL_MAX_FRAME_SIZE = 16_384;
/** RFC 8446 §5.1: content type (1), legacy version (2), length (2). */
const TLS_RECORD_HEADER_BYTES = 5;
/** TLS content types change_cipher_spec (20), alert (21), handshake (22), application_data (23). */
const TLS_CONTENT_TYPES: Readonly<Record<number, string>> = {
  20: 'change_cipher_spec',
  21: 'alert',
  22: 'handshake',
  23: 'application_data',
};
/** RFC 8446 §5.1: a record's length is at most 2^14 + 2048 (TLS 1.2's ciphertext bound). */
const TLS_MAX_RECORD_BYTES = 16_384 + 2_048;
/** SSL 3.0 (0x0300) to TLS 1.3's next draft versions all carry major version 3. */
const TLS_MAJOR_VERSION = 3;
const TLS_MAX_MINOR_VERSION = 4;
const HTTP1_REQUEST = /^(?:GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH) \S/;
const HTTP1_RESPONSE = /^HTTP\/1\.[01] \d{3}/;
/** The part of an HTTP/1 first line worth quoting: enough for method, path or status. */
const MAX_QUOTED_LINE_CHARS = 64;
/**
 * An ALTS handshake frame (docs/protocol.md §3.1): u32 LE length of at most 1 MiB, then u32 LE
 * message type 6. Bytes that could start one are never called another protocol.
 */
const ALTS_MAX_FRAME_BYTES = 1024 * 1024;
const ALTS_LENGTH_BYTES = 4;
const ALTS_HANDSHAKE_MESSAGE_TYPE = Buffer.from([6, 0, 0, 0]);

function couldBeAltsFrame(bytes: Buffer): boolean {
  if (bytes.length < ALTS_LENGTH_BYTES) return true;
  if (bytes.readUInt32LE(0) > ALTS_MAX_FRAME_BYTES) return false;
  const type = bytes.subarray(ALTS_LENGTH_BYTES, ALTS_LENGTH_BYTES + ALTS_HANDSHAKE_MESSAGE_TYPE.length);
  return type.equals(ALTS_HANDSHAKE_MESSAGE_TYPE.subarray(0, type.length));
}

function isHttp2Preface(bytes: Buffer): boolean {
  const seen = Math.min(bytes.length, HTTP2_PREFACE.length);
  return bytes.subarray(0, seen).equals(HTTP2_PREFACE.subarray(0, seen));
}

function isHttp2Settings(bytes: Buffer): boolean {
  if (bytes.length < HTTP2_FRAME_HEADER_BYTES) return false;
  const length = bytes.readUIntBE(0, 3);
  return (
    bytes[3] === HTTP2_SETTINGS &&
    length <= HTTP2_INITIAL_MAX_FRAME_SIZE &&
    length % HTTP2_SETTING_BYTES === 0 &&
    bytes.readUInt32BE(5) === 0
  );
}

function tlsContentType(bytes: Buffer): string | undefined {
  if (bytes.length < TLS_RECORD_HEADER_BYTES) return undefined;
  const type = TLS_CONTENT_TYPES[bytes[0] as number];
  const minor = bytes[2] as number;
  const ok =
    bytes[1] === TLS_MAJOR_VERSION &&
    minor <= TLS_MAX_MINOR_VERSION &&
    bytes.readUInt16BE(3) <= TLS_MAX_RECORD_BYTES;
  return ok ? type : undefined;
}

function firstLine(bytes: Buffer): string {
  const text = bytes.subarray(0, MAX_QUOTED_LINE_CHARS * 4).toString('latin1');
  return quoteUntrusted(text.split(/\r?\n/, 1)[0] ?? '', MAX_QUOTED_LINE_CHARS);
}

/**
 * What a peer that sent `firstBytes` first speaks, when that cannot be ALTS: "an HTTP/2 client
 * preface (a plaintext gRPC or HTTP/2 client)" and the like. Undefined when the bytes could start
 * an ALTS handshake message, or are too few to tell; peer text in the result is escaped.
 */
export function describeNonAltsPeer(firstBytes: Buffer): string | undefined {
  if (couldBeAltsFrame(firstBytes)) return undefined;
  if (isHttp2Preface(firstBytes)) return 'an HTTP/2 client preface (a plaintext gRPC or HTTP/2 client)';
  if (isHttp2Settings(firstBytes)) return 'an HTTP/2 SETTINGS frame (a plaintext gRPC or HTTP/2 server)';
  const tls = tlsContentType(firstBytes);
  if (tls !== undefined) return `a TLS ${tls} record (a TLS peer, such as gRPC with ssl credentials)`;
  const text = firstBytes.toString('latin1', 0, 16);
  if (HTTP1_REQUEST.test(text)) return `an HTTP/1 request "${firstLine(firstBytes)}" (an HTTP/1 client)`;
  if (HTTP1_RESPONSE.test(text)) return `an HTTP/1 response "${firstLine(firstBytes)}" (an HTTP/1 server)`;
  return undefined;
}

/** What each side should do about a peer of another protocol. */
const FIX: Readonly<Record<Side, string>> = {
  server: 'give it ALTS channel credentials to call this server',
  client: 'call it with the credentials it serves (insecure or TLS), or serve it over ALTS',
};

/**
 * The error for a handshake whose peer's first bytes show it does not speak ALTS, or undefined.
 * `who` names the handshake as the driver does ("server handshake").
 */
export function nonAltsPeerError(side: Side, who: string, firstBytes: Buffer): AltsError | undefined {
  const what = describeNonAltsPeer(firstBytes);
  if (what === undefined) return undefined;
  const peer = side === 'server' ? 'the client' : 'the server';
  return new AltsError(
    'CONNECTION_REFUSED',
    `the ${who} failed: ${peer} does not speak ALTS, its first bytes are ${what}; ${FIX[side]}`,
  );
}
