// DoHandshake requests as a gRPC library sends them (docs/protocol.md §3.1), for tests that talk
// to a handshaker service directly (handshaker-stream.ts).
import { HandshakeProtocol, HandshakerReq } from '@grpc-alts/handshaker-proto';

/** The record protocol every ALTS implementation offers. */
export const REKEY = 'ALTSRP_GCM_AES128_REKEY';
/** RPC protocol versions 2.1 to 2.1, what grpc-go, java and C-core send. */
export const RPC_VERSIONS = { maxRpcVersion: { major: 2, minor: 1 }, minRpcVersion: { major: 2, minor: 1 } };
/** The max_frame_size offered: java's 128 KiB by the client, C-core's 1 MiB by the server. */
const CLIENT_MAX_FRAME_SIZE = 131072;
const SERVER_MAX_FRAME_SIZE = 1048576;

type RequestParts = NonNullable<Parameters<typeof HandshakerReq.fromPartial>[0]>;
export type ClientStartParts = NonNullable<RequestParts['clientStart']>;
export type ServerStartParts = NonNullable<RequestParts['serverStart']>;

/** A client_start as a gRPC library sends it, with `overrides`. */
export function clientStart(overrides: ClientStartParts = {}): HandshakerReq {
  return HandshakerReq.fromPartial({
    clientStart: {
      handshakeSecurityProtocol: HandshakeProtocol.ALTS,
      applicationProtocols: ['grpc'],
      recordProtocols: [REKEY],
      rpcVersions: RPC_VERSIONS,
      maxFrameSize: CLIENT_MAX_FRAME_SIZE,
      ...overrides,
    },
  });
}

/** A server_start carrying the peer's first bytes (go/java style), with `overrides`. */
export function serverStart(inBytes: Buffer, overrides: ServerStartParts = {}): HandshakerReq {
  return HandshakerReq.fromPartial({
    serverStart: {
      applicationProtocols: ['grpc'],
      handshakeParameters: { [HandshakeProtocol.ALTS]: { recordProtocols: [REKEY], localIdentities: [] } },
      rpcVersions: RPC_VERSIONS,
      maxFrameSize: SERVER_MAX_FRAME_SIZE,
      inBytes,
      ...overrides,
    },
  });
}

export function next(inBytes: Buffer): HandshakerReq {
  return HandshakerReq.fromPartial({ next: { inBytes } });
}
