/**
 * ringest's options, typed once: the table below is the only place an option
 * is declared. The Config type, the flag parser, the environment and config
 * file readers, the validation messages and `ringest serve --help` are all
 * derived from it.
 *
 * Precedence: flags, then RINGEST_* environment variables, then the JSON
 * config file (--config / RINGEST_CONFIG, keys are the camelCase names), then
 * the defaults. An empty environment variable counts as unset (compose files
 * and unit files often set `RINGEST_X=` to mean "default").
 *
 * Names are mechanical: option fooBarMs is the flag --foo-bar-ms, the
 * variable RINGEST_FOO_BAR_MS and the file key "fooBarMs". The name's suffix is
 * the unit of a bare number (Bytes, Ms, Seconds).
 *
 * Value syntax:
 * - bytes: an integer number of bytes, or a number with a unit: KiB, MiB,
 *   GiB, TiB (powers of 1024) or kB, MB, GB, TB (powers of 1000), as
 *   VictoriaMetrics reads them. A bare k, M or G is refused: it is ambiguous.
 * - durations: integer milliseconds, or a number with a unit: ms, s, m, h.
 * - paths: relative to the working directory for flags and environment
 *   variables, relative to the config file's directory inside the file (as
 *   Prometheus does); stored absolute, so the log says where the data is.
 * - listen: HOST:PORT, [IPv6]:PORT, or PORT alone for 127.0.0.1:PORT. `:PORT`
 *   is refused rather than guessed (Go reads it as "all interfaces").
 *
 * The result of loadConfig is frozen and plain (strings, numbers, undefined),
 * so it crosses to worker threads through workerData unchanged.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { rotationInterval } from './log-rotation.js'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB
const TiB = 1024 * GiB
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

export type OptionType = 'path' | 'integer' | 'bytes' | 'duration-ms' | 'enum' | 'host:port'

interface OptionSpec {
  readonly flag: `--${string}`
  readonly env: `RINGEST_${string}`
  readonly type: OptionType
  readonly default: string | number | undefined
  /** How --help shows a default that is computed or absent. */
  readonly defaultDoc?: string
  readonly values?: readonly string[]
  readonly min?: number
  readonly max?: number
  readonly powerOfTwo?: boolean
  readonly doc: string
}

const DEFAULT_PARSE_WORKERS = Math.max(1, availableParallelism())

