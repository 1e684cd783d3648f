/**
 * The parser benchmarks' sample sink: resolves series through a Map (as the
 * ring writer does) and sums what it gets, so no parse is optimised away.
 */
import type { Label, SampleSink } from '../../workers/parsers/types.js'

export class CountingSink implements SampleSink {
  private readonly ids = new Map<string, number>()
  samples = 0
  sum = 0
  seriesId (name: string, labels: readonly Label[]): number {
    let key = name
    for (const [k, v] of labels) key += '\0' + k + '\0' + v
    let id = this.ids.get(key)
    if (id === undefined) { id = this.ids.size; this.ids.set(key, id) }
    return id
  }

  sample (_id: number, timestampMs: number, value: number): void {
    this.samples++
    this.sum += value + timestampMs * 1e-12
  }
}
