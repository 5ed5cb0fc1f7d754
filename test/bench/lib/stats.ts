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

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  const m = median(finite);
  const min = finite.length > 0 ? Math.min(...finite) : Number.NaN;
  const max = finite.length > 0 ? Math.max(...finite) : Number.NaN;
  return {
    median: round(m),
    min: round(min),
    max: round(max),
    spreadPct: m > 0 ? round(((max - min) / m) * 100) : Number.NaN,
    values: values.map(round),
  };
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
