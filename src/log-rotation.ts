/**
 * --log-file-interval as rotating-file-stream takes it. The package rotates
 * on clock boundaries (every 6 h means at 00:00, 06:00, 12:00 and 18:00 UTC),
 * so a period must divide the next larger unit: seconds and minutes divide
 * 60, hours divide 24; whole days are any number of days. Used by the
 * option check at start (src/config.ts) and by src/log.ts, which hands the
 * result to the log file thread (workers/log-file.ts).
 */
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** The rotation period for `ms` ('1d', '6h', '15m', '30s'), or undefined if clock-aligned rotation cannot have that period. */
export function rotationInterval (ms: number): string | undefined {
  if (!(ms > 0)) return undefined
  if (ms % DAY === 0) return `${ms / DAY}d`
  const fits = (unit: number, whole: number): boolean => ms < whole && ms % unit === 0 && whole % ms === 0
  if (fits(HOUR, DAY)) return `${ms / HOUR}h`
  if (fits(MINUTE, HOUR)) return `${ms / MINUTE}m`
  if (fits(SECOND, MINUTE)) return `${ms / SECOND}s`
  return undefined
}
