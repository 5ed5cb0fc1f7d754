// grpc.health.v1 for the booking server, with grpc-health-check (the grpc-js project's own
// implementation): on the ALTS port for ALTS peers, and optionally on a plaintext port for health
// checkers that cannot speak ALTS, which @grpc-alts/alts keeps to Check alone.
import { type AltsServer, type HealthCheckServer, listenHealthCheck } from '@grpc-alts/alts';
import { OtBookingServiceService } from '@grpc-alts/ot-booking';
import { HealthImplementation } from 'grpc-health-check';

/** The service name health checkers ask about ('' is the whole server, by the protocol's rule). */
export const BOOKING_SERVICE_NAME = OtBookingServiceService.getBookingInfo.path.split('/')[1] as string;

/** NOT_SERVING until {@link serving}, and again from {@link stopping}, so balancers drain first. */
export class BookingHealth {
  readonly #health = new HealthImplementation({ '': 'NOT_SERVING', [BOOKING_SERVICE_NAME]: 'NOT_SERVING' });
  #plaintext: HealthCheckServer | undefined;

  /** Adds Check, Watch and List to `server`, before it listens. */
  constructor(server: AltsServer) {
    this.#health.addToServer(server);
  }

  /** Serves Check alone in plaintext on `address` (`host:port`); resolves with the bound port. */
  async listenPlaintext(address: string): Promise<number> {
    this.#plaintext = await listenHealthCheck(this.#health, address);
    return this.#plaintext.port;
  }

  serving(): void {
    for (const name of ['', BOOKING_SERVICE_NAME]) this.#health.setStatus(name, 'SERVING');
  }

  stopping(): void {
    for (const name of ['', BOOKING_SERVICE_NAME]) this.#health.setStatus(name, 'NOT_SERVING');
  }

  /** Closes the plaintext port, once the booking server is down. */
  close(): void {
    this.#plaintext?.shutdown();
  }
}
