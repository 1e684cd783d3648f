/**
 * What SREs read: /stats field by field after real traffic, /metrics as
 * promtool checks it, and /readyz going unready under overload and at
 * shutdown, on a real server (workers, rings, LMDB in a temp dir).
 */
import { spawnSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { get, post, startTestServer, type TestServer } from './helpers/server.js'
import { PROMTOOL_BIN, apiQuery, startScrapingPrometheus } from './helpers/prometheus.js'

let server: TestServer | undefined
afterEach(async () => { await server?.stop(); server = undefined })

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function writeFor (s: TestServer, ms: number): Promise<number> {
  const end = Date.now() + ms
  let n = 0
  while (Date.now() < end) {
    const lines: string[] = []
    for (let i = 0; i < 100; i++) lines.push(`obs,host=h${i} v=${n + i} ${Date.now()}`)
    const r = await post(`${s.url}/write?precision=ms`, lines.join('\n'))
    expect(r.status).toBe(204)
    n += 100
  }
  return n
}

describe('/stats', () => {
  it('explains what the process is doing: rates, latency percentiles, threads, rings, commits, pages, memory', async () => {
    server = await startTestServer()
    await writeFor(server, 2500)
    const st = (await get(`${server.url}/stats`)).json()
    // Rates over three windows, and latency percentiles from the HDR histogram.
    for (const w of ['1s', '10s', '1m']) {
      expect(st.ingest.samplesPerSecond[w], w).toBeGreaterThan(0)
      expect(st.ingest.requestsPerSecond[w], w).toBeGreaterThan(0)
    }
    // 2.5 s of writes: the 10 s and 1 min rates cover all of it, so they agree.
    expect(Math.abs(st.ingest.samplesPerSecond['10s'] - st.ingest.samplesPerSecond['1m'])).toBeLessThan(0.05 * st.ingest.samplesPerSecond['1m'])
    const lat = st.ingest.requestLatencyMs
    expect(lat.count).toBeGreaterThan(10)
    expect(lat.p50).toBeGreaterThan(0)
    expect(lat.p50).toBeLessThanOrEqual(lat.p90)
    expect(lat.p90).toBeLessThanOrEqual(lat.p99)
    expect(lat.p99).toBeLessThanOrEqual(lat.p999)
    expect(lat.p999).toBeLessThanOrEqual(lat.max * 1.001)
    // Every thread with a utilization in [0, 1]; the parse workers and the flush worker did work.
    const threads = new Map<string, number>(st.threads.map((t: { name: string, utilization: number }) => [t.name, t.utilization]))
    expect([...threads.keys()]).toEqual(expect.arrayContaining(['main', 'parse-0', 'parse-1', 'flush']))
    for (const [name, u] of threads) { expect(u, name).toBeGreaterThanOrEqual(0); expect(u, name).toBeLessThanOrEqual(1) }
    expect(threads.get('flush')).toBeGreaterThan(0)
    // Parse workers wait for tasks in Atomics.wait: their share is time in tasks, neither 0 nor pinned at 1.
    expect(threads.get('parse-0')! + threads.get('parse-1')!).toBeGreaterThan(0)
    expect(Math.max(threads.get('parse-0')!, threads.get('parse-1')!)).toBeLessThan(0.95)
    for (const r of st.rings) {
      expect(r.capacity).toBeGreaterThan(0)
      expect(r.highWater).toBeGreaterThan(0)
      expect(r.highWater).toBeLessThanOrEqual(r.capacity)
      expect(r.fullCount).toBe(0)
    }
    expect(st.flush.commitsPerSecond['10s']).toBeGreaterThan(0)
    expect(st.flush.samplesPerSecond['10s']).toBeGreaterThan(0)
    expect(st.flush.commitLatencyMs.p99).toBeGreaterThan(0)
    expect(st.flush.secondsSinceLastCommit).toBeLessThan(5)
    expect(st.storage.pageBytes).toBe(16384)
    expect(st.storage.usedPages).toBeGreaterThan(2)
    expect(st.storage.freePages).toBeGreaterThanOrEqual(0)
    expect(st.storage.freePages).toBeLessThan(st.storage.usedPages)
    expect(st.storage.series).toBe(100)
    expect(st.storage.seriesCreatedLastMinute).toBe(100)
    const p = st.process
    expect(p.rssBytes).toBeGreaterThan(p.heapUsedBytes)
    expect(p.heapTotalBytes).toBeGreaterThanOrEqual(p.heapUsedBytes)
    expect(p.gcPauseMs.count).toBe(p.gcPauseMs.count) // present even when no GC happened in the window
    expect(p.gcPausesTotal).toBeGreaterThanOrEqual(p.gcPauseMs.count)
    expect(st.ack).toBe('durable')
    expect(typeof st.version).toBe('string')
    expect(st.uptimeSeconds).toBeGreaterThan(2)
  }, 30_000)

  it('rates fall to zero when traffic stops (the 1 s window first)', async () => {
    server = await startTestServer()
    await writeFor(server, 1200)
    await sleep(2500)
    const st = (await get(`${server.url}/stats`)).json()
    expect(st.ingest.samplesPerSecond['1s']).toBe(0)
    expect(st.ingest.samplesPerSecond['1m']).toBeGreaterThan(0)
  }, 30_000)
})

describe('/metrics', () => {
  it('passes promtool check metrics, with histograms whose buckets add up', async () => {
    server = await startTestServer()
    await writeFor(server, 1500)
    await get(`${server.url}/api/v1/query?query=${encodeURIComponent('count(obs_v)')}`)
    const text = (await get(`${server.url}/metrics`)).text
    const check = spawnSync(PROMTOOL_BIN, ['check', 'metrics'], { input: text, encoding: 'utf8' })
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0)
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('')
    for (const name of ['ringest_write_request_duration_seconds', 'ringest_commit_duration_seconds']) {
      const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))].map((m) => Number(m[2]))
      expect(buckets.length).toBeGreaterThan(5)
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!).toBeGreaterThanOrEqual(buckets[i - 1]!)
      const count = Number(new RegExp(`^${name}_count (\\S+)$`, 'm').exec(text)![1])
      expect(count).toBe(buckets[buckets.length - 1])
      expect(count).toBeGreaterThan(0)
    }
    expect(text).toMatch(/^ringest_thread_utilization_ratio\{thread="flush"\} [\d.e-]+$/m)
    expect(text).toMatch(/^ringest_store_pages\{state="used"\} [1-9]\d*$/m)
    // The query made above (an instant query: not split).
    expect(text).toMatch(/^ringest_queries_total\{outcome="completed"\} [1-9]\d*$/m)
    expect(text).toMatch(/^ringest_queries_split_total 0$/m)
    expect(text).toMatch(/^ringest_queries_running 0$/m)
  }, 30_000)
})