export const OPTIONS = {
  config: {
    flag: '--config', env: 'RINGEST_CONFIG', type: 'path',
    default: undefined, defaultDoc: 'none',
    doc: 'JSON file of options, keys are the camelCase names (e.g. {"maxBodyBytes": "64MiB"}). Flags and RINGEST_* variables override it.',
  },
  listen: {
    flag: '--listen', env: 'RINGEST_LISTEN', type: 'host:port',
    default: '127.0.0.1:7070',
    doc: 'Address to listen on: HOST:PORT, [IPv6]:PORT, or PORT alone (= 127.0.0.1:PORT). 0.0.0.0:PORT listens on all interfaces; port 0 picks a free port.',
  },
  dataDir: {
    flag: '--data-dir', env: 'RINGEST_DATA_DIR', type: 'path',
    default: './data',
    doc: 'Directory of the LMDB store; created if missing.',
  },
  ack: {
    flag: '--ack', env: 'RINGEST_ACK', type: 'enum', values: ['durable', 'committed', 'received'],
    default: 'durable',
    doc: 'When a write is answered. durable: after the fsync\'d commit that holds it (nothing acknowledged is ever lost). committed: after the commit, without fsync (an OS crash or power loss can lose the last acknowledged writes). received: once in a ring (a crash of the process can lose them too).',
  },
  parseWorkers: {
    flag: '--parse-workers', env: 'RINGEST_PARSE_WORKERS', type: 'integer', min: 1, max: 256,
    default: DEFAULT_PARSE_WORKERS, // threads; os.availableParallelism()
    defaultDoc: `number of CPUs (${DEFAULT_PARSE_WORKERS} here)`,
    doc: 'Parse worker threads; each owns one ring.',
  },
  ringBytes: {
    flag: '--ring-bytes', env: 'RINGEST_RING_BYTES', type: 'bytes', min: 64 * KiB, max: 1 * GiB, powerOfTwo: true,
    default: 16 * 1024 * 1024, // 16 MiB per parse worker
    doc: 'Size of each parse worker\'s ring (a power of two). Shared memory used: parse workers x this.',
  },
  maxBodyBytes: {
    flag: '--max-body-bytes', env: 'RINGEST_MAX_BODY_BYTES', type: 'bytes', min: 1 * KiB, max: 1 * GiB,
    default: 32 * 1024 * 1024, // 32 MiB, after decompression
    doc: 'Largest request body, counted after decompression; a larger one gets 413.',
  },
  maxInflightBytes: {
    flag: '--max-inflight-bytes', env: 'RINGEST_MAX_INFLIGHT_BYTES', type: 'bytes', min: 64 * KiB, max: 64 * GiB,
    default: 256 * 1024 * 1024, // 256 MiB
    doc: 'Request bytes admitted and not yet answered; a request beyond it gets 503 with Retry-After. Bounds memory; at least --max-body-bytes.',
  },
  maxQueue: {
    flag: '--max-queue', env: 'RINGEST_MAX_QUEUE', type: 'integer', min: 1, max: 1_000_000,
    default: 1024, // parse tasks (each a batch of up to 256 bodies)
    doc: 'Parse tasks waiting for a free worker; beyond it a request gets 503. Memory is bounded by --max-inflight-bytes; this bounds the wait.',
  },
  admissionWaitMs: {
    flag: '--admission-wait-ms', env: 'RINGEST_ADMISSION_WAIT_MS', type: 'duration-ms', min: 0, max: 1 * MINUTE,
    default: 200, // 200 ms
    doc: 'How long a request may wait for ring space before it gets 503.',
  },
  readyOverloadPercent: {
    flag: '--ready-overload-percent', env: 'RINGEST_READY_OVERLOAD_PERCENT', type: 'integer', min: 0, max: 100,
    default: 90, // percent
    doc: 'GET /readyz answers 503 while any ring is fuller than this share of its capacity, or the bytes in flight or the parse queue are past this share of their limits (so a load balancer moves traffic before writes get 503s). 0 leaves overload out of readiness.',
  },
  retryAfterSeconds: {
    flag: '--retry-after-seconds', env: 'RINGEST_RETRY_AFTER_SECONDS', type: 'integer', min: 1, max: 3600,
    default: 1, // 1 s
    doc: 'Retry-After value, in seconds, sent with every 503.',
  },
  flushMaxSamples: {
    flag: '--flush-max-samples', env: 'RINGEST_FLUSH_MAX_SAMPLES', type: 'integer', min: 1, max: 16 * 1024 * 1024,
    default: 65536, // samples
    doc: 'The flush worker commits once this many samples are pending.',
  },
  flushDelayMs: {
    flag: '--flush-delay-ms', env: 'RINGEST_FLUSH_DELAY_MS', type: 'duration-ms', min: 0, max: 10 * SECOND,
    default: 0, // 0 ms: commit as soon as the previous commit is done
    doc: 'How long the flush worker may hold pending samples to gather a bigger commit. 0 = commit as soon as the previous commit is done (group commit still happens: what arrives during a commit goes into the next one); measured best for closed-loop clients.',
  },
  checkpointSamples: {
    flag: '--checkpoint-samples', env: 'RINGEST_CHECKPOINT_SAMPLES', type: 'integer', min: 1024, max: 1024 * 1024 * 1024,
    default: 32 * 1024 * 1024, // samples: about 640 MiB of WAL on disk
    doc: 'The flush worker moves the WAL into compressed chunks once it holds this many samples (20 bytes each on disk), also after --checkpoint-idle-ms without samples, every 15 min, and at stop if the WAL holds at most 4 Mi samples (a bigger one waits for the next start). While a checkpoint runs, the WAL may grow to 3 times this; past that ingest is held back (503s, checkpointStallMs). Bigger: longer chunks (smaller on disk), a bigger WAL.',
  },
  checkpointIdleMs: {
    flag: '--checkpoint-idle-ms', env: 'RINGEST_CHECKPOINT_IDLE_MS', type: 'duration-ms', min: 1, max: 1 * HOUR,
    default: 10_000, // 10 s
    doc: 'A WAL that received no sample for this long is checkpointed into chunks.',
  },
  retention: {
    flag: '--retention', env: 'RINGEST_RETENTION', type: 'duration-ms', min: 0, max: 100 * 365 * DAY,
    default: 30 * DAY, // 30 d
    doc: 'Samples older than this are deleted, a whole 2-hour block at a time (checked every minute). 0 keeps everything. A bare number is milliseconds; write 30d, 12h, 90m.',
  },
  rollup5mRetention: {
    flag: '--rollup-5m-retention', env: 'RINGEST_ROLLUP_5M_RETENTION', type: 'duration-ms', min: 0, max: 100 * 365 * DAY,
    default: 0, // off
    doc: 'Keep 5-minute rollups (count, sum, min, max, last of each series per 5 min) this long; 0 = none. They are computed once a 2-hour block is complete and serve queries whose step is 25 min or more, or that reach past --retention. Costs about 18 bytes per series per 5 min on disk (bench:rollups).',
  },
  rollup1hRetention: {
    flag: '--rollup-1h-retention', env: 'RINGEST_ROLLUP_1H_RETENTION', type: 'duration-ms', min: 0, max: 100 * 365 * DAY,
    default: 0, // off
    doc: 'Keep 1-hour rollups this long; 0 = none. Computed from the 5-minute ones a day at a time, so it needs --rollup-5m-retention of 2d or more; serve queries whose step is 5 h or more.',
  },
  oooWindowMs: {
    flag: '--ooo-window-ms', env: 'RINGEST_OOO_WINDOW_MS', type: 'duration-ms', min: 0, max: 100 * 365 * DAY,
    default: 1 * HOUR, // 1 h
    doc: 'Out-of-order samples are stored if they are at most this far behind their series\' newest sample; older ones are refused in the write\'s answer (ERR_TOO_OLD) and counted (ringest_samples_dropped_total{reason="too_old"}).',
  },
  shutdownTimeoutMs: {
    flag: '--shutdown-timeout-ms', env: 'RINGEST_SHUTDOWN_TIMEOUT_MS', type: 'duration-ms', min: 1, max: 1 * HOUR,
    default: 10_000, // 10 s
    doc: 'On SIGTERM/SIGINT: time to finish in-flight requests, commit and close; past it ringest exits with status 1 (acknowledged samples are safe either way).',
  },
  mapSizeBytes: {
    flag: '--map-size-bytes', env: 'RINGEST_MAP_SIZE_BYTES', type: 'bytes', min: 16 * MiB, max: 64 * TiB,
    default: 64 * 1024 * 1024 * 1024, // 64 GiB of address space; the file is sparse
    doc: 'LMDB map size: the largest the store may grow to. Reserves address space, not disk.',
  },
  storePageBytes: {
    flag: '--store-page-bytes', env: 'RINGEST_STORE_PAGE_BYTES', type: 'bytes', min: 4 * KiB, max: 64 * KiB, powerOfTwo: true,
    default: 16 * 1024, // 16 KiB
    doc: 'LMDB page size of a new store (an existing store keeps its own). Chunks are a few hundred bytes: 16KiB pages leave less of each page empty than 4KiB ones (10-15 % fewer bytes a sample, measured in the README) and read as fast.',
  },
  requestTimeoutMs: {
    flag: '--request-timeout-ms', env: 'RINGEST_REQUEST_TIMEOUT_MS', type: 'duration-ms', min: 1, max: 1 * HOUR,
    default: 30_000, // 30 s
    doc: 'A whole request (headers and body) must arrive within this, else 408 (slowloris protection).',
  },
  headersTimeoutMs: {
    flag: '--headers-timeout-ms', env: 'RINGEST_HEADERS_TIMEOUT_MS', type: 'duration-ms', min: 1, max: 1 * HOUR,
    default: 10_000, // 10 s
    doc: 'A request\'s headers must arrive within this, counted from its first byte (idle keep-alive time does not count in Node 20, so it need not exceed --keep-alive-timeout-ms). At most --request-timeout-ms.',
  },
  keepAliveTimeoutMs: {
    flag: '--keep-alive-timeout-ms', env: 'RINGEST_KEEP_ALIVE_TIMEOUT_MS', type: 'duration-ms', min: 1, max: 1 * HOUR,
    default: 65_000, // 65 s
    doc: 'An idle keep-alive connection is closed after this. Keep it above the idle timeout of any load balancer in front (AWS ALB: 60 s), or it closes connections the balancer is about to reuse.',
  },
  queryWorkers: {
    flag: '--query-workers', env: 'RINGEST_QUERY_WORKERS', type: 'integer', min: 1, max: 64,
    default: 2, // threads
    doc: 'Query worker threads (PromQL, series and label lookups, export); queries never run on the main thread. While ingest is idle, a range query of the shape sum, count, min or max by (...) (f(metric[range])) is split over all of them (at most one per core).',
  },
  queryCpuPercent: {
    flag: '--query-cpu-percent', env: 'RINGEST_QUERY_CPU_PERCENT', type: 'integer', min: 1, max: 100,
    default: 10, // percent of a core
    doc: 'While ingest is committing, a query worker runs at most this share of a core (it runs, then sleeps, in 30 ms cycles); an idle server runs queries at full speed. 100 turns pacing off. Lower protects ingest, higher answers queries sooner under load.',
  },
  queryTimeoutMs: {
    flag: '--query-timeout-ms', env: 'RINGEST_QUERY_TIMEOUT_MS', type: 'duration-ms', min: 1, max: 1 * HOUR,
    default: 30_000, // 30 s
    doc: 'A query running longer is cancelled: 503 with errorType timeout (ERR_QUERY_TIMEOUT).',
  },
  queryMaxSeries: {
    flag: '--query-max-series', env: 'RINGEST_QUERY_MAX_SERIES', type: 'integer', min: 1, max: 1e9,
    default: 1_000_000, // series
    doc: 'Series one query may select at most; beyond: 422 with errorType execution (ERR_QUERY_LIMIT).',
  },
  queryMaxSamples: {
    flag: '--query-max-samples', env: 'RINGEST_QUERY_MAX_SAMPLES', type: 'integer', min: 1, max: 1e12,
    default: 50_000_000, // samples, as Prometheus's --query.max-samples
    doc: 'Samples one query (or export) may load at most; beyond: 422 (ERR_QUERY_LIMIT, ERR_EXPORT_TOO_LARGE for exports). Bounds a query\'s memory.',
  },
  queryMaxQueue: {
    flag: '--query-max-queue', env: 'RINGEST_QUERY_MAX_QUEUE', type: 'integer', min: 1, max: 1e6,
    default: 64, // queries
    doc: 'Queries waiting for a query worker at most; beyond: 503 with Retry-After (ERR_QUERY_OVERLOADED).',
  },
  logLevel: {
    flag: '--log-level', env: 'RINGEST_LOG_LEVEL', type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    doc: 'Least severe log level written.',
  },
  logFile: {
    flag: '--log-file', env: 'RINGEST_LOG_FILE', type: 'path',
    default: undefined, defaultDoc: 'stdout',
    doc: 'File the JSON log lines are appended to (created with its directory), rotated and compressed as the next three options say. Without it, lines go to stdout.',
  },
  logFileMaxBytes: {
    flag: '--log-file-max-bytes', env: 'RINGEST_LOG_FILE_MAX_BYTES', type: 'bytes', min: 0, max: 1 * TiB,
    default: 100 * 1024 * 1024, // 100 MiB
    doc: 'With --log-file: the file is rotated once it reaches this size (renamed <file>-<UTC time>.gz and gzip-compressed by the log thread). 0 = never by size.',
  },
  logFileInterval: {
    flag: '--log-file-interval', env: 'RINGEST_LOG_FILE_INTERVAL', type: 'duration-ms', min: 0, max: 366 * DAY,
    default: 1 * DAY, // 1 d: every midnight UTC
    doc: 'With --log-file: the file is also rotated on UTC clock boundaries of this period (1d: every midnight; 6h: at 00, 06, 12 and 18 h). Seconds and minutes must divide 60, hours 24; days may be any number. 0 = by size only.',
  },
  logFileKeep: {
    flag: '--log-file-keep', env: 'RINGEST_LOG_FILE_KEEP', type: 'integer', min: 1, max: 10_000,
    default: 10, // rotated files
    doc: 'With --log-file: rotated (compressed) files kept; at each rotation the oldest beyond this are deleted. They are listed in <file>.history.',
  },
  logRejectionsPerSecond: {
    flag: '--log-rejections-per-second', env: 'RINGEST_LOG_REJECTIONS_PER_SECOND', type: 'integer', min: 0, max: 1_000_000,
    default: 10, // lines a second for each error code and reason
    doc: 'Rejected write requests (4xx and 5xx) are logged one line each, at most this many a second for each error code and reason; the rest are counted in the `suppressed` field of the next line or of a summary line. 0 = no rejection lines (/stats still counts them).',
  },
} as const satisfies Record<string, OptionSpec>

