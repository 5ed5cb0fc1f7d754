// ot-booking-client: asks the OT booking back end for a booking over ALTS (AltsOtBookingClient).
// Run through bin/ot-booking-client.js.
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { AltsError, quoteUntrusted } from '@grpc-alts/alts';
import {
  type BookingResponse,
  createOtBookingClient,
  describeFailure,
  logLine,
  parseCommandLine,
  usageError,
} from '@grpc-alts/ot-booking';

const USAGE = `Usage: ot-booking-client [options] <server-address> <server-service-account>...

Calls otbooking.OtBookingService/getBookingInfo over ALTS; the server must run as one of the
given service accounts.

Options:
  --patient <id>        patient ID (default PT-1204)
  --doctor <id>         doctor ID (default DC-3904)
  --description <text>  request description (default empty)
  --timeout <seconds>   call deadline, handshake included (default 10; the handshake gets 80 %)
  --handshaker <addr>   ALTS handshaker service host:port (default: ALTS_HANDSHAKER_SERVICE_ADDRESS,
                        GCE_METADATA_HOST, then metadata.google.internal.:8080 on Google Cloud)
  --json                print the booking as JSON
  -h, --help            show this help
  --version             print the version

Exit status: 0 success, 2 usage error, 64 + gRPC status code when the call fails.
`;
const PROGRAM = {
  name: 'ot-booking-client',
  usage: USAGE,
  packageJson: new URL('../package.json', import.meta.url),
};
/** grpcurl's convention: failures exit with 64 + the gRPC status code. */
const EXIT_RPC_BASE = 64;
const MAX_TIMEOUT_SECONDS = 3600;
/**
 * Share of the call deadline the ALTS handshake may take. A handshake still running when the call's
 * deadline passes leaves only grpc-js's "Deadline exceeded ... Waiting for LB pick"; one that times
 * out first fails the call with its own reason (a server that never answered, a silent handshaker).
 */
const HANDSHAKE_SHARE_OF_DEADLINE = 0.8;
/** The library's client default (grpc-java's 20 s): a long --timeout does not lengthen the handshake. */
const MAX_HANDSHAKE_TIMEOUT_MS = 20_000;

/** Error details come from the server or the handshaker (which may quote the peer): escaped. */
function fail(code: status, details: string, server: string): never {
  process.stderr.write(`${logLine`${status[code]}: ${describeFailure(details, server)}`}\n`);
  process.exit(EXIT_RPC_BASE + code);
}

const { values, positionals } = parseCommandLine(PROGRAM, {
  patient: { type: 'string', default: 'PT-1204' },
  doctor: { type: 'string', default: 'DC-3904' },
  description: { type: 'string', default: '' },
  timeout: { type: 'string', default: '10' },
  handshaker: { type: 'string' },
  json: { type: 'boolean', default: false },
});
const [address, ...serverAccounts] = positionals;
if (!address || serverAccounts.length === 0)
  usageError(PROGRAM, 'a server address and at least one server service account are required');
const timeout = Number(values.timeout);
if (!(timeout > 0 && timeout <= MAX_TIMEOUT_SECONDS))
  usageError(PROGRAM, `--timeout must be in (0, ${MAX_TIMEOUT_SECONDS}] seconds`);

let client: ReturnType<typeof createOtBookingClient>;
try {
  client = createOtBookingClient(address, {
    targetServiceAccounts: serverAccounts,
    handshakeTimeoutMs: Math.max(
      1,
      Math.min(MAX_HANDSHAKE_TIMEOUT_MS, Math.floor(timeout * 1000 * HANDSHAKE_SHARE_OF_DEADLINE)),
    ),
    ...(values.handshaker === undefined ? {} : { handshakerServiceAddress: values.handshaker }),
  });
} catch (err) {
  if (AltsError.is(err)) fail(err.grpcCode, err.message, address);
  throw err;
}
const request = { patientID: values.patient, doctorID: values.doctor, description: values.description };
client.getBookingInfo(
  request,
  new Metadata(),
  { deadline: Date.now() + timeout * 1000 },
  (err: ServiceError | null, booking?: BookingResponse) => {
    client.close();
    if (err) fail(err.code, err.details, address);
    if (!booking) fail(status.INTERNAL, 'empty response', address);
    // The booking is the server's text: escaped so that it cannot rewrite the user's terminal, and
    // in JSON only by `\uXXXX` escapes, which decode to the same strings.
    if (values.json)
      process.stdout.write(
        `${quoteUntrusted(JSON.stringify({ ...request, ...booking }), Number.POSITIVE_INFINITY)}\n`,
      );
    else {
      const { patientID, doctorID } = request;
      const { bookingDate, condition } = booking;
      process.stdout.write(
        `${logLine`Booking for ${patientID} with ${doctorID}: ${bookingDate} (${condition})`}\n`,
      );
    }
  },
);
