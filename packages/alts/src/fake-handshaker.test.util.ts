// A scriptable in-process handshaker test double. Its default behaviour follows the C-core fake's
// peer messages (docs/protocol.md §6.1: ClientInit → ServerInitAndFinished → ClientFinished, fixed key), but
// it buffers partial peer messages so split reads can be tested; hooks let a test replace any
// response to play a broken or hostile handshaker. Tests only: the emulator is the real tool.

import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  type HandshakerReq,
  HandshakerResp,
  type HandshakerServiceServer,
  HandshakerServiceService,
} from '@grpc-alts/handshaker-proto';
import { ALTS_APPLICATION_PROTOCOL, ALTSRP_GCM_AES128_REKEY, LOCAL_RPC_VERSIONS } from './constants.js';

export const CLIENT_INIT = Buffer.from('ClientInit');
export const SERVER_FRAME = Buffer.from('ServerInitAndFinished');
export const CLIENT_FINISHED = Buffer.from('ClientFinished');
export const FAKE_KEY = Buffer.alloc(128, 0x2a);

export interface FakeHandshakerOptions {
  serverIdentity?: string;
  clientIdentity?: string;
  /**
   * 'all': consume every byte and buffer (go/emulator style); 'none': consume nothing until a message is
   * whole.
   */
  consume?: 'all' | 'none';
  /** Replace the response to a request: return undefined to keep the default, 'hang' to never answer. */
  override?: (req: HandshakerReq, def: HandshakerResp, index: number) => HandshakerResp | 'hang' | undefined;
  /** Extra bytes appended to the client's final out_frames (records "already sent" with ClientFinished). */
  clientTrailer?: Buffer;
}

export interface FakeHandshaker {
  address: string;
  requests: HandshakerReq[];
  /** Streams open now, the most that were ever open at once, and all ever opened. */
  open: number;
  maxOpen: number;
  streams: number;
  stop(): Promise<void>;
}

function ok(partial: Parameters<typeof HandshakerResp.fromPartial>[0]): HandshakerResp {
  return HandshakerResp.fromPartial({ status: { code: 0, details: '' }, ...partial });
}

export async function startFakeHandshaker(options: FakeHandshakerOptions = {}): Promise<FakeHandshaker> {
  const server = new Server();
  const serverIdentity = options.serverIdentity ?? 'server@test.iam.gserviceaccount.com';
  const clientIdentity = options.clientIdentity ?? 'client@test.iam.gserviceaccount.com';
  const state: FakeHandshaker = {
    address: '',
    requests: [],
    open: 0,
    maxOpen: 0,
    streams: 0,
    stop: () =>
      new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()),
  };

  const result = (isClient: boolean) => ({
    applicationProtocol: ALTS_APPLICATION_PROTOCOL,
    recordProtocol: ALTSRP_GCM_AES128_REKEY,
    keyData: FAKE_KEY,
    peerIdentity: { serviceAccount: isClient ? serverIdentity : clientIdentity, attributes: {} },
    localIdentity: { serviceAccount: isClient ? clientIdentity : serverIdentity, attributes: {} },
    peerRpcVersions: LOCAL_RPC_VERSIONS,
    maxFrameSize: 16384,
  });

  const impl: HandshakerServiceServer = {
    doHandshake(call: ServerDuplexStream<HandshakerReq, HandshakerResp>) {
      state.open++;
      state.streams++;
      state.maxOpen = Math.max(state.maxOpen, state.open);
      let closed = false;
      const close = () => {
        if (!closed) state.open--;
        closed = true;
      };
      call.on('cancelled', close);
      call.on('close', close);
      let isClient = true;
      let buffered: Buffer = Buffer.alloc(0);
      let expecting: Buffer = CLIENT_INIT;
      let index = 0;
      call.on('data', (req: HandshakerReq) => {
        state.requests.push(req);
        let def: HandshakerResp;
        if (req.clientStart) {
          isClient = true;
          expecting = SERVER_FRAME;
          def = ok({ outFrames: CLIENT_INIT });
        } else {
          const inBytes = req.serverStart ? req.serverStart.inBytes : (req.next?.inBytes ?? Buffer.alloc(0));
          if (req.serverStart) isClient = false;
          const consumeNone = options.consume === 'none';
          const pending = consumeNone ? inBytes : Buffer.concat([buffered, inBytes]);
          if (pending.length < expecting.length) {
            if (!consumeNone) buffered = pending;
            def = ok({ bytesConsumed: consumeNone ? 0 : inBytes.length });
          } else {
            const taken = expecting.length - (consumeNone ? 0 : buffered.length);
            buffered = Buffer.alloc(0);
            if (isClient) {
              const out = options.clientTrailer
                ? Buffer.concat([CLIENT_FINISHED, options.clientTrailer])
                : CLIENT_FINISHED;
              def = ok({ outFrames: out, bytesConsumed: taken, result: result(true) });
            } else if (expecting === CLIENT_INIT) {
              expecting = CLIENT_FINISHED;
              def = ok({ outFrames: SERVER_FRAME, bytesConsumed: taken });
            } else {
              def = ok({ bytesConsumed: taken, result: result(false) });
            }
          }
        }
        const resp = options.override?.(req, def, index++) ?? def;
        if (resp === 'hang') return;
        call.write(resp);
        // The service ends the stream after the response that ends the handshake, whoever wrote it.
        if (resp.result || (resp.status && resp.status.code !== 0)) call.end();
      });
      call.on('end', () => call.end());
    },
  };
  server.addService(HandshakerServiceService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  state.address = `127.0.0.1:${port}`;
  return state;
}
