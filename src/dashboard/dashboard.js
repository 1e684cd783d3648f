/*
 * ringest's dashboard: a plain browser script (no build step), served by
 * ringest with uPlot (the global `uPlot`, from /dashboard/uplot.min.js).
 *
 * It listens to /stats/stream (server-sent events: the /stats JSON once a
 * second), keeps the last WINDOW_SECONDS of readings in this tab and draws
 * one uPlot chart per panel, with the current values beside it.
 *
 * Every field of /stats is optional here: a server older or newer than the
 * page may lack one, and a missing field shows "n/a" instead of throwing.
 * Rates the server does not send are computed from counter deltas between
 * two events.
 *
 * For tests and the curious: window.__dashboard holds the event count, the
 * connection state and, per panel, the series, the points drawn and the
 * latest values; each panel's element carries data-points too.
 */
'use strict'
;(function () {
  /** Readings kept and drawn: 5 minutes at one a second. */
  const WINDOW_SECONDS = 300
  /** The endpoints whose requests count as writes when requests/s is computed here. */
  const WRITE_ENDPOINTS = ['/write', '/api/v2/write', '/api/v1/ingest', '/api/v1/import']
  const PALETTE = ['#2f6fd6', '#e8590c', '#2b8a3e', '#c2255c', '#7048e8', '#0c8599', '#b08900', '#6b7280']

  // ---- reading values that may be absent ----------------------------------

  /** A finite number, or null. */
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null)
  /** obj[k0][k1]..., or undefined as soon as a step is missing. */
  const at = (obj, ...path) => path.reduce((o, k) => (o !== null && typeof o === 'object' ? o[k] : undefined), obj)
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
  const objectAt = (obj, ...path) => { const v = at(obj, ...path); return isObject(v) ? v : {} }
  const arrayAt = (obj, ...path) => { const v = at(obj, ...path); return Array.isArray(v) ? v : [] }
  const ratio = (a, b, scale) => (num(a) !== null && num(b) !== null && b > 0 ? (a / b) * scale : null)

  // ---- formatting ------------------------------------------------------------

  const NA = 'n/a'
  function fmtCount (v) {
    if (v === null) return NA
    const a = Math.abs(v)
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + ' G'
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + ' M'
    if (a >= 1e4) return (v / 1e3).toFixed(0) + ' k'
    if (a >= 100 || Number.isInteger(v)) return v.toFixed(0)
    return v.toFixed(a >= 10 ? 1 : 2)
  }
  const fmtRate = (v) => (v === null ? NA : fmtCount(v) + '/s')
  function fmtMs (v) {
    if (v === null) return NA
    if (v === 0) return '0 ms'
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s'
    return v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2) + ' ms'
  }
  function fmtBytes (v) {
    if (v === null) return NA
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    let i = 0
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++ }
    return (i === 0 || Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i]
  }
  const fmtPct = (v) => (v === null ? NA : v.toFixed(v >= 10 || v === 0 ? 0 : 1) + ' %')
  /** A time axis label: the wall clock, to the second. */
  function fmtClock (t) {
    const d = new Date(t * 1000)
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
  }
  function fmtDuration (s) {
    if (s === null) return NA
    s = Math.floor(s)
    const d = Math.floor(s / 86400); const h = Math.floor(s / 3600) % 24; const m = Math.floor(s / 60) % 60
    if (d > 0) return `${d}d ${h}h`
    if (h > 0) return `${h}h ${m}m`
    if (m > 0) return `${m}m ${s % 60}s`
    return `${s}s`
  }

  // ---- rates -----------------------------------------------------------------

  /** The counters rates are computed from when the server does not send them. */
  function counters (s) {
    const endpoints = objectAt(s, 'endpoints')
    let samples = 0; let requests = 0
    const rejected = {}
    for (const [name, e] of Object.entries(endpoints)) {
      samples += num(at(e, 'samplesAccepted')) ?? 0
      if (WRITE_ENDPOINTS.includes(name)) for (const n of Object.values(objectAt(e, 'requests'))) requests += num(n) ?? 0
      for (const [reason, n] of Object.entries(objectAt(e, 'rejectedRequests'))) rejected[reason] = (rejected[reason] ?? 0) + (num(n) ?? 0)
    }
    return { samples, requests, rejected, commits: num(at(s, 'flush', 'commits')) }
  }

  /** Per-second rates between the previous reading and this one (null where there is no previous one). */
  function rates (now, before, dt) {
    const per = (a, b) => (before === null || a === null || b === null || !(dt > 0) || a < b ? null : (a - b) / dt)
    const rejected = {}
    for (const [reason, n] of Object.entries(now.rejected)) rejected[reason] = per(n, before === null ? null : (before.rejected[reason] ?? 0))
    return {
      samples: per(now.samples, before?.samples ?? null),
      requests: per(now.requests, before?.requests ?? null),
      commits: per(now.commits, before?.commits ?? null),
      rejected,
    }
  }

  /** The server's 1-second rate if it sends one, else the one computed here. */
  const serverRate = (s, name, fallback) => num(at(s, 'ingest', name, '1s')) ?? fallback

  // ---- panels ----------------------------------------------------------------
  // Each panel: `series(s, r)` gives this reading's charted values by series
  // name (names may come and go: rings, threads, rejection reasons);
  // `extra(s, r)` gives numbers shown but not charted.

  const PANELS = [
    {
      id: 'ingest',
      title: 'Ingest',
      fmt: fmtRate,
      // Samples and requests differ by the batch size: each gets its own axis.
      right: 'requests/s',
      series: (s, r) => ({ 'samples/s': serverRate(s, 'samplesPerSecond', r.samples), 'requests/s': serverRate(s, 'requestsPerSecond', r.requests) }),
      extra: (s) => ({
        'samples/s, 1 min': num(at(s, 'ingest', 'samplesPerSecond', '1m')),
        'committed total': num(at(s, 'flush', 'samplesCommitted')),
      }),
      extraFmt: { 'committed total': fmtCount },
    },
    {
      id: 'latency',
      title: 'Write latency',
      fmt: fmtMs,
      series: (s) => {
        const l = at(s, 'ingest', 'requestLatencyMs')
        return { p50: num(at(l, 'p50')), p90: num(at(l, 'p90')), p99: num(at(l, 'p99')) }
      },
      extra: (s) => ({ 'p99.9': num(at(s, 'ingest', 'requestLatencyMs', 'p999')), max: num(at(s, 'ingest', 'requestLatencyMs', 'max')), requests: num(at(s, 'ingest', 'requestLatencyMs', 'count')) }),
      extraFmt: { requests: fmtCount },
    },
    {
      id: 'rings',
      title: 'Ring fill',
      fmt: fmtPct,
      range: [0, 100],
      series: (s) => {
        const out = {}
        arrayAt(s, 'rings').forEach((ring, i) => { out[`ring ${num(at(ring, 'ring')) ?? i}`] = ratio(at(ring, 'used'), at(ring, 'capacity'), 100) })
        return out
      },
      extra: (s) => {
        const rings = arrayAt(s, 'rings')
        // Body lanes (small bodies on their way to the parse workers): bodies waiting for their
        // outcome, and the fullest inbox.
        const lanes = arrayAt(s, 'lanes')
        let waiting = lanes.length === 0 ? null : 0; let inbox = null
        for (const lane of lanes) {
          waiting += num(at(lane, 'waiting')) ?? 0
          const f = ratio(at(lane, 'inboxUsed'), at(lane, 'inboxCapacity'), 100)
          if (f !== null) inbox = Math.max(inbox ?? 0, f)
        }
        if (rings.length === 0) return { 'high water': null, 'times full': null, 'lane bodies waiting': waiting, 'lane inbox': inbox }
        let high = null; let full = 0
        for (const ring of rings) {
          const h = ratio(at(ring, 'highWater'), at(ring, 'capacity'), 100)
          if (h !== null) high = Math.max(high ?? 0, h)
          full += num(at(ring, 'fullCount')) ?? 0
        }
        return { 'high water': high, 'times full': full, 'lane bodies waiting': waiting, 'lane inbox': inbox }
      },
      extraFmt: { 'times full': fmtCount, 'lane bodies waiting': fmtCount },
    },
    {
      id: 'commit',
      title: 'Commit latency',
      fmt: fmtMs,
      series: (s) => ({ p50: num(at(s, 'flush', 'commitLatencyMs', 'p50')), p99: num(at(s, 'flush', 'commitLatencyMs', 'p99')) }),
      extra: (s, r) => ({ max: num(at(s, 'flush', 'commitLatencyMs', 'max')), 'commits/s': r.commits, 'batch p50': num(at(s, 'flush', 'batchSamples', 'p50')) }),
      extraFmt: { 'commits/s': fmtRate, 'batch p50': fmtCount },
    },
    {
      id: 'rejections',
      title: 'Rejections',
      fmt: fmtRate,
      empty: 'no rejections',
      series: (s, r) => r.rejected,
      extra: (s, r, c) => ({ total: Object.values(c.rejected).reduce((a, b) => a + b, 0) }),
      extraFmt: { total: fmtCount },
    },
    {
      id: 'memory',
      title: 'Memory and disk',
      fmt: fmtBytes,
      series: (s) => ({ RSS: num(at(s, 'process', 'rssBytes')), heap: num(at(s, 'process', 'heapUsedBytes')), LMDB: num(at(s, 'storage', 'lmdbFileBytes')) }),
      extra: (s) => ({ WAL: num(at(s, 'storage', 'walBytes')), 'GC pause p99': num(at(s, 'process', 'gcPauseMs', 'p99')) }),
      extraFmt: { 'GC pause p99': fmtMs },
    },
    {
      id: 'threads',
      title: 'Thread utilization',
      fmt: fmtPct,
      range: [0, 100],
      empty: 'not reported by this server',
      series: (s) => {
        const out = {}
        for (const t of arrayAt(s, 'threads')) {
          if (typeof at(t, 'name') === 'string') out[t.name] = num(at(t, 'utilization')) === null ? null : t.utilization * 100
        }
        return out
      },
      extra: () => ({}),
    },
  ]

  // ---- state -----------------------------------------------------------------

  const times = []
  let previous = null // { counters, uptime, at } of the last reading
  let gap = false // the stream was cut: the next reading starts a new line
  const exposed = { events: 0, state: 'connecting', panels: {} }
  window.__dashboard = exposed

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()
  const compact = () => window.matchMedia('(max-width: 600px)').matches

  // ---- DOM -------------------------------------------------------------------

  function el (tag, className, text) {
    const e = document.createElement(tag)
    if (className) e.className = className
    if (text !== undefined) e.textContent = text
    return e
  }

  function createPanel (p) {
    const card = el('section', 'card')
    card.id = `panel-${p.id}`
    card.dataset.points = '0'
    card.append(el('h2', '', p.title))
    const body = el('div', 'card-body')
    p.chartEl = el('div', 'chart')
    p.emptyEl = el('p', 'empty', p.empty ?? NA)
    p.chartEl.append(p.emptyEl)
    p.numbersEl = el('dl', 'numbers')
    body.append(p.chartEl, p.numbersEl)
    card.append(body)
    p.card = card
    p.keys = []
    p.cols = new Map()
    p.chart = null
    p.width = 0
    p.valueEls = new Map()
    document.getElementById('panels').append(card)
    new ResizeObserver(() => requestAnimationFrame(() => resize(p))).observe(p.chartEl)
  }

  function colorOf (p, key) { return PALETTE[p.keys.indexOf(key) % PALETTE.length] }

  /** The numbers beside the chart: one row per series (its colour is the legend), then the extras. */
  function buildNumbers (p, extraKeys) {
    p.numbersEl.replaceChildren()
    p.valueEls.clear()
    const row = (key, color) => {
      const dt = el('dt')
      if (color) { const sw = el('span', 'swatch'); sw.style.background = color; dt.append(sw) }
      dt.append(document.createTextNode(key))
      dt.title = key // the name in full where it is cut short
      const dd = el('dd', '', NA)
      p.numbersEl.append(dt, dd)
      p.valueEls.set((color ? 's:' : 'x:') + key, dd)
    }
    for (const key of p.keys) row(key, colorOf(p, key))
    for (const key of extraKeys) row(key, null)
    p.extraKeys = extraKeys.join('\n')
  }

  function chartHeight () { return compact() ? 170 : 210 }

  /** (Re)creates the uPlot chart: at the first data and whenever the set of series changes. */
  function buildChart (p) {
    if (p.chart !== null) { p.chart.destroy(); p.chart = null }
    p.emptyEl.hidden = p.keys.length > 0
    if (p.keys.length === 0) return
    const muted = css('--muted') || '#6b7280'
    const grid = css('--grid') || 'rgba(0,0,0,0.08)'
    const axis = (scale, side, fmt) => ({
      scale, side, stroke: muted, size: axisWidth,
      grid: { stroke: grid, width: 1, show: side === 3 },
      ticks: { stroke: grid, width: 1 },
      values: (u, splits) => splits.map((v) => fmt(v)),
    })
    const usesRight = p.right !== undefined && p.keys.includes(p.right)
    // Whole seconds at least (readings are a second apart), as a wall clock on one line.
    const time = { stroke: muted, size: 28, space: 70, incrs: TIME_STEPS, values: (u, splits) => splits.map(fmtClock), grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } }
    const axes = [time, axis('y', 3, p.fmt)]
    if (usesRight) axes.push(axis('y2', 1, p.fmt))
    const fromZero = (u, min, max) => [0, max > 0 ? max * 1.1 : 1]
    const scales = { x: { time: true }, y: { range: p.range ?? fromZero } }
    if (usesRight) scales.y2 = { range: fromZero }
    p.width = p.chartEl.clientWidth
    p.chart = new uPlot({
      width: Math.max(p.width, 120),
      height: chartHeight(),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales,
      axes,
      series: [{}, ...p.keys.map((key) => ({ label: key, scale: usesRight && key === p.right ? 'y2' : 'y', stroke: colorOf(p, key), width: 1.5, points: { show: false } }))],
    }, data(p), p.chartEl)
  }

  /** Tick steps of the time axis, in seconds. */
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]

  /** A value axis as wide as its longest label (uPlot's own axis-autosize recipe): "191 MiB" must not be clipped. */
  function axisWidth (u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx]
    if (cycleNum > 1) return axis._size
    let size = axis.ticks.size + axis.gap
    const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '')
    if (longest !== '') {
      u.ctx.font = axis.font[0]
      size += u.ctx.measureText(longest).width / devicePixelRatio
    }
    return Math.ceil(size)
  }

  function data (p) { return [times, ...p.keys.map((k) => p.cols.get(k))] }

  function resize (p) {
    if (p.chart === null) return
    const width = p.chartEl.clientWidth
    const height = chartHeight()
    if (width === p.width && height === p.chart.height) return
    p.width = width
    p.chart.setSize({ width: Math.max(width, 120), height })
  }

  // ---- one reading -----------------------------------------------------------

  /** Adds this reading's values to the panel's columns; true when a series appeared or went. */
  function record (p, values) {
    let changed = false
    for (const key of Object.keys(values)) {
      if (!p.cols.has(key)) { p.cols.set(key, new Array(times.length - 1).fill(null)); p.keys.push(key); changed = true }
    }
    for (const [key, col] of p.cols) col.push(gap ? null : num(values[key]) ?? null)
    return changed
  }

  /** Drops readings older than the window, and series with nothing left in it. */
  function trim () {
    const drop = times.length - WINDOW_SECONDS
    if (drop <= 0) return new Set()
    times.splice(0, drop)
    const changed = new Set()
    for (const p of PANELS) {
      for (const [key, col] of p.cols) {
        col.splice(0, drop)
        if (col.every((v) => v === null)) { p.cols.delete(key); p.keys.splice(p.keys.indexOf(key), 1); changed.add(p) }
      }
    }
    return changed
  }

  function update (p, values, extras, changed) {
    const extraKeys = Object.keys(extras)
    if (changed || p.extraKeys !== extraKeys.join('\n')) buildNumbers(p, extraKeys)
    for (const key of p.keys) p.valueEls.get('s:' + key).textContent = p.fmt(num(values[key]) ?? null)
    for (const key of extraKeys) p.valueEls.get('x:' + key).textContent = (p.extraFmt?.[key] ?? p.fmt)(num(extras[key]) ?? null)
    if (changed || p.chart === null) buildChart(p)
    else if (!document.hidden) p.chart.setData(data(p))
    let points = 0
    for (const col of p.cols.values()) for (const v of col) if (v !== null) points++
    p.card.dataset.points = String(points)
    exposed.panels[p.id] = { series: [...p.keys], points, latest: Object.fromEntries(p.keys.map((k) => [k, num(values[k]) ?? null])) }
  }

  function onStats (s) {
    const c = counters(s)
    const uptime = num(at(s, 'uptimeSeconds'))
    const nowMs = Date.now()
    // A restarted server (uptime went back) starts its counters again: no rate across it.
    if (previous !== null && uptime !== null && previous.uptime !== null && uptime < previous.uptime) previous = null
    const dt = previous === null ? 0 : uptime !== null && previous.uptime !== null ? uptime - previous.uptime : (nowMs - previous.at) / 1000
    const r = rates(c, previous?.counters ?? null, dt)
    previous = { counters: c, uptime, at: nowMs }

    if (gap) times.push(nowMs / 1000 - 0.5) // a null point: the line breaks where the stream was cut
    times.push(nowMs / 1000)
    const values = new Map()
    const changed = new Set()
    for (const p of PANELS) {
      const v = safe(() => p.series(s, r), {})
      values.set(p, v)
      if (gap) record(p, {})
    }
    gap = false
    for (const p of PANELS) if (record(p, values.get(p))) changed.add(p)
    for (const p of trim()) changed.add(p)
    for (const p of PANELS) {
      safe(() => update(p, values.get(p), safe(() => p.extra(s, r, c), {}), changed.has(p)), undefined)
    }
    exposed.events++
    showStatus('connected', s)
  }

  /** Runs fn; an exception is reported on the console (a bug to see) and the fallback used, so one panel cannot stop the others. */
  function safe (fn, fallback) {
    try { return fn() } catch (err) { console.error('ringest dashboard:', err); return fallback }
  }

  // ---- status line and connection -----------------------------------------------

  let last = null
  function showStatus (state, s) {
    if (s !== undefined) last = s
    exposed.state = state
    const status = document.getElementById('status')
    status.dataset.state = state
    const parts = [state === 'connected' ? 'connected' : state === 'reconnecting' ? 'reconnecting…' : 'connecting…']
    if (last !== null) {
      const version = at(last, 'version')
      const ack = at(last, 'ack')
      parts.push(`ringest ${typeof version === 'string' ? version : NA}`)
      parts.push(`up ${fmtDuration(num(at(last, 'uptimeSeconds')))}`)
      parts.push(`ack ${typeof ack === 'string' ? ack : NA}`)
      if (state === 'connected') parts.push(new Date().toLocaleTimeString())
    }
    document.getElementById('status-text').textContent = parts.join(' · ')
  }

  function connect () {
    // EventSource reconnects by itself (after the server's `retry:`); a 503 (too many streams) ends it for good, so retry that here.
    const source = new EventSource('/stats/stream')
    source.addEventListener('stats', (e) => {
      let s
      try { s = JSON.parse(e.data) } catch (err) { console.error('ringest dashboard: bad event', err); return }
      onStats(s)
    })
    source.addEventListener('error', () => {
      gap = true
      showStatus('reconnecting')
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000)
    })
  }

  function start () {
    for (const p of PANELS) createPanel(p)
    window.addEventListener('resize', () => { for (const p of PANELS) resize(p) })
    document.addEventListener('visibilitychange', () => { if (!document.hidden) for (const p of PANELS) if (p.chart !== null) p.chart.setData(data(p)) })
    showStatus('connecting')
    connect()
  }

  if (typeof uPlot !== 'function') {
    console.error('ringest dashboard: uPlot did not load (/dashboard/uplot.min.js)')
    return
  }
  start()
})()