type Options = typeof OPTIONS
export type OptionName = keyof Options

type ValueOf<S> =
  S extends { readonly type: 'enum', readonly values: readonly (infer V)[] } ? V
    : S extends { readonly type: 'integer' | 'bytes' | 'duration-ms' } ? number
      : string

/** The validated options: bytes in bytes, durations in milliseconds, paths absolute. */
export type Config = {
  readonly [K in OptionName]: Options[K] extends { readonly default: undefined } ? ValueOf<Options[K]> | undefined : ValueOf<Options[K]>
}

export type ConfigSource = 'flag' | 'env' | 'file'

/** Thrown by loadConfig; `option` and `source` say which value was wrong and where it came from. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG'
  readonly option: string | undefined
  readonly source: ConfigSource | undefined
  constructor (message: string, option?: string, source?: ConfigSource) {
    super(message)
    this.name = 'ConfigError'
    this.option = option
    this.source = source
  }
}

const SPECS = Object.entries(OPTIONS) as ReadonlyArray<[OptionName, OptionSpec]>

interface Origin { kind: ConfigSource, text: string, baseDir: string }

/** Where each loaded config's values came from (only the ones not defaulted), kept off the plain object. */
const provenance = new WeakMap<Config, { sources: Partial<Record<OptionName, ConfigSource>>, ignoredEnv: string[] }>()

