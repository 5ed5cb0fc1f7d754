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
