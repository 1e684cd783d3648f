/**
 * The dashboard (GET /) and its feed (GET /stats/stream). First the stream
 * without a browser: events, the 16-stream limit, shutdown with a stream
 * open. Then the page in headless Chromium (Debian's chromium package,
 * driven by playwright-core): no console errors, no failed or external
 * requests, charts fed by live ingest, and screenshots of a laptop and a
 * phone layout in test/output/.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { chromium, type Browser, type Page } from 'playwright-core'
import { get, post, startTestServer, type TestServer } from './helpers/server.js'

const CHROMIUM = '/usr/bin/chromium'
/** Without the networking flags Chromium keeps trying hosts this machine cannot reach. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url))

interface SseEvent { event: string, data: string }

/** An open /stats/stream response, read one event at a time. */
interface Stream { status: number, headers: Record<string, string | string[] | undefined>, next (timeoutMs?: number): Promise<SseEvent | null>, close (): void }

async function openStream (base: string): Promise<Stream> {
  const r = await request(`${base}/stats/stream`)
  const chunks = r.body[Symbol.asyncIterator]()
  const decoder = new TextDecoder()
  let buffered = ''
  return {
    status: r.statusCode,
    headers: r.headers,
    /** The next event with data (null once the stream ended); fails after timeoutMs. */
    async next (timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const end = buffered.indexOf('\n\n')
        if (end >= 0) {
          const block = buffered.slice(0, end)
          buffered = buffered.slice(end + 2)
          const fields = { event: 'message', data: '' }
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) fields.event = line.slice(7)
            else if (line.startsWith('data: ')) fields.data += line.slice(6)
          }
          if (fields.data !== '') return fields
          continue // retry: or a comment
        }
        let timer: NodeJS.Timeout | undefined
        const chunk = await Promise.race([
          chunks.next(),
          new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now())) }),
        ]).finally(() => clearTimeout(timer))
        if (chunk.done === true) return null
        buffered += decoder.decode(chunk.value as Uint8Array, { stream: true })
      }
    },
    close () { r.body.destroy() },
  }
}