/**
 * Reads flags (argv: the arguments after `serve`), the environment and the
 * config file; validates every value; returns a frozen plain Config.
 * Throws ConfigError naming the option, the source and the fix.
 */
export function loadConfig (argv: string[], env: NodeJS.ProcessEnv): Config {
  const cwd = process.cwd()
  const flags = readFlags(argv)
  const values: Record<string, string | number | undefined> = { config: undefined }
  const sources: Partial<Record<OptionName, ConfigSource>> = {}

  const take = (name: OptionName, spec: OptionSpec, raw: unknown, origin: Origin): void => {
    values[name] = parseValue(name, spec, raw, origin)
    sources[name] = origin.kind
  }

  // Which file: the flag, else the environment (a file cannot name another file).
  const configFlag = flags.config
  const configEnv = env[OPTIONS.config.env]
  if (configFlag !== undefined) take('config', OPTIONS.config, configFlag, { kind: 'flag', text: `flag ${OPTIONS.config.flag}`, baseDir: cwd })
  else if (configEnv !== undefined && configEnv !== '') take('config', OPTIONS.config, configEnv, { kind: 'env', text: `environment variable ${OPTIONS.config.env}`, baseDir: cwd })
  const file = values.config === undefined ? {} : readConfigFile(values.config as string, sources.config ?? 'flag')

  for (const [name, spec] of SPECS) {
    if (name === 'config') continue
    const flagValue = flags[name]
    const envValue = env[spec.env]
    if (flagValue !== undefined) {
      take(name, spec, flagValue, { kind: 'flag', text: `flag ${spec.flag}`, baseDir: cwd })
    } else if (envValue !== undefined && envValue !== '') {
      take(name, spec, envValue, { kind: 'env', text: `environment variable ${spec.env}`, baseDir: cwd })
    } else if (Object.hasOwn(file, name)) {
      const path = values.config as string
      take(name, spec, file[name], { kind: 'file', text: `config file ${path} (key "${name}")`, baseDir: dirname(path) })
    } else {
      values[name] = spec.type === 'path' && typeof spec.default === 'string' ? resolve(cwd, spec.default) : spec.default
    }
  }

  const config = Object.freeze(values) as unknown as Config
  checkRelations(config, sources)
  const known = new Set(SPECS.map(([, spec]) => spec.env as string))
  const ignoredEnv = Object.keys(env).filter((k) => k.startsWith('RINGEST_') && !known.has(k)).sort()
  provenance.set(config, { sources, ignoredEnv })
  return config
}

