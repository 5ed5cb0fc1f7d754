// The two roles of the peer-to-peer handshake as synchronous state machines over whole
// messages (README "Handshake"): ClientInit → ServerInit + ServerFinished → ClientFinished.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type { RpcProtocolVersions } from '@grpc-alts/handshaker-proto';
import { quoteList } from '../common/quote.js';
import { type LocalIdentity, type TrustAnchor, verifyCertificate } from './certificate.js';
import { HandshakeError, malformed, unauthenticated } from './errors.js';
import {
  finishedKeys,
  keyData,
  mac,
  macEquals,
  sharedSecret,
  signTranscript,
  transcriptHash,
  verifyTranscript,
} from './key-schedule.js';
import { rawPublicKey } from './keys.js';
import {
  clientFinishedSignedPrefix,
  decodeClientFinished,
  decodeClientInit,
  decodeServerFinished,
  decodeServerInit,
  encodeClientFinished,
  encodeClientInit,
  encodeServerFinished,
  encodeServerInit,
} from './messages.js';
import { MessageType, messageName, type RawMessage } from './wire.js';

/** What one side brings to the handshake, taken from its start request. */
export interface Offer {
  readonly applicationProtocols: readonly string[];
  readonly recordProtocols: readonly string[];
  readonly rpcVersions: RpcProtocolVersions;
  readonly maxFrameSize: number;
}

/** What an authenticated peer told us and the keys both sides now share. */
export interface Established {
  readonly applicationProtocol: string;
  readonly recordProtocol: string;
  readonly peerServiceAccount: string;
  readonly peerRpcVersions: RpcProtocolVersions;
  readonly peerMaxFrameSize: number;
  readonly keyData: Buffer;
}

function noCommon(what: string, offered: readonly string[], accepted: readonly string[]): HandshakeError {
  return new HandshakeError(
    status.INVALID_ARGUMENT,
    `no common ${what}: the client offers ${quoteList(offered)}, the server accepts ${quoteList(accepted)}`,
  );
}

function expectType(message: RawMessage, type: MessageType): void {
  if (message.type !== type)
    throw malformed(`expected ${messageName(type)}, got ${messageName(message.type)}`);
}

function ephemeralKey(): KeyObject {
  return generateKeyPairSync('x25519').privateKey;
}

/** The client role: sends ClientInit, takes the server flight, answers ClientFinished. */
export class ClientHandshake {
  /** The first message to send to the server. */
  readonly clientInit: Buffer;
  readonly #ephemeral = ephemeralKey();
  readonly #local: LocalIdentity;
  readonly #anchor: TrustAnchor;
  readonly #offer: Offer;
  #verified:
    | { serverInit: Buffer; serverFinished: Buffer; secret: Buffer; clientKey: Buffer; server: Established }
    | undefined;

