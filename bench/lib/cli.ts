/**
 * Flags of `npm run bench:ingest -- ...`, with their defaults and units,
 * validated once with messages that name the flag and the fix.
 */
import { parseArgs } from 'node:util'
import { TARGETS, type TargetName } from './targets.js'

export interface Options {
  targets: TargetName[]
  /** Lines per request body. */
  sizes: number[]
  duration: number // s, the measured window
  warmup: number // s, loaded but not measured, before the window
  connections: number // keep-alive connections, one request in flight each
  rounds: number // every target and size once per round, interleaved
  port: number // 0 = a free ephemeral port per run
  json: string | null // also write the JSON here
  hosts: number // distinct hosts in the bodies (8 series each)
  lines: number // lines generated per size; bodies = lines / size, rotated
  timeout: number // s, per request (wrk's --timeout)
  ringestArgs: string[] // extra `ringest serve` flags
  vmBin: string
}

export const DEFAULTS: Options = Object.freeze({
  targets: ['baseline', 'ringest'],
  sizes: [1, 100, 5000],
  duration: 15, // s
  warmup: 3, // s
  connections: 64,
  rounds: 1,
  port: 18430,
  json: null,
  hosts: 10_000,
  lines: 200_000, // as ../shared/peers/run.sh: 200,000 x 1, 2,000 x 100, 40 x 5,000 bodies
  timeout: 30, // s
  ringestArgs: [],
  vmBin: 'victoria-metrics',
}) as Options

export const USAGE = `npm run bench:ingest -- [flags]      (or: node dist/bench/ingest.js [flags])

End-to-end ingest benchmark: a fresh server per target and body size, a separate
load-generator process (undici, closed loop), figures over a measured window.

  --targets LIST      ${TARGETS.join(',')} (default ${DEFAULTS.targets.join(',')})
  --sizes LIST        lines per request body (default ${DEFAULTS.sizes.join(',')})
  --duration S        measured window, seconds (default ${DEFAULTS.duration})
  --warmup S          load before the window, seconds (default ${DEFAULTS.warmup})
  --connections N     keep-alive connections, 1 request in flight each (default ${DEFAULTS.connections})
  --rounds N          rounds; targets interleave within a round (default ${DEFAULTS.rounds})
  --port N            server port on 127.0.0.1; 0 = any free port (default ${DEFAULTS.port})
  --json PATH         also write the results JSON there (always: bench/results/ingest-<UTC>.json)
  --hosts N           hosts in the bodies, 8 series each (default ${DEFAULTS.hosts})
  --lines N           lines generated per size, rotated over (default ${DEFAULTS.lines})
  --timeout S         per-request timeout, seconds (default ${DEFAULTS.timeout})
  --ringest-args STR  extra flags for 'ringest serve', e.g. "--ack committed"
  --vm-bin PATH       VictoriaMetrics binary (default ${DEFAULTS.vmBin}; apt-get install -y victoria-metrics)
  --help`

export class UsageError extends Error {}

function positive (flag: string, raw: string | undefined, fallback: number, integer: boolean, allowZero = false): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  const ok = Number.isFinite(n) && (allowZero ? n >= 0 : n > 0) && (!integer || Number.isInteger(n))
  if (!ok) throw new UsageError(`--${flag} ${raw}: expected a ${integer ? 'whole ' : ''}number ${allowZero ? '>= 0' : '> 0'}`)
  return n
}

export function parseOptions (argv: string[]): Options | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      targets: { type: 'string' },
      sizes: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      rounds: { type: 'string' },
      port: { type: 'string' },
      json: { type: 'string' },
      hosts: { type: 'string' },
      lines: { type: 'string' },
      timeout: { type: 'string' },
      'ringest-args': { type: 'string' },
      'vm-bin': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return 'help'
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}: every setting is a --flag`)
  const d = DEFAULTS
  const targets = values.targets === undefined ? d.targets : values.targets.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const t of targets) {
    if (!(TARGETS as readonly string[]).includes(t)) throw new UsageError(`--targets: unknown target ${t} (known: ${TARGETS.join(', ')})`)
  }
  if (targets.length === 0 || new Set(targets).size !== targets.length) throw new UsageError('--targets: name each target once, e.g. baseline,ringest,vm')
  const sizes = values.sizes === undefined ? d.sizes : values.sizes.split(',').map((s) => positive('sizes', s.trim(), 0, true))
  const o: Options = {
    targets: targets as TargetName[],
    sizes,
    duration: positive('duration', values.duration, d.duration, false),
    warmup: positive('warmup', values.warmup, d.warmup, false, true),
    connections: positive('connections', values.connections, d.connections, true),
    rounds: positive('rounds', values.rounds, d.rounds, true),
    port: positive('port', values.port, d.port, true, true),
    json: values.json ?? null,
    hosts: positive('hosts', values.hosts, d.hosts, true),
    lines: positive('lines', values.lines, d.lines, true),
    timeout: positive('timeout', values.timeout, d.timeout, false),
    ringestArgs: (values['ringest-args'] ?? '').split(/\s+/).filter((s) => s !== ''),
    vmBin: values['vm-bin'] ?? d.vmBin,
  }
  if (o.port > 65535) throw new UsageError(`--port ${o.port}: expected 0..65535`)
  if (o.duration > 3600 || o.warmup > 600) throw new UsageError('--duration is capped at 3600 s and --warmup at 600 s to keep a run bounded')
  for (const s of o.sizes) if (s > o.lines) throw new UsageError(`--sizes ${s} is more than --lines ${o.lines}: raise --lines`)
  return Object.freeze(o)
}