/** Options that are valid alone but not together. */
function checkRelations (config: Config, sources: Partial<Record<OptionName, ConfigSource>>): void {
  const from = (name: OptionName): string => {
    const kind = sources[name]
    if (kind === 'flag') return `flag ${OPTIONS[name].flag}`
    if (kind === 'env') return `environment variable ${OPTIONS[name].env}`
    if (kind === 'file') return `config file ${config.config ?? ''}`
    return 'default'
  }
  const blame = (a: OptionName, b: OptionName): OptionName => (sources[a] !== undefined ? a : b)
  if (config.logFileInterval > 0 && rotationInterval(config.logFileInterval) === undefined) {
    throw new ConfigError(
      `logFileInterval (${formatDuration(config.logFileInterval)}, from ${from('logFileInterval')}) is not a period the log file can be rotated on: ` +
      'rotation follows the UTC clock, so seconds and minutes must divide 60 and hours 24 (days may be any number). ' +
      `Fix: give ${OPTIONS.logFileInterval.flag} e.g. 1d, 12h, 1h, 15m, or 0 to rotate by size only.`,
      'logFileInterval', sources.logFileInterval)
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    const option = blame('headersTimeoutMs', 'requestTimeoutMs')
    throw new ConfigError(
      `headersTimeoutMs (${formatDuration(config.headersTimeoutMs)}, from ${from('headersTimeoutMs')}) is longer than requestTimeoutMs ` +
      `(${formatDuration(config.requestTimeoutMs)}, from ${from('requestTimeoutMs')}); Node.js requires headers timeout <= request timeout. ` +
      `Fix: lower ${OPTIONS.headersTimeoutMs.flag} or raise ${OPTIONS.requestTimeoutMs.flag}.`,
      option, sources[option])
  }
  if (config.rollup1hRetention > 0 && config.rollup5mRetention < 2 * DAY) {
    const option = blame('rollup1hRetention', 'rollup5mRetention')
    throw new ConfigError(
      `rollup1hRetention (${formatDuration(config.rollup1hRetention)}, from ${from('rollup1hRetention')}) needs rollup5mRetention of at least 2d ` +
      `(it is ${formatDuration(config.rollup5mRetention)}, from ${from('rollup5mRetention')}): 1-hour rollups are computed from the 5-minute ones of a whole day. ` +
      `Fix: set ${OPTIONS.rollup5mRetention.flag} 2d or more, or ${OPTIONS.rollup1hRetention.flag} 0.`,
      option, sources[option])
  }
  if (config.maxInflightBytes < config.maxBodyBytes) {
    const option = blame('maxInflightBytes', 'maxBodyBytes')
    throw new ConfigError(
      `maxInflightBytes (${formatBytes(config.maxInflightBytes)}, from ${from('maxInflightBytes')}) is smaller than maxBodyBytes ` +
      `(${formatBytes(config.maxBodyBytes)}, from ${from('maxBodyBytes')}); a body of the largest allowed size would get 503 forever and its client would retry forever. ` +
      `Fix: raise ${OPTIONS.maxInflightBytes.flag} or lower ${OPTIONS.maxBodyBytes.flag}.`,
      option, sources[option])
  }
}

