export {
  BookingRequest,
  BookingResponse,
  OtBookingServiceClient,
  type OtBookingServiceServer,
  OtBookingServiceService,
} from './gen/otbooking/ot_booking.js';
