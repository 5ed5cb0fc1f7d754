import { experimental, logVerbosity } from '@grpc/grpc-js';

/** The grpc-js tracer name: `GRPC_TRACE=alts GRPC_VERBOSITY=DEBUG` prints these lines. */
export const ALTS_TRACER = 'alts';

/** One trace line through grpc-js's tracer mechanism. Callers never pass keys or frame contents. */
export function trace(text: string): void {
  experimental.trace(logVerbosity.DEBUG, ALTS_TRACER, text);
}