/** Polls until check() holds, or fails with what it last saw. */
async function until<T> (read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let v = await read()
  while (!check(v)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last: ${JSON.stringify(v)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    v = await read()
  }
  return v
}

const statsOf = async (base: string): Promise<any> => (await get(`${base}/stats`)).json()

describe('GET /stats/stream and the page\'s files', () => {
  let server: TestServer
  beforeAll(async () => { server = await startTestServer() })
  afterAll(async () => { await server.stop() })

  it('sends the /stats JSON on connect and then every second, and does not count as an in-flight request', async () => {
    const s = await openStream(server.url)
    try {
      expect(s.status).toBe(200)
      expect(s.headers['content-type']).toBe('text/event-stream; charset=utf-8')
      expect(s.headers['cache-control']).toBe('no-store')
      const t0 = Date.now()
      const first = (await s.next())!
      const second = (await s.next())!
      const apart = Date.now() - t0
      expect(first.event).toBe('stats')
      expect(second.event).toBe('stats')
      const a = JSON.parse(first.data)
      const b = JSON.parse(second.data)
      expect(apart).toBeGreaterThan(700)
      expect(apart).toBeLessThan(2500)
      expect(b.uptimeSeconds - a.uptimeSeconds).toBeGreaterThan(0.7)
      // The same body as GET /stats.
      const plain = await statsOf(server.url)
      expect(Object.keys(b).sort()).toEqual(Object.keys(plain).sort())
      expect(b.version).toBe(plain.version)
      expect(plain.statsStreams).toBe(1)
      // The only request in flight is that GET /stats itself: the stream is not one.
      expect(plain.inflight.requests).toBe(1)
    } finally {
      s.close()
    }
    await until(() => statsOf(server.url), (st) => st.statsStreams === 0)
  })

  it('serves at most 16 streams: the 17th gets 503 ERR_TOO_MANY_STREAMS, and a closed one frees its place', async () => {
    const streams: Stream[] = []
    try {
      for (let i = 0; i < 16; i++) {
        const s = await openStream(server.url)
        streams.push(s)
        expect(s.status).toBe(200)
        expect((await s.next())?.event).toBe('stats')
      }
      const refused = await get(`${server.url}/stats/stream`)
      expect(refused.status).toBe(503)
      expect(refused.json().code).toBe('ERR_TOO_MANY_STREAMS')
      expect(refused.headers['retry-after']).toBeDefined()

      streams.shift()!.close()
      await until(() => statsOf(server.url), (st) => st.statsStreams === 15)
      const again = await openStream(server.url)
      streams.push(again)
      expect(again.status).toBe(200)
      // Every open stream still ticks (one shared timer, not one per client).
      await Promise.all(streams.map(async (s) => expect((await s.next())?.event).toBe('stats')))
    } finally {
      for (const s of streams) s.close()
    }
    await until(() => statsOf(server.url), (st) => st.statsStreams === 0)
  })

  it('serves the page and uPlot from memory, with content types, ETags and no external references', async () => {
    const page = await get(`${server.url}/`)
    expect(page.status).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toContain("default-src 'self'")
    expect(page.text).not.toMatch(/(src|href)="(https?:)?\/\//)
    for (const [path, type] of [
      ['/dashboard/dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
      ['/dashboard/uplot.min.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/uplot.min.css', 'text/css; charset=utf-8'],
    ] as const) {
      const r = await get(`${server.url}${path}`)
      expect(r.status, path).toBe(200)
      expect(r.headers['content-type'], path).toBe(type)
      expect(r.headers['cache-control'], path).toBe('no-cache')
      const etag = r.headers.etag as string
      expect(etag, path).toMatch(/^"[\w-]+"$/)
      const cached = await request(`${server.url}${path}`, { headers: { 'if-none-match': etag } })
      await cached.body.text()
      expect(cached.statusCode, path).toBe(304)
    }
    expect((await get(`${server.url}/dashboard/uplot.min.js`)).text).toContain('uPlot')
  })
})

it('the server closes promptly with a stream open, and the stream ends', async () => {
  const server = await startTestServer()
  const s = await openStream(server.url)
  expect((await s.next())?.event).toBe('stats')
  const t0 = Date.now()
  const ended = s.next(5000).then((e) => e, () => null) // ended (null) or cut (an error): either is the end
  await server.stop()
  // Had the stream counted as in flight, close() would wait 60 % of the 10 s shutdown timeout for it.
  expect(Date.now() - t0).toBeLessThan(3000)
  expect(await ended).toBeNull()
  expect(Date.now() - t0).toBeLessThan(3000)
})

describe('the dashboard in headless Chromium', () => {
  let server: TestServer
  let browser: Browser
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium chromium-driver (.ci/run does it)`)
    mkdirSync(OUTPUT, { recursive: true })
    ;[server, browser] = await Promise.all([startTestServer(), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })])
  })
  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  /** Records what must not happen on a page: console errors, uncaught exceptions, failed, refused or external requests. */
  function watch (page: Page): string[] {
    const problems: string[] = []
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
    page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`))
    page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText ?? ''}`))
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`) })
    page.on('request', (r) => { if (!r.url().startsWith(server.url) && !r.url().startsWith('data:')) problems.push(`external: ${r.url()}`) })
    return problems
  }

  /** Line protocol writes for about `ms`, 100 lines a request every 100 ms, stamped now. */
  async function ingestFor (ms: number): Promise<void> {
    const end = Date.now() + ms
    let i = 0
    while (Date.now() < end) {
      const now = Date.now()
      const body = Array.from({ length: 100 }, (_, j) => `cpu,host=h${j % 10} usage=${(i + j) % 100} ${now - j}`).join('\n')
      const r = await post(`${server.url}/write?precision=ms`, body)
      expect(r.status).toBe(204)
      i++
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  it('loads without errors, its charts fill with live ingest, and the laptop layout is a grid', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } })
    const page = await context.newPage()
    const problems = watch(page)
    await page.goto(`${server.url}/`, { waitUntil: 'load' })
    await page.waitForFunction(() => (window as any).__dashboard?.events >= 1, null, { timeout: 5000 })

    // A refused write, so that the rejections chart has a reason to draw.
    expect((await post(`${server.url}/write`, 'x v=1', { 'content-type': 'application/json' })).status).toBe(415)
    await ingestFor(3000)
    await page.waitForFunction(() => {
      const p = (window as any).__dashboard.panels
      return p.ingest?.latest['samples/s'] > 0 && p.rejections?.series.includes('unsupported_media_type')
    }, null, { timeout: 5000 })

    const stats = await statsOf(server.url)
    const d = await page.evaluate(() => (window as any).__dashboard)
    const expected = ['ingest', 'rings', 'commit', 'rejections', 'memory']
    // Fields being added to /stats alongside the dashboard: their charts must fill once the server sends them.
    if (stats.ingest?.requestLatencyMs !== undefined) expected.push('latency')
    if (Array.isArray(stats.threads) && stats.threads.length > 0) expected.push('threads')
    for (const id of expected) {
      expect(d.panels[id]?.points, id).toBeGreaterThan(1)
      expect(await page.locator(`#panel-${id} canvas`).count(), id).toBeGreaterThan(0)
    }
    expect(d.panels.rings.series).toEqual(stats.rings.map((_: unknown, i: number) => `ring ${i}`))
    expect(d.state).toBe('connected')
    expect(await page.locator('#status-text').textContent()).toMatch(/connected · ringest \S+ · up \S+ · ack durable/)
    expect(await page.locator('#panel-ingest dd').first().textContent()).not.toBe('n/a')

    // A grid on a laptop: panels side by side.
    const lefts = await page.$$eval('.card', (cards) => new Set(cards.map((c) => Math.round(c.getBoundingClientRect().left))).size)
    expect(lefts).toBeGreaterThan(1)
    await page.screenshot({ path: `${OUTPUT}dashboard.png`, fullPage: true })
    expect(problems).toEqual([])
    await context.close()
  })

  it('on a phone (390 x 844): one column, nothing wider than the screen', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    const page = await context.newPage()
    const problems = watch(page)
    await page.goto(`${server.url}/`, { waitUntil: 'load' })
    await page.waitForFunction(() => (window as any).__dashboard?.events >= 3, null, { timeout: 6000 })
    const layout = await page.evaluate(() => ({
      viewport: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
      lefts: [...new Set([...document.querySelectorAll('.card')].map((c) => Math.round(c.getBoundingClientRect().left)))],
      widest: Math.max(...[...document.querySelectorAll('.card, .uplot')].map((c) => c.getBoundingClientRect().right)),
      charts: document.querySelectorAll('.uplot').length,
    }))
    expect(layout.viewport).toBe(390)
    expect(layout.scrollWidth).toBeLessThanOrEqual(390)
    expect(layout.lefts).toHaveLength(1)
    expect(layout.widest).toBeLessThanOrEqual(390)
    expect(layout.charts).toBeGreaterThan(3)
    await page.screenshot({ path: `${OUTPUT}dashboard-phone.png`, fullPage: true })
    expect(problems).toEqual([])
    await context.close()
  })
})
