/**
 * The two lines an SRE looks for first, one at start and one at stop, so a
 * restart reads as two lines whatever else is logged (every other line about
 * starting and stopping is at debug):
 * - "started": version, listen URL, data directory, ack mode, threads, what
 *   the store holds and what the WAL replay took, how long starting took,
 *   and the effective configuration (every option, and where each value
 *   that is not a default came from);
 * - "stopped": why (the signal), exit status, how long stopping took, uptime,
 *   and what was served: requests, rejected requests, samples accepted and
 *   committed, samples left in the WAL for the next start.
 */
import { effectiveConfigForLog, type Config } from './config.js'
import type { RunningServer } from './server.js'
import { FlushStat } from '../workers/shared.js'

export function startedFields (config: Config, server: RunningServer, version: string, startMs: number): Record<string, unknown> {
  const f = server.engine.flushStats
  return {
    version,
    node: process.version,
    url: server.url,
    dataDir: config.dataDir,
    ack: config.ack,
    parseWorkers: config.parseWorkers,
    queryWorkers: config.queryWorkers,
    series: f[FlushStat.SERIES_TOTAL],
    walReplay: { samples: f[FlushStat.REPLAYED_SAMPLES], ms: Math.round(f[FlushStat.REPLAY_MS]!) },
    startMs,
    ...effectiveConfigForLog(config),
  }
}

export function stoppedFields (server: RunningServer, reason: string, exitCode: number, stopMs: number): Record<string, unknown> {
  let requests = 0
  let rejectedRequests = 0
  let samplesAccepted = 0
  for (const e of Object.values(server.stats.endpoints)) {
    for (const n of Object.values(e.requests)) requests += n
    for (const n of Object.values(e.rejectedRequests)) rejectedRequests += n
    samplesAccepted += e.samplesAccepted
  }
  const f = server.engine.flushStats
  return {
    reason,
    exitCode,
    stopMs,
    uptimeSeconds: Math.round(process.uptime()),
    requests,
    rejectedRequests,
    samplesAccepted,
    samplesCommitted: f[FlushStat.SAMPLES_COMMITTED],
    walSamples: f[FlushStat.HEAD_SAMPLES],
  }
}
