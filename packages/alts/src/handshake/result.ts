import type { HandshakerResult, RpcProtocolVersions } from '@grpc-alts/handshaker-proto';
import { ALTSRP_GCM_AES128_REKEY, LOCAL_RPC_VERSIONS, REKEY_KEY_SIZE } from '../constants.js';
import { AltsError, quoteUntrusted } from '../errors.js';

/** Security levels of the ALTS context, named as in transport_security_common.proto. */
export type SecurityLevelName = 'SECURITY_NONE' | 'INTEGRITY_ONLY' | 'INTEGRITY_AND_PRIVACY';

/** An RPC protocol version, major.minor. */
export interface RpcVersion {
  /** Major version: peers with different majors share none of them. */
  major: number;
  /** Minor version. */
  minor: number;
}

/**
 * The peer's ALTS identity and the negotiated protocols of one connection: the fields of the
 * `grpc.gcp.AltsContext` proto (grpc-java `AltsContext`), named apart from the generated type.
 */
export interface AltsPeerContext {
  /** The negotiated application protocol: `grpc`. */
  applicationProtocol: string;
  /** The negotiated record protocol: `ALTSRP_GCM_AES128_REKEY`. */
  recordProtocol: string;
  /** Always INTEGRITY_AND_PRIVACY for the record protocol we negotiate (as grpc-go and grpc-java). */
  securityLevel: SecurityLevelName;
  /** The peer's service account, authenticated by the handshake: the identity to authorize. */
  peerServiceAccount: string;
  /** This side's service account, as the handshaker presented it. */
  localServiceAccount: string;
  /** The RPC protocol versions the peer supports. */
  peerRpcVersions: {
    /** The highest. */
    max: RpcVersion;
    /** The lowest. */
    min: RpcVersion;
  };
  /** Attributes the handshaker attached to the peer's identity (often none). */
  peerAttributes: Readonly<Record<string, string>>;
}

/** A validated handshake result: the context plus what the record layer needs. */
export interface ValidatedResult {
  context: AltsPeerContext;
  /** The first 44 bytes of key_data; never logged. */
  keyData: Buffer;
  /** The peer's advertised max frame size, 0 when it sent none. */
  peerMaxFrameSize: number;
}

function compare(a: RpcVersion, b: RpcVersion): number {
  return a.major !== b.major ? a.major - b.major : a.minor - b.minor;
}

const format = (v: { max: RpcVersion; min: RpcVersion }) =>
  `max ${v.max.major}.${v.max.minor}, min ${v.min.major}.${v.min.minor}`;

/**
 * The compatibility check shared by go, java and C-core: the highest common version is
 * min(local.max, peer.max); compatible iff it is at least max(local.min, peer.min).
 */
export function checkRpcVersions(
  local: { max: RpcVersion; min: RpcVersion },
  peer: { max: RpcVersion; min: RpcVersion },
): RpcVersion {
  const maxCommon = compare(local.max, peer.max) <= 0 ? local.max : peer.max;
  const minCommon = compare(local.min, peer.min) >= 0 ? local.min : peer.min;
  if (compare(maxCommon, minCommon) < 0) {
    throw new AltsError(
      'RPC_VERSION_MISMATCH',
      `peer RPC protocol versions (${format(peer)}) are not compatible with ours (${format(local)})`,
    );
  }
  return maxCommon;
}

function versions(v: RpcProtocolVersions): { max: RpcVersion; min: RpcVersion } | undefined {
  if (!v.maxRpcVersion || !v.minRpcVersion) return undefined;
  return {
    max: { major: v.maxRpcVersion.major, minor: v.maxRpcVersion.minor },
    min: { major: v.minRpcVersion.major, minor: v.minRpcVersion.minor },
  };
}

/** The checks of docs/protocol.md §3.13, strictest of the three libraries where they differ in our favour. */
export function validateResult(result: HandshakerResult): ValidatedResult {
  if (result.recordProtocol !== ALTSRP_GCM_AES128_REKEY) {
    throw new AltsError(
      'BAD_HANDSHAKER_RESPONSE',
      `unknown resulted record protocol "${quoteUntrusted(result.recordProtocol)}": expected ` +
        `${ALTSRP_GCM_AES128_REKEY}`,
    );
  }
  if (result.keyData.length < REKEY_KEY_SIZE) {
    throw new AltsError(
      'BAD_HANDSHAKER_RESPONSE',
      `the handshaker returned ${result.keyData.length} bytes of key data; ${REKEY_KEY_SIZE} are needed`,
    );
  }
  // C-core's checks (docs/protocol.md §3.13), which go and java skip: without them an open server
  // would serve a caller with an empty identity, which no authorization rule can name.
  if (result.applicationProtocol === '') {
    throw new AltsError('BAD_HANDSHAKER_RESPONSE', 'the handshaker returned no application protocol');
  }
  const peerServiceAccount = result.peerIdentity?.serviceAccount ?? '';
  if (peerServiceAccount === '') {
    throw new AltsError('BAD_HANDSHAKER_RESPONSE', 'the handshaker returned no peer service account');
  }
  const peer = result.peerRpcVersions && versions(result.peerRpcVersions);
  if (!peer) throw new AltsError('RPC_VERSION_MISMATCH', 'the peer did not send its RPC protocol versions');
  const local = versions(LOCAL_RPC_VERSIONS);
  if (!local) throw new Error('LOCAL_RPC_VERSIONS is incomplete');
  checkRpcVersions(local, peer);
  return {
    context: {
      applicationProtocol: result.applicationProtocol,
      recordProtocol: result.recordProtocol,
      securityLevel: 'INTEGRITY_AND_PRIVACY',
      peerServiceAccount,
      localServiceAccount: result.localIdentity?.serviceAccount ?? '',
      peerRpcVersions: peer,
      peerAttributes: Object.freeze({ ...(result.peerIdentity?.attributes ?? {}) }),
    },
    keyData: Buffer.from(result.keyData.subarray(0, REKEY_KEY_SIZE)),
    peerMaxFrameSize: result.maxFrameSize,
  };
}
