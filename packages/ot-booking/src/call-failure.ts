// What the user reads when a call fails: one line that says what failed, why, and what to check.
// grpc-js words a connection it could not establish as a report of its load balancer; the library's
// AltsError starts with a code meant for programs. Neither helps a person at a terminal.

/**
 * grpc-js's report of a channel that could not connect (pick_first): the last error's class and
 * text (`String(error)`), then a resolution note, empty unless the resolver had something to say.
 */
const GRPC_CONNECTION_REPORT =
  /^No connection established\. Last error: (?:(\w*Error): )?([\s\S]*)\. Resolution note: ([\s\S]*)$/;
/** The `[CODE] ` an AltsError message starts with (packages/alts/src/errors.ts). */
const ALTS_CODE = /^\[([A-Z_]+)\] /;

/** What to check, for the AltsError codes whose message does not say it already. */
const ALTS_HINTS: Readonly<Record<string, string>> = {
  HANDSHAKER_UNAVAILABLE:
    "start one there (npx alts-emulator --listen <host:port> --service-account <this client's account>) " +
    'or point --handshaker at a running one',
  PEER_CLOSED: "the server's log says why",
};

/**
 * The library options the programs' flags set, one to one: an error about the option is an error
 * about the flag the user typed.
 */
const OPTION_FLAGS: Readonly<Record<string, string>> = { handshakerServiceAddress: '--handshaker' };
const OPTION_NAMES = new RegExp(`\\b(?:the )?(${Object.keys(OPTION_FLAGS).join('|')})(?: option)?\\b`, 'g');

/**
 * An AltsError's message for the user of ot-booking-client or ot-booking-server: without the code,
 * with the programs' flags for the library's option names and what to check when the message does
 * not say it already. Other text is returned unchanged.
 */
export function describeAltsError(text: string): string {
  const code = ALTS_CODE.exec(text)?.[1];
  if (code === undefined) return text;
  const message = text
    .replace(ALTS_CODE, '')
    .replace(OPTION_NAMES, (_, name: string) => OPTION_FLAGS[name] ?? name);
  const hint = ALTS_HINTS[code];
  return hint === undefined ? message : `${message}; ${hint}`;
}

/**
 * The line to print for a failed call's status details, or for the message of an AltsError thrown
 * when the client was created. `server` is the address the user gave.
 */
export function describeFailure(details: string, server: string): string {
  const report = GRPC_CONNECTION_REPORT.exec(details);
  const [, errorClass, lastError = '', note = ''] = report ?? [];
  const text = report ? `${lastError}${note ? ` (${note})` : ''}` : details;
  if (report && errorClass !== 'AltsError') {
    return `cannot connect to ${server}: ${text}; is ot-booking-server running there?`;
  }
  return describeAltsError(text);
}
