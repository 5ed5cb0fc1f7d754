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

/** Options of {@link createOtBookingClient}: the ALTS options plus grpc-js channel options. */
export interface OtBookingClientOptions extends AltsChannelCredentialsOptions {
  channelOptions?: Partial<ClientOptions>;
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
  return new OtBookingServiceClient(target, createAltsChannelCredentials(alts), channelOptions);
}

/** Options of {@link createOtBookingServer}. */
export interface OtBookingServerOptions extends AltsServerOptions {
  /** The client service accounts allowed to call (case-insensitive); every other caller gets PERMISSION_DENIED. */
  clientServiceAccounts: readonly string[];
}

/**
 * An ALTS server for OtBookingService that admits only `clientServiceAccounts` (grpc-java's
 * `AltsServerBuilder.forPort(port).intercept(new ClientAuthInterceptor(sa)).addService(svc)`).
 * Call `listen('host:port')` to start it.
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
