import { defineConfig } from 'vitest/config'

// Tests import the compiled code in dist/ (npm test builds first), because
// worker threads load dist/workers/*.js and both sides must be the same code.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'native-free-ringbuffer/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
})
