// The soak's duplicated-response detector must be able to fire, or `duplicated_responses=0` in the
// stress summary proves nothing: here a server really answers one call twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credentials, Server, ServerCredentials, type ServerWritableStream, status } from '@grpc/grpc-js';
import {
  type BookingRequest,
  type BookingResponse,
  OtBookingServiceClient,
  OtBookingServiceService,
} from '@grpc-alts/ot-booking';
import { ResponseLedger } from './soak.js';

test('stress soak: the duplicated-response detector fires on a response delivered twice', async () => {
  // The same method served as server-streaming, so the server can write two responses to one call:
  // what a transport that replays or duplicates data would deliver to the unary client.
  const server = new Server();
  const served = new Map<string, number>();
  server.addService(
    { getBookingInfo: { ...OtBookingServiceService.getBookingInfo, responseStream: true } },
    {
      getBookingInfo: (call: ServerWritableStream<BookingRequest, BookingResponse>) => {
        const patient = call.request.patientID;
        const before = served.get(patient) ?? 0;
        served.set(patient, before + 1);
        const reply = { bookingDate: '2026-12-01', condition: `c${patient.slice('PT-'.length)}` };
        call.write(reply);
        if (patient === 'PT-1' && before === 0) call.write(reply);
        call.end();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const client = new OtBookingServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const clean = new ResponseLedger(2);
    assert.equal((await clean.call(client, 0)).condition, 'c0');
    assert.deepEqual(clean.tally(), { lost: 1, duplicated: 0, duplicates: '' });

    const ledger = new ResponseLedger(3);
    await ledger.call(client, 0);
    // grpc-js fails the call that got two responses, and the soak's retry then succeeds: the
    // caller alone would see one error and one reply, the ledger sees the duplicate.
    await assert.rejects(ledger.call(client, 1), { code: status.UNIMPLEMENTED });
    assert.equal((await ledger.call(client, 1)).condition, 'c1');
    await ledger.call(client, 2);
    await ledger.call(client, 2);
    assert.deepEqual(ledger.tally(), {
      lost: 0,
      duplicated: 2,
      duplicates: 'PT-1: 3 messages, 1 replies; PT-2: 2 messages, 2 replies',
    });
  } finally {
    client.close();
    server.forceShutdown();
  }
});