function readFlags (argv: string[]): Partial<Record<OptionName, string>> {
  const options: Record<string, { type: 'string' }> = {}
  for (const [, spec] of SPECS) options[spec.flag.slice(2)] = { type: 'string' }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false })
  } catch (err) {
    throw flagError(err as Error & { code?: string })
  }
  const out: Partial<Record<OptionName, string>> = {}
  for (const [name, spec] of SPECS) {
    const v = parsed.values[spec.flag.slice(2)]
    if (typeof v === 'string') out[name] = v
  }
  return out
}

/** Turns node:util parseArgs errors into ConfigErrors that name the flag and suggest the right one. */
function flagError (err: Error & { code?: string }): ConfigError {
  const quoted = /'([^']*)'/.exec(err.message)?.[1] ?? ''
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = quoted.split('=')[0] ?? quoted
      const near = closest(flag.replace(/^-+/, ''), SPECS.map(([, s]) => s.flag.slice(2)))
      return new ConfigError(`unknown flag ${flag}${near === undefined ? '' : ` (did you mean --${near}?)`}. Fix: use a flag listed by 'ringest serve --help'.`, undefined, 'flag')
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = quoted.split(' ')[0] ?? quoted
      const name = SPECS.find(([, s]) => s.flag === flag)?.[0]
      return new ConfigError(`flag ${flag} has no value. Fix: write ${flag} VALUE or ${flag}=VALUE (use the = form for a value starting with "-").`, name, 'flag')
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new ConfigError(`unexpected argument "${quoted}": options are given as --name value. Fix: use a flag listed by 'ringest serve --help'.`, undefined, 'flag')
    default:
      return new ConfigError(`cannot read the flags: ${err.message}`, undefined, 'flag')
  }
}

