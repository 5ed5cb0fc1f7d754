/**
 * Reads an integer environment knob, bounded to [min, max]. A missing or unparsable value gives
 * the default; an out-of-range value is clamped (grpc-go `uint64FromEnv` does the same).
 */
export function readBoundedIntEnv(
  name: string,
  defaultValue: number,
  min: number,
  max: number,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '' || !/^\d+$/.test(raw)) return defaultValue;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) return max;
  return Math.min(max, Math.max(min, value));
}
