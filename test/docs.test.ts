import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { Errors } from '../dist/src/errors.js'
import { OPTIONS } from '../dist/src/config.js'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

it('every error code is in the README errors table with its status', () => {
  for (const [code, { status }] of Object.entries(Errors)) {
    expect(readme, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`))
  }
})

it('every option is in the README configuration table with its environment variable', () => {
  for (const o of Object.values(OPTIONS)) {
    expect(readme, o.flag).toContain(`| \`${o.flag}\` | \`${o.env}\` |`)
  }
})
