/**
 * Every error ringest answers with has a stable code, an HTTP status and a
 * line of documentation. Clients should match on `code`, not on messages.
 * test/errors.test.ts checks that each code is in the README's errors table.
 */
export const Errors = {
  ERR_PARSE: { status: 400, doc: 'Some or all lines (or JSON entries) were rejected; the valid ones are stored. The body lists accepted, rejected and the first 100 errors with their line numbers.' },
  ERR_TOO_OLD: { status: 400, doc: 'Some or all samples were further than --ooo-window-ms behind their series\' newest sample and were rejected; everything else in the body is stored. The body gives accepted, tooOld (samples) and an error with line 0 (the body as a whole).' },
  ERR_BAD_ENCODING: { status: 400, doc: 'The body is not valid gzip although Content-Encoding says gzip.' },
  ERR_BAD_PRECISION: { status: 400, doc: 'Unknown `precision` query parameter (use ns, us, ms, s, m, h; or n, u, µ).' },
  ERR_BAD_REQUEST: { status: 400, doc: 'A query parameter is malformed (for example `match[]`, `start` or `end` of an export).' },
  ERR_BAD_LOG_LEVEL: { status: 400, doc: 'PUT /admin/log-level: the body is not `{"level": L}` with L one of fatal, error, warn, info, debug, trace, silent.' },
  ERR_ADMIN_FORBIDDEN: { status: 403, doc: '/admin/ endpoints answer only requests from a loopback address (they have no authentication).' },
  ERR_NOT_FOUND: { status: 404, doc: 'No such endpoint.' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, doc: 'The endpoint exists but not for this HTTP method; the Allow header lists the methods.' },
  ERR_REQUEST_TIMEOUT: { status: 408, doc: 'The request head or body did not arrive within --headers-timeout-ms / --request-timeout-ms; the connection is closed.' },
  ERR_BODY_TOO_LARGE: { status: 413, doc: 'The body (after decompression) is larger than --max-body-bytes.' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'Content-Type not accepted by this endpoint.' },
  ERR_UNSUPPORTED_ENCODING: { status: 415, doc: 'Content-Encoding other than gzip or identity.' },
  ERR_EXPORT_TOO_LARGE: { status: 422, doc: 'An export would hold more samples than the export limit; narrow `match[]` or the time range.' },
  ERR_QUERY_BAD_DATA: { status: 400, doc: 'Query API: the expression or a parameter is invalid, or uses PromQL outside the supported subset (the message names the part). Prometheus errorType `bad_data`.' },
  ERR_QUERY_LIMIT: { status: 422, doc: 'Query API: the query selects more series than --query-max-series or loads more samples than --query-max-samples (the message names the limit). Prometheus errorType `execution`.' },
  ERR_QUERY_TIMEOUT: { status: 503, doc: 'Query API: the query ran past --query-timeout-ms and was cancelled. Prometheus errorType `timeout`.' },
  ERR_QUERY_OVERLOADED: { status: 503, doc: 'Query API: more than --query-max-queue queries are waiting; retry after Retry-After seconds. Prometheus errorType `unavailable`.' },
  ERR_INTERNAL: { status: 500, doc: 'A bug: the request failed in a way ringest did not expect. The log has the details.' },
  ERR_OVERLOADED: { status: 503, doc: 'ringest cannot keep up (rings full past the admission wait, parse queue full, or too many bytes in flight). Nothing of the request was stored; retry after Retry-After seconds.' },
  ERR_ACK_TIMEOUT: { status: 503, doc: 'The samples were accepted but their commit to disk did not complete in time; retry (a retry may store a sample twice with the same timestamp, which reads back once).' },
  ERR_SHUTTING_DOWN: { status: 503, doc: 'ringest is stopping and takes no new writes; retry after Retry-After seconds (against the restarted or another instance).' },
  ERR_TOO_MANY_STREAMS: { status: 503, doc: 'GET /stats/stream: the limit of 16 open streams (dashboards) is reached; close one, or retry after Retry-After seconds.' },
} as const

export type ErrorCode = keyof typeof Errors

export class HttpError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly extra: Record<string, unknown> | undefined
  constructor (code: ErrorCode, message: string, extra?: Record<string, unknown>) {
    super(message)
    this.code = code
    this.status = Errors[code].status
    this.extra = extra
  }
}
