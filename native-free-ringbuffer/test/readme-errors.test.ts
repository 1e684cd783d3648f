/** Every error code the package can throw is documented in the README's errors table, and the table names no other. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../dist/src/index.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

describe('README errors table', () => {
  it('documents exactly the codes in ErrorCodes, each with a description', () => {
    const rows = [...readme.matchAll(/^\|\s*`(ERR_[A-Z_]+)`\s*\|([^|]*)\|/gm)]
    const documented = rows.map((m) => m[1])
    expect(documented.length).toBeGreaterThan(0)
    expect(new Set(documented).size).toBe(documented.length)
    expect([...documented].sort()).toEqual(Object.values(ErrorCodes).sort())
    for (const m of rows) expect(m[2]!.trim().length, m[1]).toBeGreaterThan(10)
  })
})
