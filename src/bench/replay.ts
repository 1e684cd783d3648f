/**
 * --replay FILE: a recorded (or hand-written) traffic shape, sent at its own
 * pace, --speed times faster.
 *
 * The dataset is JSON, `{"points": [...]}` (or the bare array), one object per
 * sample:
 *
 *   {"offset": "01:30", "name": "cpu_usage_user", "labels": {"host": "a"}, "value": 12.5}
 *
 *   offset  time from the start: "MM:SS" (minutes may pass 59: "90:00"),
 *           "HH:MM:SS", either with a fraction of a second ("00:01.250")
 *   name    the series name; labels: string values, optional; value: a number
 *
 * Points with the same offset go out together, in bodies of at most
 * --samples-per-body samples, at start + offset / speed. Each sample is
 * stamped with that moment (the intended send time), so the stored series run
 * --speed times faster than the dataset's clock and stay near the present.
 */
import { readFileSync } from 'node:fs'
import { BodyWriter, seriesPrefix, WorkloadError, type Encoding, type Workload } from './workload.js'

export interface ReplayPoint {
  offsetMs: number
  name: string
  labels: Array<readonly [string, string]>
  value: number
}

/** "MM:SS", "HH:MM:SS", with an optional fraction of a second, to ms; NaN if it is neither. */
export function parseOffset (s: string): number {
  const m = /^(?:(\d+):([0-5]\d):([0-5]\d(?:\.\d{1,3})?)|(\d+):([0-5]\d(?:\.\d{1,3})?))$/.exec(s)
  if (m === null) return NaN
  const seconds = m[1] !== undefined
    ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])
    : Number(m[4]) * 60 + Number(m[5])
  return Math.round(seconds * 1000)
}

/** The dataset's points, sorted by offset (points with equal offsets keep their order). */
export function loadDataset (path: string): ReplayPoint[] {
  let doc: unknown
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new WorkloadError(`--replay ${path}: ${(e as Error).message}`)
  }
  const raw = Array.isArray(doc) ? doc : (doc as { points?: unknown } | null)?.points
  if (!Array.isArray(raw)) throw new WorkloadError(`--replay ${path}: expected {"points": [...]} or an array of points`)
  const points = raw.map((p: unknown, i): ReplayPoint => {
    const where = `--replay ${path}: point ${i}`
    if (typeof p !== 'object' || p === null) throw new WorkloadError(`${where}: not an object`)
    const { offset, name, labels, value } = p as Record<string, unknown>
    const offsetMs = typeof offset === 'string' ? parseOffset(offset) : NaN
    if (!Number.isFinite(offsetMs)) throw new WorkloadError(`${where}: offset ${JSON.stringify(offset)} is not "MM:SS" or "HH:MM:SS"`)
    if (typeof name !== 'string' || name === '') throw new WorkloadError(`${where}: name must be a non-empty string`)
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new WorkloadError(`${where}: value must be a finite number`)
    const pairs: Array<readonly [string, string]> = []
    if (labels !== undefined) {
      if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw new WorkloadError(`${where}: labels must be an object of strings`)
      for (const [k, v] of Object.entries(labels)) {
        if (typeof v !== 'string') throw new WorkloadError(`${where}: label ${k} must be a string`)
        pairs.push([k, v])
      }
    }
    return { offsetMs, name, labels: pairs, value }
  })
  if (points.length === 0) throw new WorkloadError(`--replay ${path}: no points`)
  return points.map((p, i) => [p, i] as const).sort((a, b) => a[0].offsetMs - b[0].offsetMs || a[1] - b[1]).map(([p]) => p)
}

/** Bodies in send order, due at offset / speed after `startMs` (epoch ms), stamped with that time. */
export function replayWorkload (points: ReplayPoint[], o: { samplesPerBody: number, speed: number, startMs: number }, encoding: Encoding): Workload {
  const w = new BodyWriter(encoding)
  const due: number[] = []
  const prefixes = new Map<string, string>()
  let at = -1
  for (const p of points) {
    if (p.offsetMs !== at || w.pending === o.samplesPerBody) {
      w.flush()
      at = p.offsetMs
    }
    if (w.pending === 0) due.push(p.offsetMs / o.speed)
    const key = JSON.stringify([p.name, p.labels])
    let prefix = prefixes.get(key)
    if (prefix === undefined) prefixes.set(key, prefix = seriesPrefix(encoding, p.name, p.labels))
    w.add(prefix, p.value, Math.round(o.startMs + p.offsetMs / o.speed))
  }
  return w.done(Float64Array.from(due))
}

/** The dataset's span, ms (its last offset). */
export const datasetSpanMs = (points: ReplayPoint[]): number => points[points.length - 1]!.offsetMs
