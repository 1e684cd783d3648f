#!/usr/bin/env node
// The installed command: runs the compiled CLI (build first: npm run build).
import { main } from '../dist/src/cli.js'

process.exitCode = await main(process.argv.slice(2))
