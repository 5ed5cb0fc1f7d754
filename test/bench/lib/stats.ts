/** Summary statistics of repeated benchmark measurements. */

/** One cell measured several times: the median and the spread around it. */
export interface Summary {
  /** Median of `values`. */
  median: number;
  min: number;
  max: number;
  /** (max − min) ÷ median, in percent: how noisy the cell was. */
  spreadPct: number;
  /** Each repetition's figure, in run order. */
  values: number[];
  /**
   * Why this cell has no figure: a repetition failed (errors, nothing measured) or gave an
   * impossible value. A failed cell is reported as failed with this reason, never as a number.
   */
  failed?: string;
}

/** The p-th percentile (0–100) of `sorted` (ascending), nearest-rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The summary of one cell's repetitions. `failures` are the reasons repetitions failed (the
 * sections check what each figure is measured over); a value that is not a finite number fails
 * the cell too (NaN arrives from a worker's JSON as null).
 */
export function summarize(values: readonly number[], failures: readonly string[] = []): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  const m = median(finite);
  const min = finite.length > 0 ? Math.min(...finite) : Number.NaN;
  const max = finite.length > 0 ? Math.max(...finite) : Number.NaN;
  const impossible = values.filter((v) => !Number.isFinite(v));
  const reasons = [
    ...new Set([
      ...failures,
      ...(impossible.length > 0 ? [`impossible value ${impossible.map(String).join(', ')}`] : []),
    ]),
  ];
  return {
    median: round(m),
    min: round(min),
    max: round(max),
    spreadPct: m > 0 ? round(((max - min) / m) * 100) : Number.NaN,
    values: values.map(round),
    ...(reasons.length > 0 || values.length === 0
      ? { failed: reasons.join('; ') || 'nothing was measured' }
      : {}),
  };
}

/** The cell's median, or undefined when it failed or is missing: the only way to read a figure. */
export function figure(s: Summary | undefined): number | undefined {
  return s === undefined || s.failed !== undefined ? undefined : s.median;
}

/** A figure for a progress line: "-" for anything that is not a finite number (null included). */
export function fmt(v: unknown, digits = 2): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '-';
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(digits);
}

/** Rounds to 4 significant digits (keeps the JSON readable without losing anything measurable). */
export function round(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(value))));
  return Number(value.toFixed(Math.min(digits, 6)));
}

/** a ÷ b, rounded; NaN when either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return Number.NaN;
  }
  return round(a / b);
}

/** Appends `value` to the list under `key`, creating it. */
export function pushTo(lists: Record<string, number[]>, key: string, value: number): void {
  const list = lists[key];
  if (list) list.push(value);
  else lists[key] = [value];
}
