/**
 * The ALTS protocol constants more than one layer needs, each defined once: record protocol names,
 * key sizes, RPC versions, the side of a connection and the frame size bounds (docs/protocol.md).
 * The bottom of the library: it imports nothing from it (only a type of the handshaker proto). Each
 * constant names its grpc-go, grpc-java and C-core counterpart. The record layer's own wire format
 * stays in that layer, each also defined once: the frame header in record/frame.ts, the counter in
 * record/counter.ts, the rekey KDF in record/crypter.ts.
 */
import type { RpcProtocolVersions } from '@grpc-alts/handshaker-proto';

/** Our side of a connection (go `core.Side`, java `isClient`, core `is_client`). */
export type Side = 'client' | 'server';

// ---- handshake (docs/protocol.md §3.1, §8) ----

/**
 * The only application protocol we offer (go `appProtocols`, java `APPLICATION_PROTOCOL`, core
 * `ALTS_APPLICATION_PROTOCOL`).
 */
export const ALTS_APPLICATION_PROTOCOL = 'grpc';

/**
 * The RPC protocol versions we send, max and min 2.1, as every implementation does (go
 * `protocolVersionMaxMajor`…, java `RpcProtocolVersionsUtil`, core `GRPC_PROTOCOL_VERSION_MAX_MAJOR`…).
 */
export const LOCAL_RPC_VERSIONS: RpcProtocolVersions = {
  maxRpcVersion: { major: 2, minor: 1 },
  minRpcVersion: { major: 2, minor: 1 },
};

// ---- record protocols and their keys (docs/protocol.md §4.1) ----

/**
 * The record protocol every gRPC library negotiates today: the only one we offer and accept
 * (go `rekeyRecordProtocolName`, java `RECORD_PROTOCOL`, core `ALTS_RECORD_PROTOCOL`).
 */
export const ALTSRP_GCM_AES128_REKEY = 'ALTSRP_GCM_AES128_REKEY';
/**
 * The legacy record protocol without rekeying: implemented, never offered (go `aes128gcm.go`; never requested
 * by go/java/core).
 */
export const ALTSRP_GCM_AES128 = 'ALTSRP_GCM_AES128';
/** The record protocols the record layer implements. */
export type RecordProtocol = typeof ALTSRP_GCM_AES128_REKEY | typeof ALTSRP_GCM_AES128;

/**
 * Key data of ALTSRP_GCM_AES128_REKEY: 32-byte KDF key + 12-byte nonce mask (go `keyLength`, java
 * `AesGcmHkdfAeadCrypter.KEY_LENGTH`, core `kAltsAes128GcmRekeyKeyLength`).
 */
export const REKEY_KEY_SIZE = 44;
/** AES-128 key: all of ALTSRP_GCM_AES128's key data, and each key the rekey KDF derives (go `aeadKeyLen`). */
export const AES128_KEY_SIZE = 16;
/** Key data bytes each record protocol uses. The handshaker returns more (128): pass only the first N. */
export const RECORD_PROTOCOL_KEY_SIZES: Readonly<Record<RecordProtocol, number>> = {
  [ALTSRP_GCM_AES128_REKEY]: REKEY_KEY_SIZE,
  [ALTSRP_GCM_AES128]: AES128_KEY_SIZE,
};

// ---- frame size bounds (docs/protocol.md §4.5, §4.6): of the whole frame, unless named a length field ----

/**
 * Largest length field accepted on input, whatever was advertised (go `altsRecordLengthLimit`, core's
 * legacy `kFrameMaxSize`): readers enforce this hard limit, not the negotiated size.
 */
export const MAX_FRAME_LENGTH_FIELD = 1024 * 1024;
/**
 * Largest frame we ever write, length field included, and the largest `maxFrameSize` we advertise
 * (java `LIMIT_MAX_ALLOWED_FRAME_SIZE`, core `kTsiAltsMaxFrameSize`): "never exceed 1 MiB total", which
 * keeps every frame we write within java's inbound limit of length ≤ 1 048 572.
 */
export const MAX_WRITE_FRAME_SIZE = 1024 * 1024;
/**
 * Smallest write frame size a peer can negotiate us down to, and the smallest `maxFrameSize` we
 * advertise: java and core never write smaller frames whatever we say (java `MIN_FRAME_SIZE`, core
 * `kTsiAltsMinFrameSize`).
 */
export const MIN_FRAME_SIZE = 16 * 1024;
/**
 * Smallest write frame size the protected stream accepts from its caller. grpc-go writes 4 KiB frames
 * (go `altsRecordDefaultLength`, `max(4096, negotiated)`), so every ALTS peer reads frames this small.
 * Negotiation never goes below {@link MIN_FRAME_SIZE}: only tests and the benchmark write smaller frames.
 */
export const MIN_WRITE_FRAME_SIZE = 4 * 1024;