function readConfigFile (path: string, source: ConfigSource): Record<string, unknown> {
  const via = source === 'flag' ? `flag ${OPTIONS.config.flag}` : `environment variable ${OPTIONS.config.env}`
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new ConfigError(`config: cannot read the config file ${path} (from ${via}): ${e.code ?? e.message}. Fix: give the path of a readable JSON file, or drop ${OPTIONS.config.flag}.`, 'config', source)
  }
  let data: unknown
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''))
  } catch (err) {
    throw new ConfigError(`config: the config file ${path} (from ${via}) is not valid JSON: ${(err as Error).message}. Fix: write one JSON object whose keys are option names, e.g. {"listen": "0.0.0.0:7070"}.`, 'config', source)
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config: the config file ${path} (from ${via}) must hold one JSON object whose keys are option names, e.g. {"listen": "0.0.0.0:7070"}.`, 'config', source)
  }
  const obj = data as Record<string, unknown>
  for (const key of Object.keys(obj)) {
    if (key === 'config') {
      throw new ConfigError(`config: the config file ${path} names another config file (key "config"); files do not nest. Fix: remove the key.`, 'config', 'file')
    }
    if (!Object.hasOwn(OPTIONS, key)) {
      const near = closest(key, SPECS.map(([name]) => name as string).filter((n) => n !== 'config'))
      throw new ConfigError(`config: unknown key "${key}" in the config file ${path}${near === undefined ? '' : ` (did you mean "${near}"?)`}. Fix: keys are the camelCase option names listed by 'ringest serve --help'.`, undefined, 'file')
    }
  }
  return obj
}

function parseValue (name: OptionName, spec: OptionSpec, raw: unknown, origin: Origin): string | number {
  const fail = (problem: string, fix: string): never => {
    throw new ConfigError(`${name}: ${JSON.stringify(raw)} from ${origin.text} ${problem}. Fix: ${fix}.`, name, origin.kind)
  }
  const textOnly = spec.type === 'path' || spec.type === 'enum'
  if (typeof raw !== 'string' && !(typeof raw === 'number' && !textOnly)) {
    fail(`is not ${textOnly ? 'a string' : 'a number or a string'}`, `give a value like ${JSON.stringify(example(spec))}`)
  }
  // A JSON number for listen is a port, as the bare PORT form of the flag.
  const text = typeof raw === 'string' ? raw.trim() : spec.type === 'host:port' ? String(raw) : ''
  switch (spec.type) {
    case 'path':
      if (text === '') fail('is empty', `give a path, e.g. ${example(spec)}`)
      return resolve(origin.baseDir, text)
    case 'enum': {
      const values = spec.values ?? []
      const v = text.toLowerCase()
      if (!values.includes(v)) fail('is not one of the accepted values', `use one of ${values.join(', ')}`)
      return v
    }
    case 'host:port':
      return parseListen(text, fail)
    case 'integer': {
      let n = typeof raw === 'number' ? raw : NaN
      if (typeof raw === 'string' && /^\+?\d+$/.test(text)) n = Number(text)
      if (!Number.isSafeInteger(n)) fail('is not a whole number', `give an integer, e.g. ${example(spec)}`)
      return inRange(n, spec, String, fail)
    }
    case 'bytes': {
      const n = typeof raw === 'number' ? raw : parseBytes(text)
      if (n === 'ambiguous') fail('has an ambiguous unit', 'write KiB/MiB/GiB (powers of 1024) or kB/MB/GB (powers of 1000), e.g. 16MiB')
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) fail('is not a size', `give bytes as an integer or with a unit (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB), e.g. ${example(spec)}`)
      const bytes = inRange(n as number, spec, formatBytes, fail)
      if (spec.powerOfTwo === true && (bytes & (bytes - 1)) !== 0) {
        fail('is not a power of two', `use a power of two between ${formatBytes(spec.min ?? 1)} and ${formatBytes(spec.max ?? Number.MAX_SAFE_INTEGER)}, e.g. ${example(spec)}`)
      }
      return bytes
    }
    case 'duration-ms': {
      const n = typeof raw === 'number' ? raw : parseDuration(text)
      if (n === undefined || !Number.isSafeInteger(n)) fail('is not a duration', `give milliseconds as an integer or with a unit (ms, s, m, h), e.g. ${example(spec)}`)
      return inRange(n as number, spec, formatDuration, fail)
    }
  }
}

function inRange (n: number, spec: OptionSpec, show: (n: number) => string, fail: (problem: string, fix: string) => never): number {
  const min = spec.min ?? 0
  const max = spec.max ?? Number.MAX_SAFE_INTEGER
  if (n < min || n > max) fail(`is out of range (${show(n)})`, `give a value between ${show(min)} and ${show(max)}, e.g. ${example(spec)}`)
  return n
}

const BYTE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  kib: KiB, mib: MiB, gib: GiB, tib: TiB,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
}

/** Bytes from "123", "16MiB", "1.5 GiB", "10MB"; undefined if malformed, 'ambiguous' for a bare k/M/G/T. */
export function parseBytes (text: string): number | undefined | 'ambiguous' {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text)
  if (m === null) return undefined
  const unit = (m[2] ?? '').toLowerCase()
  if (/^[kmgt]$/.test(unit)) return 'ambiguous'
  const mult = BYTE_UNITS[unit]
  return mult === undefined ? undefined : wholeOrUndefined(Number(m[1]) * mult)
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY }

/** Milliseconds from "200", "200ms", "1.5s", "2m", "1h"; undefined if malformed. */
export function parseDuration (text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text)
  if (m === null) return undefined
  const mult = DURATION_UNITS[(m[2] ?? '').toLowerCase()]
  return mult === undefined ? undefined : wholeOrUndefined(Number(m[1]) * mult)
}

/** 1.1 * 1000 is 1100.0000000000002 in floating point: round what is whole up to that noise, refuse true fractions. */
function wholeOrUndefined (x: number): number | undefined {
  const r = Math.round(x)
  return Math.abs(x - r) < 1e-6 ? r : undefined
}

function parseListen (text: string, fail: (problem: string, fix: string) => never): string {
  const fix = 'write HOST:PORT (e.g. 127.0.0.1:7070, 0.0.0.0:7070 for all interfaces), [IPv6]:PORT (e.g. [::1]:7070) or PORT alone'
  if (/^\d+$/.test(text)) return `127.0.0.1:${port(text, fail)}`
  const v6 = /^\[([^\]]*)\]:(\d+)$/.exec(text)
  if (v6 !== null) {
    const host = v6[1] ?? ''
    if (isIP(host) !== 6) fail('has no valid IPv6 address in brackets', fix)
    return `[${host}]:${port(v6[2] ?? '', fail)}`
  }
  const m = /^([^:[\]]*):(\d+)$/.exec(text)
  if (m === null) {
    if ((text.match(/:/g) ?? []).length > 1) fail('looks like an IPv6 address without brackets', 'write it in brackets, e.g. [::1]:7070')
    fail('is not HOST:PORT', fix)
  }
  const host = m?.[1] ?? ''
  if (host === '') fail('has no host', 'write 127.0.0.1:PORT (this machine only) or 0.0.0.0:PORT (all interfaces)')
  const numeric = /^[\d.]+$/.test(host)
  const hostname = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)
  if (numeric ? isIP(host) !== 4 : !hostname) fail('has an invalid host', fix)
  return `${host}:${port(m?.[2] ?? '', fail)}`
}

function port (text: string, fail: (problem: string, fix: string) => never): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail('has a port out of range', 'give a port between 0 and 65535 (0 picks a free port)')
  return n
}

export function formatBytes (n: number): string {
  for (const [unit, size] of [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`
  }
  return `${n}`
}

