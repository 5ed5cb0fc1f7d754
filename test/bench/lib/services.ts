/**
 * What the grpc-js benchmarks call: the generated OtBooking service (unary, ts-proto) and a small
 * streaming test service with Buffer passthrough (server streaming of N messages of S bytes).
 */
import { readFileSync } from 'node:fs';
import {
  type ChannelCredentials,
  Client,
  type ClientOptions,
  credentials,
  type Server,
  type ServerCredentials,
  ServerCredentials as ServerCreds,
  type ServerWritableStream,
  type ServiceDefinition,
  status,
} from '@grpc/grpc-js';
import { type AltsServer, createAltsChannelCredentials, createAltsServer } from '@grpc-alts/alts';
import {
  OtBookingServiceClient,
  type OtBookingServiceServer,
  OtBookingServiceService,
} from '@grpc-alts/ot-booking';

export type Mode = 'insecure' | 'tls' | 'alts';
export const MODES: readonly Mode[] = ['insecure', 'tls', 'alts'];

export const CLIENT_SA = 'bench-client@alts-bench.iam.gserviceaccount.com';
export const SERVER_SA = 'bench-server@alts-bench.iam.gserviceaccount.com';
/** TLS 1.3 with the AEAD ALTS uses (grpc-js reads this variable once, at load). */
export const TLS_CIPHER_SUITE = 'TLS_AES_128_GCM_SHA256';
/** Host name in the self-signed certificate. */
export const TLS_SERVER_NAME = 'localhost';

/** How a worker reaches its peer: the mode plus what that mode needs. */
export interface ModeConfig {
  mode: Mode;
  /** tls: the PEM certificate (the client's root) and key (server only), read from these files. */
  certFile?: string;
  keyFile?: string;
  /** alts: the handshaker service of this side's "VM". */
  handshakerAddress?: string;
}

// ---- streaming test service (no protobuf: the message is the Buffer) ----

const identity = (b: Buffer): Buffer => b;
export const STREAM_PULL_PATH = '/bench.StreamBench/Pull';
export const StreamBenchService: ServiceDefinition = {
  pull: {
    path: STREAM_PULL_PATH,
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'Pull',
  },
};

/** Pull request: u32le count, u32le size. */
export function pullRequest(count: number, size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(count, 0);
  b.writeUInt32LE(size, 4);
  return b;
}

const MAX_PULL_COUNT = 100_000;
const MAX_PULL_SIZE = 1024 * 1024;

function pull(call: ServerWritableStream<Buffer, Buffer>): void {
  const req = call.request;
  const count = req.length >= 8 ? Math.min(req.readUInt32LE(0), MAX_PULL_COUNT) : 0;
  const size = req.length >= 8 ? Math.min(req.readUInt32LE(4), MAX_PULL_SIZE) : 0;
  const message = Buffer.alloc(size, 0x5a);
  let sent = 0;
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
  });
  const pump = (): void => {
    while (sent < count && !cancelled) {
      sent++;
      if (!call.write(message)) {
        call.once('drain', pump);
        return;
      }
    }
    if (!cancelled) call.end();
  };
  pump();
}

const otBooking: OtBookingServiceServer = {
  getBookingInfo(call, callback) {
    // Echo the payload so that both directions carry it.
    callback(null, { bookingDate: '', condition: call.request.description });
  },
};

// ---- servers ----

export interface BenchServer {
  port: number;
  shutdown(): void;
}

function addServices(target: { addService: Server['addService'] }): void {
  target.addService(OtBookingServiceService, otBooking);
  target.addService(StreamBenchService, { pull });
}

export async function startBenchServer(config: ModeConfig, grpcServer: () => Server): Promise<BenchServer> {
  if (config.mode === 'alts') {
    if (!config.handshakerAddress) throw new Error('alts needs a handshaker address');
    const server: AltsServer = createAltsServer({ handshakerServiceAddress: config.handshakerAddress });
    addServices(server);
    const port = await server.listen('127.0.0.1:0');
    return { port, shutdown: () => server.forceShutdown() };
  }
  const server = grpcServer();
  addServices(server);
  let creds: ServerCredentials;
  if (config.mode === 'tls') {
    if (!config.certFile || !config.keyFile) throw new Error('tls needs a certificate and key');
    creds = ServerCreds.createSsl(
      null,
      [{ cert_chain: readFileSync(config.certFile), private_key: readFileSync(config.keyFile) }],
      false,
    );
  } else {
    creds = ServerCreds.createInsecure();
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (error, p) => (error ? reject(error) : resolve(p))),
  );
  return { port, shutdown: () => server.forceShutdown() };
}

// ---- clients ----

/** Channel options of every benchmark client: its own connection, never one shared with another channel. */
const CLIENT_OPTIONS: Partial<ClientOptions> = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
};

export function channelCredentials(config: ModeConfig): {
  creds: ChannelCredentials;
  options: Partial<ClientOptions>;
} {
  switch (config.mode) {
    case 'insecure':
      return { creds: credentials.createInsecure(), options: CLIENT_OPTIONS };
    case 'tls':
      if (!config.certFile) throw new Error('tls needs the certificate');
      return {
        creds: credentials.createSsl(readFileSync(config.certFile)),
        options: {
          ...CLIENT_OPTIONS,
          'grpc.ssl_target_name_override': TLS_SERVER_NAME,
          'grpc.default_authority': TLS_SERVER_NAME,
        },
      };
    case 'alts':
      if (!config.handshakerAddress) throw new Error('alts needs a handshaker address');
      return {
        creds: createAltsChannelCredentials({
          handshakerServiceAddress: config.handshakerAddress,
          targetServiceAccounts: [SERVER_SA],
        }),
        options: CLIENT_OPTIONS,
      };
  }
}

export interface BenchClients {
  booking: OtBookingServiceClient;
  stream: Client;
  close(): void;
}

/** A new channel (its own connection) with both services' clients on it; `extra` adds channel options. */
export function newClients(
  config: ModeConfig,
  port: number,
  extra: Partial<ClientOptions> = {},
): BenchClients {
  const { creds, options: modeOptions } = channelCredentials(config);
  const options = { ...modeOptions, ...extra };
  const booking = new OtBookingServiceClient(`127.0.0.1:${port}`, creds, options);
  const stream = new Client(`127.0.0.1:${port}`, creds, {
    ...options,
    channelOverride: booking.getChannel(),
  });
  return {
    booking,
    stream,
    close() {
      stream.close();
      booking.close();
    },
  };
}

export function unaryCall(client: OtBookingServiceClient, description: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.getBookingInfo({ patientID: 'p', doctorID: 'd', description }, (error, response) => {
      if (error) reject(error);
      else if (response.condition.length !== description.length) reject(new Error('bad echo'));
      else resolve();
    });
  });
}

/** One Pull call; resolves with the bytes received. */
export function pullCall(client: Client, count: number, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const call = client.makeServerStreamRequest<Buffer, Buffer>(
      STREAM_PULL_PATH,
      identity,
      identity,
      pullRequest(count, size),
    );
    call.on('data', (b: Buffer) => {
      bytes += b.length;
    });
    call.on('error', reject);
    call.on('status', (s) => {
      if (s.code === status.OK) resolve(bytes);
    });
  });
}
