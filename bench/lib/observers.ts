/**
 * What an SRE's tools do to a server while it is loaded: a dashboard's event
 * stream (GET /stats/stream, read and parsed as a browser would) and a
 * Prometheus scraping GET /metrics every second. Run by the ingest driver
 * for the ringest-observed target, so the benchmark measures what watching
 * costs ringest. The browser itself is not run on the server's machine: on a
 * 2-core host its rendering would be measured, not ringest; a dashboard is
 * watched from another machine.
 */
import { Client } from 'undici'

export interface Observers {
  /** Events received and scrapes answered so far (a run with none did not observe anything). */
  readonly counts: { events: number, scrapes: number, errors: number }
  stop (): Promise<void>
}

export function startObservers (origin: string): Observers {
  const counts = { events: 0, scrapes: 0, errors: 0 }
  const stream = new Client(origin)
  const scraper = new Client(origin)
  const abort = new AbortController()
  let stopped = false
  void (async () => {
    try {
      const res = await stream.request({ path: '/stats/stream', method: 'GET', signal: abort.signal })
      if (res.statusCode !== 200) { counts.errors++; await res.body.dump(); return }
      let buf = ''
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8')
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const event = buf.slice(0, end)
          buf = buf.slice(end + 2)
          const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).join('\n')
          if (data !== '') { JSON.parse(data); counts.events++ }
        }
      }
    } catch { if (!stopped) counts.errors++ }
  })()
  const timer = setInterval(() => {
    scraper.request({ path: '/metrics', method: 'GET' })
      .then(async (r) => { await r.body.text(); if (r.statusCode === 200) counts.scrapes++; else counts.errors++ })
      .catch(() => { counts.errors++ })
  }, 1000)
  return {
    counts,
    async stop () {
      stopped = true
      clearInterval(timer)
      abort.abort()
      await Promise.allSettled([stream.close(), scraper.close()])
    },
  }
}
