import { readFile } from 'node:fs/promises';
import { type handleUnaryCall, status } from '@grpc/grpc-js';
import { getAltsContext } from '@grpc-alts/alts';
import type { BookingRequest, BookingResponse, OtBookingServiceServer } from './gen/otbooking/ot_booking.js';
import { escapeLogField } from './log-escape.js';

/** Patient and doctor IDs as the hospital issues them: `PT-1204`, `DC-3904`. */
const PATIENT_ID = /^PT-\d{1,12}$/;
const DOCTOR_ID = /^DC-\d{1,12}$/;
/** Bookings files are small reference data; refuse anything that is clearly not one. */
export const MAX_BOOKINGS_FILE_BYTES = 16 * 1024 * 1024;
/** A request's free-text description is for the theatre staff, not a document store. */
export const MAX_DESCRIPTION_CHARS = 4096;
/** How much of a requested ID a lookup reports: a valid one whole (15), enough of an invalid one. */
const MAX_LOGGED_ID_CHARS = 32;

/** One operating-theatre booking. */
export interface Booking {
  /** The patient, e.g. `PT-1204`. */
  patientID: string;
  /** The doctor, e.g. `DC-3904`. */
  doctorID: string;
  /** When, as free text, e.g. `01-Jun-2024 11:30`. */
  bookingDate: string;
  /** The reason for the operation: health data, never logged. */
  condition: string;
}

/** Thrown for a bookings file that cannot be used; the message names the file and the entry. */
export class BookingsFileError extends Error {
  /** Always `'BookingsFileError'`. */
  override readonly name = 'BookingsFileError';
}

const key = (patientID: string, doctorID: string) => `${patientID}\u0000${doctorID}`;

/** Validates parsed bookings data: an array of complete, well-formed, unique entries. */
export function parseBookings(data: unknown, source = 'bookings'): Map<string, Booking> {
  if (!Array.isArray(data)) throw new BookingsFileError(`${source}: expected a JSON array of bookings`);
  const bookings = new Map<string, Booking>();
  data.forEach((entry: unknown, i) => {
    const where = `${source}: entry ${i}`;
    if (typeof entry !== 'object' || entry === null) throw new BookingsFileError(`${where} is not an object`);
    const e = entry as Record<string, unknown>;
    for (const field of ['patientID', 'doctorID', 'bookingDate', 'condition'] as const) {
      if (typeof e[field] !== 'string' || e[field] === '') {
        throw new BookingsFileError(`${where}: "${field}" must be a non-empty string`);
      }
    }
    const booking = e as unknown as Booking;
    if (!PATIENT_ID.test(booking.patientID))
      throw new BookingsFileError(`${where}: malformed patientID (want PT-<digits>)`);
    if (!DOCTOR_ID.test(booking.doctorID))
      throw new BookingsFileError(`${where}: malformed doctorID (want DC-<digits>)`);
    const k = key(booking.patientID, booking.doctorID);
    if (bookings.has(k))
      throw new BookingsFileError(
        `${where}: duplicate booking for ${booking.patientID} with ${booking.doctorID}`,
      );
    bookings.set(k, {
      patientID: booking.patientID,
      doctorID: booking.doctorID,
      bookingDate: booking.bookingDate,
      condition: booking.condition,
    });
  });
  return bookings;
}

/** Reads and validates a bookings JSON file. */
export async function loadBookings(file: string): Promise<Map<string, Booking>> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_BOOKINGS_FILE_BYTES) {
      throw new BookingsFileError(`${file}: larger than ${MAX_BOOKINGS_FILE_BYTES} bytes`);
    }
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof BookingsFileError) throw err;
    throw new BookingsFileError(`${file}: cannot read: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new BookingsFileError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  return parseBookings(data, file);
}

/** Why a request is invalid, or undefined when it is well-formed. */
export function validateBookingRequest(request: BookingRequest): string | undefined {
  if (!PATIENT_ID.test(request.patientID)) return 'patientID must look like PT-<digits>';
  if (!DOCTOR_ID.test(request.doctorID)) return 'doctorID must look like DC-<digits>';
  if (request.description.length > MAX_DESCRIPTION_CHARS)
    return `description is longer than ${MAX_DESCRIPTION_CHARS} characters`;
  return undefined;
}

/**
 * One served call, for the server's log: who asked for what, never the patient's condition. The IDs
 * are as requested, valid or not, so every field comes escaped and bounded (`quoteUntrusted` of
 * `@grpc-alts/alts`).
 */
export interface BookingLookup {
  /** The caller's service account (from its ALTS context). */
  caller: string;
  /** The requested patient, as sent. */
  patientID: string;
  /** The requested doctor, as sent. */
  doctorID: string;
  /** Whether a booking was returned, none exists, or the request was malformed. */
  outcome: 'found' | 'not found' | 'invalid';
}

/**
 * The OtBookingService implementation over a bookings table: INVALID_ARGUMENT for malformed IDs,
 * NOT_FOUND when the patient has no booking with that doctor.
 */
export function createBookingService(
  bookings: ReadonlyMap<string, Booking>,
  onLookup?: (lookup: BookingLookup) => void,
): OtBookingServiceServer {
  const getBookingInfo: handleUnaryCall<BookingRequest, BookingResponse> = (call, callback) => {
    const request = call.request;
    const caller = getAltsContext(call)?.peerServiceAccount ?? '(not ALTS)';
    const report = (outcome: BookingLookup['outcome']) =>
      onLookup?.({
        caller: escapeLogField(caller),
        patientID: escapeLogField(request.patientID, MAX_LOGGED_ID_CHARS),
        doctorID: escapeLogField(request.doctorID, MAX_LOGGED_ID_CHARS),
        outcome,
      });
    const invalid = validateBookingRequest(request);
    if (invalid) {
      report('invalid');
      callback({ code: status.INVALID_ARGUMENT, details: invalid });
      return;
    }
    const booking = bookings.get(key(request.patientID, request.doctorID));
    if (!booking) {
      report('not found');
      callback({
        code: status.NOT_FOUND,
        details: `no booking for patient ${request.patientID} with ${request.doctorID}`,
      });
      return;
    }
    report('found');
    callback(null, { bookingDate: booking.bookingDate, condition: booking.condition });
  };
  return { getBookingInfo };
}
