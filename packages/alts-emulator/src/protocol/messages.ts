// The five peer-to-peer handshake messages (README.md "Message formats"): their fields, and
// their encoding into framed messages and decoding from message bodies. Pure functions over
// buffers.
import type { RpcProtocolVersions } from '@grpc-alts/handshaker-proto';
import { MAX_CERTIFICATE_BYTES } from './certificate.js';
import { MAC_BYTES } from './key-schedule.js';
import { ED25519_SIGNATURE_BYTES, X25519_KEY_BYTES } from './keys.js';
import { frame, MAX_PROTOCOL_NAME_BYTES, MessageType, Reader, Writer } from './wire.js';

/** Longest alert text carried to the peer. */
const MAX_ALERT_DETAILS_BYTES = 1024;

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
