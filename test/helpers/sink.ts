/**
 * Test doubles for the body parsers: a sink that records everything (series
 * shown as `name{k="v",...}`) and checks the sink contract the parsers promise.
 */
import type { Label, SampleSink } from '../../dist/workers/parsers/types.js'
export { mulberry32 } from '../../dist/bench/lib/bodies.js'

export class RecordingSink implements SampleSink {
  readonly ids = new Map<string, number>()
  readonly keys: string[] = []
  readonly samples: Array<{ series: string, t: number, v: number }> = []
  seriesCalls = 0
  seriesId (name: string, labels: readonly Label[]): number {
    this.seriesCalls++
    for (let i = 0; i < labels.length; i++) {
      const [k, v] = labels[i]!
      if (k === '' || v === '') throw new Error('test sink: empty label name or value')
      if (i > 0 && !(labels[i - 1]![0] < k)) throw new Error('test sink: labels not sorted or not unique')
    }
    const key = `${name}{${labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`
    let id = this.ids.get(key)
    if (id === undefined) {
      id = this.keys.length
      this.keys.push(key)
      this.ids.set(key, id)
    }
    return id
  }

  sample (id: number, t: number, v: number): void {
    this.samples.push({ series: this.keys[id]!, t, v })
  }
}
