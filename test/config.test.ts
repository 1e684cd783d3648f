import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  ConfigError, OPTIONS, describeOptions, effectiveConfigForLog, formatBytes, formatDuration, loadConfig, parseBytes, parseDuration,
  type Config, type OptionName,
} from '../dist/src/config.js'

const NAMES = Object.keys(OPTIONS) as OptionName[]
let dir: string

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'ringest-config-')) })
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

let fileCount = 0
function configFile (content: unknown, raw = false): string {
  const path = join(dir, `c${fileCount++}.json`)
  writeFileSync(path, raw ? String(content) : JSON.stringify(content))
  return path
}

/** Runs loadConfig and returns the ConfigError it throws (failing the test if it does not). */
function errorOf (argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(argv, env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error(`loadConfig(${JSON.stringify(argv)}, ${JSON.stringify(env)}) did not throw`)
}

// A word starts at a capital or at a run of digits after a letter (rollup5mRetention: --rollup-5m-retention).
const kebab = (name: string): string => name.replace(/[A-Z]|(?<=[a-z])(?=\d)/g, (c) => `-${c.toLowerCase()}`)
const snake = (name: string): string => name.replace(/[A-Z]|(?<=[a-z])(?=\d)/g, (c) => `_${c}`).toUpperCase()

describe('the option table', () => {
  it('derives every flag and environment variable from the option name', () => {
    for (const name of NAMES) {
      expect(OPTIONS[name].flag).toBe(`--${kebab(name)}`)
      expect(OPTIONS[name].env).toBe(`RINGEST_${snake(name)}`)
      expect(OPTIONS[name].doc.length).toBeGreaterThan(10)
    }
  })

  it('has the documented defaults', () => {
    const c = loadConfig([], {})
    expect(c).toEqual({
      config: undefined,
      listen: '127.0.0.1:7070',
      dataDir: resolve('./data'),
      ack: 'durable',
      parseWorkers: c.parseWorkers,
      ringBytes: 16 * 1024 * 1024,
      maxBodyBytes: 32 * 1024 * 1024,
      maxInflightBytes: 256 * 1024 * 1024,
      maxQueue: 1024,
      admissionWaitMs: 200,
      readyOverloadPercent: 90,
      retryAfterSeconds: 1,
      flushMaxSamples: 65536,
      flushDelayMs: 0,
      checkpointSamples: 32 * 1024 * 1024,
      checkpointIdleMs: 10_000,
      retention: 30 * 86_400_000,
      rollup5mRetention: 0,
      rollup1hRetention: 0,
      oooWindowMs: 3_600_000,
      shutdownTimeoutMs: 10_000,
      mapSizeBytes: 64 * 1024 ** 3,
      storePageBytes: 16384,
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 65_000,
      queryWorkers: 2,
      queryCpuPercent: 10,
      queryTimeoutMs: 30_000,
      queryMaxSeries: 1_000_000,
      queryMaxSamples: 50_000_000,
      queryMaxQueue: 64,
      logLevel: 'info',
      logFile: undefined,
      logFileMaxBytes: 100 * 1024 * 1024,
      logFileInterval: 86_400_000,
      logFileKeep: 10,
      logRejectionsPerSecond: 10,
    } satisfies Config)
    expect(Number.isInteger(c.parseWorkers) && c.parseWorkers >= 1).toBe(true)
    expect(Object.keys(c)).toEqual(NAMES)
  })
})

describe('precedence: flag, then environment, then config file, then default', () => {
  // Four values per option: flag, env, file, and what each must parse to.
  const cases: Array<{ name: OptionName, flag: string, env: string, file: string | number, parsed: [unknown, unknown, unknown] }> = [
    { name: 'listen', flag: '0.0.0.0:1', env: '0.0.0.0:2', file: '0.0.0.0:3', parsed: ['0.0.0.0:1', '0.0.0.0:2', '0.0.0.0:3'] },
    { name: 'ack', flag: 'received', env: 'committed', file: 'received', parsed: ['received', 'committed', 'received'] },
    { name: 'ringBytes', flag: '64KiB', env: '128KiB', file: 262144, parsed: [65536, 131072, 262144] },
    { name: 'maxBodyBytes', flag: '1MB', env: '2MiB', file: '3MiB', parsed: [1e6, 2 * 1024 * 1024, 3 * 1024 * 1024] },
    { name: 'flushDelayMs', flag: '1s', env: '7', file: 9, parsed: [1000, 7, 9] },
    { name: 'parseWorkers', flag: '3', env: '4', file: 5, parsed: [3, 4, 5] },
    { name: 'logLevel', flag: 'debug', env: 'warn', file: 'error', parsed: ['debug', 'warn', 'error'] },
  ]

  for (const c of cases) {
    it(`${c.name}`, () => {
      const file = configFile({ [c.name]: c.file })
      const flag = [OPTIONS[c.name].flag, c.flag]
      const env = { [OPTIONS[c.name].env]: c.env }
      const all = loadConfig([...flag, '--config', file], env)
      expect(all[c.name]).toEqual(c.parsed[0])
      expect(effectiveConfigForLog(all).sources[c.name]).toBe('flag')
      const noFlag = loadConfig(['--config', file], env)
      expect(noFlag[c.name]).toEqual(c.parsed[1])
      expect(effectiveConfigForLog(noFlag).sources[c.name]).toBe('env')
      const fileOnly = loadConfig(['--config', file], {})
      expect(fileOnly[c.name]).toEqual(c.parsed[2])
      expect(effectiveConfigForLog(fileOnly).sources[c.name]).toBe('file')
      const none = loadConfig([], {})
      expect(effectiveConfigForLog(none).sources[c.name]).toBeUndefined()
    })
  }

  it('mixes sources option by option', () => {
    const file = configFile({ listen: '0.0.0.0:3', ack: 'committed', flushDelayMs: '5ms' })
    const c = loadConfig(['--listen', '0.0.0.0:1', '--config', file], { RINGEST_LISTEN: '0.0.0.0:2', RINGEST_ACK: 'received' })
    expect([c.listen, c.ack, c.flushDelayMs, c.maxQueue]).toEqual(['0.0.0.0:1', 'received', 5, 1024])
    expect(effectiveConfigForLog(c).sources).toEqual({ config: 'flag', listen: 'flag', ack: 'env', flushDelayMs: 'file' })
  })

  it('takes the config file from RINGEST_CONFIG, and --config over it', () => {
    const a = configFile({ maxQueue: 7 })
    const b = configFile({ maxQueue: 8 })
    expect(loadConfig([], { RINGEST_CONFIG: a }).maxQueue).toBe(7)
    expect(loadConfig(['--config', b], { RINGEST_CONFIG: a }).maxQueue).toBe(8)
    expect(loadConfig([], { RINGEST_CONFIG: a }).config).toBe(a)
  })

  it('treats an empty environment variable as unset', () => {
    const file = configFile({ maxQueue: 9 })
    const c = loadConfig(['--config', file], { RINGEST_MAX_QUEUE: '', RINGEST_LOG_FILE: '', RINGEST_LISTEN: '' })
    expect([c.maxQueue, c.logFile, c.listen]).toEqual([9, undefined, '127.0.0.1:7070'])
  })

  it('resolves paths from flags and environment against the working directory, from the file against its directory', () => {
    const sub = join(dir, 'nested')
    mkdirSync(sub, { recursive: true })
    const file = join(sub, 'ringest.json')
    writeFileSync(file, JSON.stringify({ dataDir: 'store', logFile: '../logs/r.log' }))
    const c = loadConfig(['--config', file], {})
    expect(c.dataDir).toBe(join(sub, 'store'))
    expect(c.logFile).toBe(join(dir, 'logs', 'r.log'))
    expect(loadConfig(['--data-dir', 'x/y'], {}).dataDir).toBe(resolve('x/y'))
    expect(loadConfig([], { RINGEST_LOG_FILE: 'l.log' }).logFile).toBe(resolve('l.log'))
    expect(loadConfig(['--data-dir=/abs/d'], {}).dataDir).toBe('/abs/d')
  })
})

describe('values', () => {
  it('reads sizes as bytes, binary and decimal units', () => {
    const cases: Array<[string, number | undefined | 'ambiguous']> = [
      ['65536', 65536], ['0', 0], ['1B', 1], ['64KiB', 65536], ['64kib', 65536], ['16MiB', 16 * 1024 * 1024],
      ['1 GiB', 1024 ** 3], ['2TiB', 2 * 1024 ** 4], ['1.5MiB', 1.5 * 1024 * 1024], ['10kB', 10_000], ['10KB', 10_000],
      ['1.1kB', 1100], ['32MB', 32e6], ['2GB', 2e9], ['1TB', 1e12],
      ['16M', 'ambiguous'], ['16k', 'ambiguous'], ['1G', 'ambiguous'],
      ['0.1KiB', undefined], ['1.5B', undefined], ['-1', undefined], ['12XB', undefined], ['MiB', undefined], ['', undefined], ['1e6', undefined],
    ]
    for (const [text, expected] of cases) expect([text, parseBytes(text)]).toEqual([text, expected])
  })

  it('reads durations as milliseconds, with ms, s, m, h, d and w', () => {
    const cases: Array<[string, number | undefined]> = [
      ['200', 200], ['0', 0], ['200ms', 200], ['1.5s', 1500], ['30s', 30_000], ['2m', 120_000], ['1h', 3_600_000], ['1 s', 1000], ['5MS', 5],
      ['0.5ms', undefined], ['5 fortnights', undefined], ['-1', undefined], ['s', undefined], ['1d', 86_400_000], ['30d', 2_592_000_000], ['2w', 1_209_600_000], ['1y', undefined],
    ]
    for (const [text, expected] of cases) expect([text, parseDuration(text)]).toEqual([text, expected])
  })

  it('formats sizes and durations in the largest whole unit', () => {
    expect([formatBytes(65536), formatBytes(1000), formatBytes(64 * 1024 ** 3), formatBytes(1536)]).toEqual(['64KiB', '1000', '64GiB', '1536'])
    expect([formatDuration(200), formatDuration(10_000), formatDuration(60_000), formatDuration(1500)]).toEqual(['200ms', '10s', '1m', '1500ms'])
  })

  it('applies suffixes through flags, environment and file', () => {
    const file = configFile({ mapSizeBytes: '1GiB', requestTimeoutMs: '1m', maxInflightBytes: 1048576 })
    const c = loadConfig(['--config', file, '--ring-bytes', '1MiB', '--shutdown-timeout-ms=2.5s'], { RINGEST_MAX_BODY_BYTES: '512KiB', RINGEST_ADMISSION_WAIT_MS: '0' })
    expect([c.mapSizeBytes, c.requestTimeoutMs, c.maxInflightBytes, c.ringBytes, c.shutdownTimeoutMs, c.maxBodyBytes, c.admissionWaitMs])
      .toEqual([1024 ** 3, 60_000, 1024 * 1024, 1024 * 1024, 2500, 512 * 1024, 0])
  })

  it('reads listen as HOST:PORT, [IPv6]:PORT or PORT alone', () => {
    const cases: Array<[string, string]> = [
      ['7070', '127.0.0.1:7070'], ['0', '127.0.0.1:0'], ['localhost:80', 'localhost:80'], ['0.0.0.0:7070', '0.0.0.0:7070'],
      ['[::1]:7070', '[::1]:7070'], ['[::]:0', '[::]:0'], ['metrics.example.com:9', 'metrics.example.com:9'], [' 10.0.0.1:5 ', '10.0.0.1:5'],
    ]
    for (const [text, expected] of cases) expect(loadConfig(['--listen', text], {}).listen).toBe(expected)
    expect(loadConfig(['--config', configFile({ listen: 8080 })], {}).listen).toBe('127.0.0.1:8080')
  })

  it('refuses malformed listen addresses with the reason', () => {
    const cases: Array<[string, RegExp]> = [
      [':7070', /no host.*0\.0\.0\.0:PORT/], ['::1:7070', /IPv6 address without brackets/], ['[nothost]:1', /no valid IPv6/],
      ['host:70000', /port out of range/], ['a_b:1', /invalid host/], ['1.2.3.400:1', /invalid host/], ['host', /not HOST:PORT/],
      ['host:', /not HOST:PORT/], ['99999', /port out of range/],
    ]
    for (const [text, pattern] of cases) {
      const err = errorOf(['--listen', text])
      expect([text, err.message]).toEqual([text, expect.stringMatching(pattern)])
      expect(err.option).toBe('listen')
    }
  })

  it('accepts enums in any case and stores them in lower case', () => {
    expect(loadConfig(['--ack', 'Committed', '--log-level', 'DEBUG'], {})).toMatchObject({ ack: 'committed', logLevel: 'debug' })
  })

  it('accepts numbers and strings in the config file for numeric options, only strings for paths and enums', () => {
    const c = loadConfig(['--config', configFile({ parseWorkers: 3, maxQueue: '12', flushDelayMs: 0 })], {})
    expect([c.parseWorkers, c.maxQueue, c.flushDelayMs]).toEqual([3, 12, 0])
    expect(errorOf(['--config', configFile({ parseWorkers: 2.5 })]).message).toMatch(/parseWorkers: 2\.5 from config file .* is not a whole number/)
    expect(errorOf(['--config', configFile({ ack: 1 })]).message).toMatch(/ack: 1 .* is not a string/)
    expect(errorOf(['--config', configFile({ dataDir: true })]).message).toMatch(/dataDir: true .* is not a string/)
    expect(errorOf(['--config', configFile({ maxQueue: null })]).message).toMatch(/maxQueue: null .* is not a number or a string/)
    expect(errorOf(['--config', configFile({ ringBytes: 1.5 })]).message).toMatch(/ringBytes: 1\.5 .* is not a size/)
  })
})

describe('validation errors name the option, the source and the fix', () => {
  /** A value each type refuses, as a flag or variable would give it. */
  const BAD: Record<string, string> = {
    'integer': 'many',
    'bytes': '12 parsecs',
    'duration-ms': 'soon',
    'enum': 'nope',
    'host:port': 'nohost:',
    'path': '',
  }

  for (const name of NAMES) {
    const spec = OPTIONS[name]
    const sources: Array<'flag' | 'env' | 'file'> = spec.type === 'path' ? ['flag', 'file'] : ['flag', 'env', 'file']
    for (const source of sources) {
      it(`${name} from ${source}`, () => {
        // An empty variable means unset, and a file cannot name a file: paths go bad there as a non-string.
        const bad = spec.type === 'path' && source === 'file' ? 42 : BAD[spec.type]
        if (name === 'config' && source === 'file') {
          const err = errorOf(['--config', configFile({ config: 'other.json' })])
          expect(err.message).toMatch(/names another config file \(key "config"\).*Fix: remove the key/)
          return
        }
        const err = source === 'flag'
          ? errorOf([`${spec.flag}=${String(bad)}`])
          : source === 'env'
            ? errorOf([], { [spec.env]: String(bad) })
            : errorOf(['--config', configFile({ [name]: bad })])
        expect(err.code).toBe('ERR_CONFIG')
        expect(err.option).toBe(name)
        expect(err.source).toBe(source)
        expect(err.message.startsWith(`${name}: ${JSON.stringify(bad)} from `)).toBe(true)
        const where = source === 'flag' ? `flag ${spec.flag}` : source === 'env' ? `environment variable ${spec.env}` : `(key "${name}")`
        expect(err.message).toContain(where)
        expect(err.message).toContain('Fix: ')
      })
    }

    if ('max' in spec && spec.max !== undefined) {
      it(`${name} out of range`, () => {
        const above = String(spec.max + 1)
        const err = errorOf([spec.flag, above])
        expect(err.message).toMatch(new RegExp(`^${name}: "${above}" from flag ${spec.flag} is out of range .*Fix: give a value between`))
        if (spec.min > 0) expect(errorOf([], { [spec.env]: String(spec.min - 1) }).message).toMatch(/is out of range/)
      })
    }
  }

  it('ringBytes must be a power of two', () => {
    expect(errorOf(['--ring-bytes', '96KiB']).message).toMatch(/ringBytes: "96KiB" from flag --ring-bytes is not a power of two\. Fix: use a power of two between 64KiB and 1GiB/)
    expect(loadConfig(['--ring-bytes', '1GiB'], {}).ringBytes).toBe(1024 ** 3)
  })

  it('refuses an ambiguous size unit with both readings', () => {
    expect(errorOf(['--max-body-bytes', '16M']).message).toMatch(/ambiguous unit\. Fix: write KiB\/MiB\/GiB \(powers of 1024\) or kB\/MB\/GB \(powers of 1000\)/)
  })

  it('headersTimeoutMs may not exceed requestTimeoutMs', () => {
    const err = errorOf(['--headers-timeout-ms', '1m'])
    expect(err.option).toBe('headersTimeoutMs')
    expect(err.message).toMatch(/headersTimeoutMs \(1m, from flag --headers-timeout-ms\) is longer than requestTimeoutMs \(30s, from default\)/)
    const fromEnv = errorOf([], { RINGEST_REQUEST_TIMEOUT_MS: '5s' })
    expect([fromEnv.option, fromEnv.source]).toEqual(['requestTimeoutMs', 'env'])
    expect(loadConfig(['--headers-timeout-ms', '30s'], {}).headersTimeoutMs).toBe(30_000)
  })

  it('maxInflightBytes may not be below maxBodyBytes', () => {
    const err = errorOf(['--max-inflight-bytes', '1MiB'])
    expect(err.message).toMatch(/maxInflightBytes \(1MiB, from flag --max-inflight-bytes\) is smaller than maxBodyBytes \(32MiB, from default\).*Fix: raise --max-inflight-bytes or lower --max-body-bytes/)
    expect(loadConfig(['--max-inflight-bytes', '1MiB', '--max-body-bytes', '1MiB'], {}).maxInflightBytes).toBe(1024 * 1024)
  })
})

describe('flags', () => {
  it('refuses an unknown flag, naming it and the nearest option', () => {
    const err = errorOf(['--lisen', '1'])
    expect(err.message).toMatch(/^unknown flag --lisen \(did you mean --listen\?\)/)
    expect(err.code).toBe('ERR_CONFIG')
    expect(errorOf(['--frobnicate=3']).message).toMatch(/^unknown flag --frobnicate\. Fix/)
    expect(errorOf(['--max-body', '1']).message).toMatch(/did you mean --max-body-bytes\?/)
  })

  it('refuses a flag without its value', () => {
    expect(errorOf(['--listen']).message).toMatch(/flag --listen has no value/)
    expect(errorOf(['--listen', '--data-dir', 'x']).message).toMatch(/flag --listen has no value/)
  })

  it('refuses positional arguments', () => {
    expect(errorOf(['serve']).message).toMatch(/unexpected argument "serve"/)
  })

  it('takes the last of a repeated flag', () => {
    expect(loadConfig(['--max-queue', '5', '--max-queue', '6'], {}).maxQueue).toBe(6)
  })
})

describe('the config file', () => {
  it('refuses unknown keys, naming the key and the nearest option', () => {
    const err = errorOf(['--config', configFile({ listen: '1', maxBodySize: 5 })])
    expect(err.message).toMatch(/unknown key "maxBodySize" in the config file .*c\d+\.json \(did you mean "maxBodyBytes"\?\)/)
    expect(err.source).toBe('file')
  })

  it('says when it cannot read or parse the file', () => {
    const missing = join(dir, 'missing.json')
    expect(errorOf(['--config', missing]).message).toContain(`cannot read the config file ${missing} (from flag --config): ENOENT`)
    expect(errorOf([], { RINGEST_CONFIG: missing }).message).toContain('(from environment variable RINGEST_CONFIG)')
    expect(errorOf(['--config', configFile('{"listen": ', true)]).message).toMatch(/is not valid JSON/)
    expect(errorOf(['--config', configFile([1, 2])]).message).toMatch(/must hold one JSON object/)
  })

  it('accepts a UTF-8 byte order mark', () => {
    expect(loadConfig(['--config', configFile('\uFEFF{"maxQueue": 3}', true)], {}).maxQueue).toBe(3)
  })
})

describe('the result', () => {
  it('is frozen', () => {
    const c = loadConfig([], {})
    expect(Object.isFrozen(c)).toBe(true)
    expect(() => { (c as { listen: string }).listen = 'x' }).toThrow(TypeError)
  })

  it('is plain: it survives structured cloning (workerData) unchanged', () => {
    const c = loadConfig(['--log-file', join(dir, 'x.log')], {})
    expect(structuredClone(c)).toEqual({ ...c })
    for (const v of Object.values(c)) expect(['string', 'number', 'undefined']).toContain(typeof v)
  })
})

describe('describeOptions (--help)', () => {
  const help = describeOptions()
  it('lists every option with its flag, environment variable, default and description', () => {
    for (const name of NAMES) {
      const spec = OPTIONS[name]
      const line = help.split('\n').find((l) => l.trimStart().startsWith(`${spec.flag} `))
      expect(line, spec.flag).toBeDefined()
      expect(line).toContain(spec.env)
      expect(line).toContain('default: ')
      expect(help.replace(/\s+/g, ' ')).toContain(spec.doc.split(' ').slice(0, 6).join(' '))
    }
  })

  it('shows defaults in their units', () => {
    expect(help).toMatch(/--max-body-bytes <size> +RINGEST_MAX_BODY_BYTES +default: 32MiB/)
    expect(help).toMatch(/--shutdown-timeout-ms <duration> +RINGEST_SHUTDOWN_TIMEOUT_MS +default: 10s/)
    expect(help).toMatch(/--log-file <path> +RINGEST_LOG_FILE +default: stdout/)
    expect(help).toMatch(/KiB, MiB, GiB, TiB \(powers of 1024\)/)
  })
})

describe('effectiveConfigForLog', () => {
  it('shows every option (unset ones as null), non-default sources, and unknown RINGEST_* variables', () => {
    const c = loadConfig(['--max-queue', '5'], { RINGEST_ACK: 'committed', RINGEST_LISTNE: 'typo', RINGEST_DIR: '/x', PATH: '/bin' })
    const e = effectiveConfigForLog(c)
    expect(Object.keys(e.config).sort()).toEqual([...NAMES].sort())
    expect(e.config.logFile).toBeNull()
    expect(e.config.maxQueue).toBe(5)
    expect(e.sources).toEqual({ maxQueue: 'flag', ack: 'env' })
    expect(e.ignoredEnv).toEqual(['RINGEST_DIR', 'RINGEST_LISTNE'])
    expect(JSON.parse(JSON.stringify(e))).toEqual(e)
    expect(effectiveConfigForLog(loadConfig([], {})).ignoredEnv).toBeUndefined()
  })
})
