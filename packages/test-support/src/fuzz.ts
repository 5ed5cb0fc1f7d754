// The harness the seeded fuzzers share (packages/alts record and handshake, the emulator) and the
// stress runner that drives them. Each fuzz file documents the knobs in its header, with its own
// default budget:
//   FUZZ_SEED   the fast-check seed (default random; every run prints it, to replay a failure);
//   FUZZ_RUNS   the file's case budget (clamped to [MIN_FUZZ_RUNS, MAX_FUZZ_RUNS]);
//   FUZZ_REPORT a file to append one JSON line per property to (cases run, seed): how
//               `npm run test:stress` proves its million cases ran.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';

/** The bounds of FUZZ_RUNS, as each fuzz file documents them: a mistyped value cannot run for days. */
const MIN_FUZZ_RUNS = 10;
const MAX_FUZZ_RUNS = 5_000_000;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * An integer knob from the environment, clamped to [min, max]; unset, empty or not an integer
 * gives `fallback` (never an unbounded value from the environment).
 */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw || !/^-?\d+$/.test(raw)) return fallback;
  return Math.min(max, Math.max(min, Number(raw)));
}

/** FUZZ_SEED, or a fresh random 32-bit seed (fast-check takes any int32). */
export function fuzzSeed(): number {
  return envInt('FUZZ_SEED', (Date.now() ^ (Math.random() * 0x7fffffff)) | 0, INT32_MIN, INT32_MAX);
}

/** One fuzz file's run: its seed, its case budget and its FUZZ_REPORT lines. */
interface FuzzRun {
  readonly seed: number;
  /** FUZZ_RUNS, or the file's default budget. */
  readonly runs: number;
  /** Appends one line `{suite, property, cases, seed}` to FUZZ_REPORT, if set. */
  report(property: string, cases: number): void;
}

/** The run of the fuzz file `suite` (its name in FUZZ_REPORT), `defaultRuns` cases unless FUZZ_RUNS. */
export function fuzzRun(suite: string, defaultRuns: number): FuzzRun {
  const seed = fuzzSeed();
  return {
    seed,
    runs: envInt('FUZZ_RUNS', defaultRuns, MIN_FUZZ_RUNS, MAX_FUZZ_RUNS),
    report(property, cases) {
      const file = process.env.FUZZ_REPORT;
      if (file) appendFileSync(file, `${JSON.stringify({ suite, property, cases, seed })}\n`);
    },
  };
}

/**
 * Records every uncaught exception and unhandled rejection while started: a fuzzer asserts the
 * list is empty, so an error that escaped a case fails the run instead of killing it silently.
 */
export class EscapeRecorder {
  readonly escaped: unknown[] = [];
  readonly #record = (error: unknown): void => {
    this.escaped.push(error);
  };

  start(): void {
    process.on('uncaughtException', this.#record);
    process.on('unhandledRejection', this.#record);
  }

  stop(): void {
    process.off('uncaughtException', this.#record);
    process.off('unhandledRejection', this.#record);
  }
}

/** Live timers in the process: a fuzzer's count must return to its baseline (nothing leaked). */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Settles `promise`, failing the case if it takes longer than `ms` (a hang). */
export async function settleWithin<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), ms);
  });
  const settled = await Promise.race([
    promise.then(
      (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
    ),
    hang,
  ]);
  clearTimeout(timer);
  assert.notEqual(settled, 'hang', `${what} did not settle within ${ms} ms`);
  return settled as PromiseSettledResult<T>;
}

/** What `promise` resolves to, failing the case if it takes longer than `ms`; rejections pass through. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const settled = await settleWithin(promise, ms, what);
  if (settled.status === 'rejected') throw settled.reason;
  return settled.value;
}

/** Splits `data` at the given cut points (taken modulo its length, duplicates and 0 dropped). */
export function cutAt(data: Buffer, cuts: readonly number[]): Buffer[] {
  if (data.length === 0) return [];
  const points = [...new Set(cuts.map((c) => c % data.length).filter((c) => c > 0))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    out.push(data.subarray(start, p));
    start = p;
  }
  out.push(data.subarray(start));
  return out;
}