  constructor(local: LocalIdentity, anchor: TrustAnchor, offer: Offer) {
    this.#local = local;
    this.#anchor = anchor;
    this.#offer = offer;
    this.clientInit = encodeClientInit({ ...offer, ephemeralKey: rawPublicKey(this.#ephemeral) });
  }

  /**
   * Authenticates the server's flight: its certificate against the trust root, its signature
   * over ClientInit || ServerInit and its Finished MAC (which proves it holds the shared key).
   * Returns the server's identity so policy can run before {@link finish}.
   */
  verifyServerFlight(serverInit: RawMessage, serverFinished: RawMessage): string {
    expectType(serverInit, MessageType.SERVER_INIT);
    expectType(serverFinished, MessageType.SERVER_FINISHED);
    const si = decodeServerInit(serverInit.body);
    const sf = decodeServerFinished(serverFinished.body);
    if (!this.#offer.applicationProtocols.includes(si.applicationProtocol)) {
      throw noCommon('application protocol', this.#offer.applicationProtocols, [si.applicationProtocol]);
    }
    if (!this.#offer.recordProtocols.includes(si.recordProtocol)) {
      throw noCommon('record protocol', this.#offer.recordProtocols, [si.recordProtocol]);
    }
    const { serviceAccount, identityKey } = verifyCertificate(si.certificate, this.#anchor);
    const secret = sharedSecret(this.#ephemeral, si.ephemeralKey);
    const initHash = transcriptHash(this.clientInit, serverInit.raw);
    // The certificate's account is not named: the peer may have replayed someone else's.
    if (!verifyTranscript('server', initHash, identityKey, sf.signature)) {
      throw unauthenticated('ServerFinished: the signature does not cover this handshake');
    }
    const keys = finishedKeys(secret, initHash);
    const expected = mac(keys.server, transcriptHash(this.clientInit, serverInit.raw, sf.signature));
    if (!macEquals(expected, sf.mac)) throw unauthenticated('ServerFinished: bad MAC');
    this.#verified = {
      // Copies: the caller's buffers may be views into its reassembly buffer.
      serverInit: Buffer.from(serverInit.raw),
      serverFinished: Buffer.from(serverFinished.raw),
      secret,
      clientKey: keys.client,
      server: {
        applicationProtocol: si.applicationProtocol,
        recordProtocol: si.recordProtocol,
        peerServiceAccount: serviceAccount,
        peerRpcVersions: si.rpcVersions,
        peerMaxFrameSize: si.maxFrameSize,
        keyData: Buffer.alloc(0),
      },
    };
    return serviceAccount;
  }

  /** Signs and MACs the transcript; returns ClientFinished and the connection's keys. */
  finish(): { clientFinished: Buffer; established: Established } {
    const v = this.#verified;
    if (v === undefined) throw new Error('finish() before verifyServerFlight()');
    const prefix = clientFinishedSignedPrefix(this.#local.certificate);
    const signature = signTranscript(
      'client',
      transcriptHash(this.clientInit, v.serverInit, v.serverFinished, prefix),
      this.#local.privateKey,
    );
    const tag = mac(
      v.clientKey,
      transcriptHash(this.clientInit, v.serverInit, v.serverFinished, prefix, signature),
    );
    const clientFinished = encodeClientFinished(prefix, signature, tag);
    const key = keyData(
      v.secret,
      transcriptHash(this.clientInit, v.serverInit, v.serverFinished, clientFinished),
    );
    return { clientFinished, established: { ...v.server, keyData: key } };
  }
}

/** The server role: takes ClientInit, answers the server flight, takes ClientFinished. */
export class ServerHandshake {
  readonly #local: LocalIdentity;
  readonly #anchor: TrustAnchor;
  readonly #accept: Offer;
  #responded:
    | {
        clientInit: Buffer;
        serverFlight: Buffer;
        secret: Buffer;
        clientKey: Buffer;
        client: Omit<Established, 'peerServiceAccount' | 'keyData'>;
      }
    | undefined;

  constructor(local: LocalIdentity, anchor: TrustAnchor, accept: Offer) {
    this.#local = local;
    this.#anchor = anchor;
    this.#accept = accept;
  }

  /**
   * Negotiates protocols from ClientInit (the client's preference order wins) and returns the
   * server flight: ServerInit || ServerFinished.
   */
  respond(clientInit: RawMessage): Buffer {
    expectType(clientInit, MessageType.CLIENT_INIT);
    const ci = decodeClientInit(clientInit.body);
    const applicationProtocol = ci.applicationProtocols.find((p) =>
      this.#accept.applicationProtocols.includes(p),
    );
    if (applicationProtocol === undefined) {
      throw noCommon('application protocol', ci.applicationProtocols, this.#accept.applicationProtocols);
    }
    const recordProtocol = ci.recordProtocols.find((p) => this.#accept.recordProtocols.includes(p));
    if (recordProtocol === undefined) {
      throw noCommon('record protocol', ci.recordProtocols, this.#accept.recordProtocols);
    }
    const ephemeral = ephemeralKey();
    const secret = sharedSecret(ephemeral, ci.ephemeralKey);
    const serverInit = encodeServerInit({
      ephemeralKey: rawPublicKey(ephemeral),
      rpcVersions: this.#accept.rpcVersions,
      maxFrameSize: this.#accept.maxFrameSize,
      applicationProtocol,
      recordProtocol,
      certificate: this.#local.certificate,
    });
    const initHash = transcriptHash(clientInit.raw, serverInit);
    const keys = finishedKeys(secret, initHash);
    const signature = signTranscript('server', initHash, this.#local.privateKey);
    const tag = mac(keys.server, transcriptHash(clientInit.raw, serverInit, signature));
    const serverFlight = Buffer.concat([serverInit, encodeServerFinished({ signature, mac: tag })]);
    this.#responded = {
      clientInit: Buffer.from(clientInit.raw),
      serverFlight,
      secret,
      clientKey: keys.client,
      client: {
        applicationProtocol,
        recordProtocol,
        peerRpcVersions: ci.rpcVersions,
        peerMaxFrameSize: ci.maxFrameSize,
      },
    };
    return serverFlight;
  }

  /** Authenticates the client (certificate, signature, MAC); returns the connection's keys. */
  verifyClientFinished(clientFinished: RawMessage): Established {
    const r = this.#responded;
    if (r === undefined) throw new Error('verifyClientFinished() before respond()');
    expectType(clientFinished, MessageType.CLIENT_FINISHED);
    const cf = decodeClientFinished(clientFinished.body);
    const { serviceAccount, identityKey } = verifyCertificate(cf.certificate, this.#anchor);
    const signed = transcriptHash(r.clientInit, r.serverFlight, cf.signedPrefix);
    // The certificate's account is not named: the peer may have replayed someone else's.
    if (!verifyTranscript('client', signed, identityKey, cf.signature)) {
      throw unauthenticated('ClientFinished: the signature does not cover this handshake');
    }
    const expected = mac(r.clientKey, transcriptHash(r.clientInit, r.serverFlight, cf.macedPrefix));
    if (!macEquals(expected, cf.mac)) throw unauthenticated('ClientFinished: bad MAC');
    const key = keyData(r.secret, transcriptHash(r.clientInit, r.serverFlight, clientFinished.raw));
    return { ...r.client, peerServiceAccount: serviceAccount, keyData: key };
  }
}
