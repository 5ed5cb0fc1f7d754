/**
 * The operating-theatre booking service of the grpc-java ALTS tutorial: the ts-proto generated
 * types and grpc-js client, and ALTS factories ({@link createOtBookingServer},
 * {@link createOtBookingClient}). Install: `npm install @grpc-alts/ot-booking @grpc/grpc-js@~1.14.0`.
 *
 * @packageDocumentation
 */
export {
  type Booking,
  type BookingLookup,
  BookingsFileError,
  createBookingService,
  loadBookings,
  parseBookings,
  validateBookingRequest,
} from './bookings.js';
export { describeAltsError, describeFailure } from './call-failure.js';
export { type Program, parseCommandLine, usageError } from './command-line.js';
export {
  createOtBookingClient,
  createOtBookingServer,
  OT_BOOKING_FLOW_CONTROL_WINDOW,
  type OtBookingClientOptions,
  type OtBookingServerOptions,
} from './factories.js';
export {
  BookingRequest,
  BookingResponse,
  OtBookingServiceClient,
  type OtBookingServiceServer,
  OtBookingServiceService,
} from './gen/otbooking/ot_booking.js';
export { logLine } from './log-escape.js';
