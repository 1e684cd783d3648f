/**
 * The dashboard's files: GET / and GET /dashboard/*. The page is plain
 * browser files in src/dashboard/ (no build step) plus uPlot's browser
 * bundle from node_modules; ringest serves them itself, so the page works
 * on a machine with no way out to a CDN. They are read once, at start, and
 * answered from memory with an ETag (a reload costs a 304).
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import { HttpError } from './errors.js'

/**
 * tsc compiles this file to dist/src/dashboard.js and does not copy the
 * page's files, so they are found from there: two levels up, then src/dashboard/.
 */
const PAGE_DIR = new URL('../../src/dashboard/', import.meta.url)
const nodeRequire = createRequire(import.meta.url)

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

/** URL path -> file and content type. */
const FILES: Record<string, { file: () => string, type: string }> = {
  '/': { file: () => fileURLToPath(new URL('index.html', PAGE_DIR)), type: HTML },
  '/dashboard/dashboard.js': { file: () => fileURLToPath(new URL('dashboard.js', PAGE_DIR)), type: JS },
  '/dashboard/dashboard.css': { file: () => fileURLToPath(new URL('dashboard.css', PAGE_DIR)), type: CSS },
  // uPlot's IIFE build defines the global uPlot: the page needs no module loader.
  '/dashboard/uplot.min.js': { file: () => nodeRequire.resolve('uplot/dist/uPlot.iife.min.js'), type: JS },
  '/dashboard/uplot.min.css': { file: () => nodeRequire.resolve('uplot/dist/uPlot.min.css'), type: CSS },
}

/**
 * The page may load only from ringest itself: a stray external reference
 * fails loudly in the browser (and in test/dashboard.test.ts) instead of
 * quietly reaching out. data: is for the empty favicon.
 */
const CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

interface Asset { body: Buffer, etag: string, type: string }

export class DashboardAssets {
  private readonly assets = new Map<string, Asset>()
  /** Why a file could not be read (a broken install), by path; answered as ERR_INTERNAL. */
  private readonly missing = new Map<string, string>()

  /** Reads every file now; a missing one is logged and only its path fails, not the server. */
  constructor (log: Logger) {
    for (const [path, { file, type }] of Object.entries(FILES)) {
      let name = path
      try {
        name = file()
        const body = readFileSync(name)
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
        this.assets.set(path, { body, etag, type })
      } catch (err) {
        log.warn({ err, path, file: name }, 'dashboard file missing: that path will answer 500')
        this.missing.set(path, `dashboard file ${name} could not be read: ${(err as Error).message}`)
      }
    }
  }

  /** The URL paths served. */
  get paths (): string[] { return Object.keys(FILES) }

  serve (req: IncomingMessage, res: ServerResponse, path: string): void {
    const a = this.assets.get(path)
    if (a === undefined) throw new HttpError('ERR_INTERNAL', this.missing.get(path) ?? `no dashboard file for ${path}`)
    const headers: Record<string, string | number> = {
      'content-type': a.type,
      // Revalidate every time (the files change with ringest's version, their URLs do not); the ETag makes that a 304.
      'cache-control': 'no-cache',
      etag: a.etag,
      'x-content-type-options': 'nosniff',
    }
    if (a.type === HTML) headers['content-security-policy'] = CSP
    if (matches(req.headers['if-none-match'], a.etag)) { res.writeHead(304, headers).end(); return }
    headers['content-length'] = a.body.length
    res.writeHead(200, headers).end(a.body)
  }
}

/** If-None-Match: a list of (possibly weak) tags, or `*`. */
function matches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((t) => { const v = t.trim(); return v === '*' || v === etag || v === `W/${etag}` })
}