export function formatDuration (ms: number): string {
  for (const [unit, size] of [['h', HOUR], ['m', MINUTE], ['s', SECOND]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

function formatValue (spec: OptionSpec, value: string | number): string {
  if (typeof value === 'string') return value
  if (spec.type === 'bytes') return formatBytes(value)
  if (spec.type === 'duration-ms') return formatDuration(value)
  return String(value)
}

function example (spec: OptionSpec): string {
  if (spec.default !== undefined) return formatValue(spec, spec.default)
  return spec.type === 'path' ? './ringest.json' : '...'
}

/** The option the user probably meant: a prefix match, or the nearest within 40 % of the input's length in edits. */
function closest (input: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(2, Math.floor(input.length * 0.4)) + 1
  for (const c of candidates) {
    const d = c.startsWith(input) || input.startsWith(c) || c.endsWith(input) ? 1 : distance(input.toLowerCase(), c.toLowerCase())
    if (d < bestDistance) { best = c; bestDistance = d }
  }
  return best
}

function distance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length] ?? 0
}

const TYPE_HINT: Record<OptionType, string> = {
  'path': '<path>',
  'integer': '<n>',
  'bytes': '<size>',
  'duration-ms': '<duration>',
  'enum': '',
  'host:port': '<host:port>',
}

/** The option table of `ringest serve --help`: flag, environment variable, default, then the description. */
export function describeOptions (): string {
  const rows = SPECS.map(([, spec]) => {
    const choices = (spec.values ?? []).join('|')
    const hint = spec.type !== 'enum' ? TYPE_HINT[spec.type] : choices.length <= 30 ? `<${choices}>` : '<value>'
    const shown = spec.defaultDoc ?? (spec.default === undefined ? 'none' : formatValue(spec, spec.default))
    let doc = spec.doc
    if (hint === '<value>') doc += ` One of: ${(spec.values ?? []).join(', ')}.`
    if (spec.min !== undefined && spec.max !== undefined && spec.type !== 'enum') {
      const show = (n: number): string => formatValue(spec, n)
      doc += ` Range ${show(spec.min)} to ${show(spec.max)}${spec.powerOfTwo === true ? ', a power of two' : ''}.`
    }
    return { option: `${spec.flag} ${hint}`, env: spec.env, shown: `default: ${shown}`, doc }
  })
  const w1 = Math.max(...rows.map((r) => r.option.length))
  const w2 = Math.max(...rows.map((r) => r.env.length))
  const lines = ['Options (flag, environment variable, default; a flag beats the variable, which beats the config file):', '']
  for (const r of rows) {
    lines.push(`  ${r.option.padEnd(w1)}  ${r.env.padEnd(w2)}  ${r.shown}`)
    for (const l of wrap(r.doc, 72)) lines.push(`      ${l}`)
  }
  lines.push('',
    'Sizes: bytes as an integer, or with a unit: KiB, MiB, GiB, TiB (powers of 1024) or kB, MB, GB, TB',
    '  (powers of 1000); e.g. --ring-bytes 16MiB. Durations: milliseconds as an integer, or with a unit:',
    '  ms, s, m, h; e.g. --shutdown-timeout-ms 30s. A bare number is in the unit the name ends with.',
    'Config file keys are the option names in camelCase (listen, dataDir, maxBodyBytes, ...); sizes and',
    '  durations may be numbers (bytes, milliseconds) or strings with units. Unknown keys are an error.',
    'An empty RINGEST_* variable counts as unset.')
  return lines.join('\n') + '\n'
}

function wrap (text: string, width: number): string[] {
  const out: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) { out.push(line); line = word } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') out.push(line)
  return out
}

/**
 * The effective configuration for the start log line: every value (unset
 * ones as null, so the key still shows), where each non-default value came
 * from, and RINGEST_* variables that name no option (typos show up here).
 */
export function effectiveConfigForLog (config: Config): { config: Record<string, string | number | null>, sources: Partial<Record<OptionName, ConfigSource>>, ignoredEnv?: string[] } {
  const values: Record<string, string | number | null> = {}
  for (const [name] of SPECS) values[name] = config[name] ?? null
  const known = provenance.get(config)
  const out: { config: Record<string, string | number | null>, sources: Partial<Record<OptionName, ConfigSource>>, ignoredEnv?: string[] } =
    { config: values, sources: { ...known?.sources } }
  if (known !== undefined && known.ignoredEnv.length > 0) out.ignoredEnv = [...known.ignoredEnv]
  return out
}