describe('scraped by a real Prometheus', () => {
  it('is up, and its counters, gauges and histograms are queryable', async () => {
    server = await startTestServer()
    const prom = await startScrapingPrometheus(new URL(server.url).host)
    try {
      const written = await writeFor(server, 1500)
      expect((await get(`${server.url}/stats`)).json().endpoints['/write'].samplesAccepted).toBe(written)
      // A scrape after the writes: Prometheus's copy of the counter holds every sample written.
      const deadline = Date.now() + 20_000
      for (;;) {
        const a = await apiQuery(prom.url, '/api/v1/query', { query: 'sum(ringest_samples_ingested_total{job="ringest"})' })
        if (a.status === 'success' && a.data.result.length === 1 && Number(a.data.result[0].value[1]) === written) break
        if (Date.now() > deadline) throw new Error(`Prometheus never saw all ${written} samples: ${JSON.stringify(a)}`)
        await sleep(300)
      }
      const up = await apiQuery(prom.url, '/api/v1/query', { query: 'up{job="ringest"}' })
      expect(up.status === 'success' && up.data.result[0].value[1]).toBe('1')
      const p99 = await apiQuery(prom.url, '/api/v1/query', { query: 'histogram_quantile(0.99, ringest_commit_duration_seconds_bucket{job="ringest"})' })
      expect(p99.status === 'success' && Number(p99.data.result[0].value[1])).toBeGreaterThan(0)
      const threads = await apiQuery(prom.url, '/api/v1/query', { query: 'count(ringest_thread_utilization_ratio{job="ringest"})' })
      expect(threads.status === 'success' && Number(threads.data.result[0].value[1])).toBeGreaterThanOrEqual(4)
    } finally {
      await prom.stop()
    }
  }, 60_000)
})

describe('/readyz', () => {
  it('is ready when idle, unready with reasons under overload, and refuses connections once shutting down', async () => {
    server = await startTestServer({ readyOverloadPercent: 1, maxInflightBytes: 1024 * 1024, maxBodyBytes: 1024 * 1024 })
    expect((await get(`${server.url}/readyz`)).json()).toEqual({ status: 'ready' })
    // Slow commits hold a 100 KiB body in flight: past 1 % of --max-inflight-bytes.
    server.engine.setSlowCommit(1500)
    const body = Array.from({ length: 4000 }, (_, i) => `rz,host=h${i % 10} v=${i} ${Date.now() - i}`).join('\n')
    expect(body.length).toBeGreaterThan(20_000)
    const pending = post(`${server.url}/write?precision=ms`, body)
    await sleep(300)
    const busy = await get(`${server.url}/readyz`)
    expect(busy.status).toBe(503)
    expect(busy.json().reasons.join('; ')).toMatch(/bytes in flight over 1 %/)
    server.engine.setSlowCommit(0)
    expect((await pending).status).toBe(204)
    expect((await get(`${server.url}/readyz`)).status).toBe(200)
    // While closing, the listening socket is closed first: a balancer's next probe is refused (and
    // idle keep-alive connections are closed), so it stops routing here at once.
    const closing = server.close('test')
    await sleep(50)
    await expect(get(`${server.url}/readyz`)).rejects.toThrow(/ECONNREFUSED|closed|socket/i)
    await closing
    server = undefined
  }, 30_000)
})
