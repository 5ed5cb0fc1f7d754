import type { ClientOptions } from '@grpc/grpc-js';
import {
  type AltsChannelCredentialsOptions,
  type AltsServer,
  type AltsServerOptions,
  clientAuthorizationInterceptor,
  createAltsChannelCredentials,
  createAltsServer,
} from '@grpc-alts/alts';
import {
  OtBookingServiceClient,
  type OtBookingServiceServer,
  OtBookingServiceService,
} from './gen/otbooking/ot_booking.js';

/**
 * The HTTP/2 flow-control window an OtBooking client advertises, per stream and per connection
 * (grpc-js channel option `grpc-node.flow_control_window`). With HTTP/2's default 65 535 B a server
 * streaming 64 KiB messages waits a round trip for WINDOW_UPDATE after nearly every message
 * (docs/performance.md). The price is memory: a reader that falls behind lets the server send up to
 * this much per connection before it must stop, 1 MiB buffered instead of 64 KiB.
 */
export const OT_BOOKING_FLOW_CONTROL_WINDOW = 1024 * 1024;

/** Options of {@link createOtBookingClient}: the ALTS options plus grpc-js channel options. */
export interface OtBookingClientOptions extends AltsChannelCredentialsOptions {
  /** grpc-js channel options; they override the factory's {@link OT_BOOKING_FLOW_CONTROL_WINDOW}. */
  channelOptions?: Partial<ClientOptions>;
}

/** The channel options of {@link createOtBookingClient}: the flow-control window, then the caller's. */
export function otBookingChannelOptions(channelOptions: Partial<ClientOptions> = {}): Partial<ClientOptions> {
  return { 'grpc-node.flow_control_window': OT_BOOKING_FLOW_CONTROL_WINDOW, ...channelOptions };
}

/**
 * An OtBookingService client over ALTS (grpc-java's
 * `AltsChannelBuilder.forTarget(target).addTargetServiceAccount(sa)`).
 */
export function createOtBookingClient(
  target: string,
  options: OtBookingClientOptions = {},
): OtBookingServiceClient {
  const { channelOptions, ...alts } = options;
  return new OtBookingServiceClient(
    target,
    createAltsChannelCredentials(alts),
    otBookingChannelOptions(channelOptions),
  );
}

/** Options of {@link createOtBookingServer}. */
export interface OtBookingServerOptions extends AltsServerOptions {
  /**
   * The client service accounts allowed to call (case-insensitive); every other caller gets
   * PERMISSION_DENIED.
   */
  clientServiceAccounts: readonly string[];
}

/**
 * An ALTS server for OtBookingService that admits only `clientServiceAccounts` (grpc-java's
 * `AltsServerBuilder.forPort(port).intercept(new ClientAuthInterceptor(sa)).addService(svc)`).
 * Call `listen('host:port')` to start it.
 *
 * Unlike the client, it keeps HTTP/2's 65 535 B receive windows: grpc-js 1.14's Server reads
 * `grpc-node.flow_control_window` nowhere and offers no other setting for them (its HTTP/2
 * settings carry only `grpc.max_concurrent_streams`), so uploads larger than 64 KiB stay
 * round-trip bound (factories.test.ts notices when a grpc-js release changes that).
 */
export function createOtBookingServer(
  implementation: OtBookingServiceServer,
  options: OtBookingServerOptions,
): AltsServer {
  const { clientServiceAccounts, interceptors = [], ...alts } = options;
  const server = createAltsServer({
    ...alts,
    interceptors: [clientAuthorizationInterceptor(clientServiceAccounts), ...interceptors],
  });
  server.addService(OtBookingServiceService, implementation);
  return server;
}
