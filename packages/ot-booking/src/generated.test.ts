// Tests of the generated stubs alone (plaintext loopback); ALTS is tested elsewhere.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials, Server, ServerCredentials, status } from '@grpc/grpc-js';
import {
  BookingRequest,
  BookingResponse,
  OtBookingServiceClient,
  type OtBookingServiceServer,
  OtBookingServiceService,
} from './index.js';

describe('OtBooking messages', () => {
  it('round-trips BookingRequest, including non-ASCII text', () => {
    const request = { patientID: 'PT-1204', doctorID: 'DC-3904', description: 'Cholécystectomie 🏥' };
    assert.deepEqual(BookingRequest.decode(BookingRequest.encode(request).finish()), request);
  });

  it('round-trips BookingResponse', () => {
    const response = { bookingDate: '01-Jun-2024 11:30', condition: 'Gall bladder stone' };
    assert.deepEqual(BookingResponse.decode(BookingResponse.encode(response).finish()), response);
  });

  it('encodes the proto field numbers (patientID=1, doctorID=2, description=3)', () => {
    const bytes = BookingRequest.encode({ patientID: 'a', doctorID: 'b', description: 'c' }).finish();
    assert.deepEqual([...bytes], [0x0a, 1, 0x61, 0x12, 1, 0x62, 0x1a, 1, 0x63]);
  });

  it('decodes empty input to default values', () => {
    assert.deepEqual(BookingRequest.decode(new Uint8Array()), {
      patientID: '',
      doctorID: '',
      description: '',
    });
    assert.deepEqual(BookingResponse.decode(new Uint8Array()), { bookingDate: '', condition: '' });
  });
});

describe('OtBookingService stubs over plaintext loopback', () => {
  const server = new Server();
  let client: OtBookingServiceClient;
  const impl: OtBookingServiceServer = {
    getBookingInfo: (call, callback) => {
      if (call.request.patientID !== 'PT-1204') {
        callback({ code: status.NOT_FOUND, details: 'no booking' });
        return;
      }
      callback(null, { bookingDate: '01-Jun-2024 11:30', condition: `seen by ${call.request.doctorID}` });
    },
  };

  before(async () => {
    server.addService(OtBookingServiceService, impl);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new OtBookingServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  it('keeps the wire path of the Java sample', () => {
    assert.equal(OtBookingServiceService.getBookingInfo.path, '/otbooking.OtBookingService/getBookingInfo');
  });

  it('getBookingInfo round trip', async () => {
    const response = await new Promise<BookingResponse>((resolve, reject) =>
      client.getBookingInfo({ patientID: 'PT-1204', doctorID: 'DC-3904', description: 'x' }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
    assert.deepEqual(response, { bookingDate: '01-Jun-2024 11:30', condition: 'seen by DC-3904' });
  });

  it('carries status errors', async () => {
    const err = await new Promise<{ code?: number }>((resolve) =>
      client.getBookingInfo({ patientID: 'nobody', doctorID: '', description: '' }, (e) => resolve(e ?? {})),
    );
    assert.equal(err.code, status.NOT_FOUND);
  });
});
