/**
 * Running worker-thread fixtures from tests: every run has a deadline, and a
 * worker that throws, exits without answering or overruns fails the test.
 */
import { Worker } from 'node:worker_threads'

export interface Running<T> {
  worker: Worker
  /** The one message the fixture posts when it is done. */
  result: Promise<T>
}

/**
 * Starts `test/fixtures/<name>` in a real worker thread. `result` resolves
 * with the fixture's message, and rejects if the worker throws, exits without
 * posting, or is still running after `timeoutMs` (it is then terminated).
 */
export function startWorker<T> (name: string, workerData: unknown, timeoutMs: number): Running<T> {
  const worker = new Worker(new URL(`./fixtures/${name}`, import.meta.url), { workerData })
  const result = new Promise<T>((resolve, reject) => {
    let answered = false
    const timer = setTimeout(() => {
      reject(new Error(`${name} still running after ${timeoutMs} ms`))
      void worker.terminate()
    }, timeoutMs)
    worker.once('message', (m: T) => { answered = true; clearTimeout(timer); resolve(m) })
    worker.once('error', (err) => { clearTimeout(timer); reject(err) })
    worker.once('exit', (code) => {
      clearTimeout(timer)
      if (!answered) reject(new Error(`${name} exited with code ${code} without posting a result`))
    })
  })
  return { worker, result }
}

/** Resolves with `p`'s value, or with `fallback` if `p` has not settled after `ms`. Used to observe that something has *not* happened yet. */
export async function settledWithin<T, F> (p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<F>((resolve) => { timer = setTimeout(() => resolve(fallback), ms) })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}
