// The typed OtBookingService server and client of @grpc-alts/ot-booking (ts-proto generated
// types, ALTS factories). The server admits only CLIENT_ACCOUNT; the client accepts only a server
// running as SERVER_ACCOUNT.
//   npm run build && node examples/dist/typed-client-server.js
import { status } from '@grpc/grpc-js';
import {
  type BookingResponse,
  createOtBookingClient,
  createOtBookingServer,
  type OtBookingServiceServer,
} from '@grpc-alts/ot-booking';
import { CLIENT_ACCOUNT, SERVER_ACCOUNT, startHandshakers, unary } from './handshakers.js';

const handshakers = await startHandshakers();

const service: OtBookingServiceServer = {
  getBookingInfo(call, callback) {
    if (call.request.patientID !== 'PT-1204') {
      callback({ code: status.NOT_FOUND, details: `no booking for ${call.request.patientID}` });
      return;
    }
    callback(null, { bookingDate: '01-Jun-2024 11:30', condition: 'Gall bladder stone' });
  },
};
const server = createOtBookingServer(service, {
  handshakerServiceAddress: handshakers.server,
  clientServiceAccounts: [CLIENT_ACCOUNT],
});
const port = await server.listen('127.0.0.1:0');

const client = createOtBookingClient(`127.0.0.1:${port}`, {
  handshakerServiceAddress: handshakers.client(),
  targetServiceAccounts: [SERVER_ACCOUNT],
});
const booking = await unary<BookingResponse>((done) =>
  client.getBookingInfo({ patientID: 'PT-1204', doctorID: 'DC-3904', description: '' }, done),
);
console.log(`booking: ${booking.bookingDate} (${booking.condition})`);

client.close();
server.forceShutdown();
await handshakers.stop();
