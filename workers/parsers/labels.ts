/** Label helpers shared by the body parsers. */
import type { Label } from './types.js'

/**
 * Label order: by name in UTF-16 code unit order (JavaScript's `<`). Every
 * ringest parser sorts with it, so one series has one key whatever the
 * protocol it came in.
 */
export function compareLabels (a: Label, b: Label): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
}

/** True if `s` holds an ASCII control character (0x00-0x1F or 0x7F). */
export function hasControl (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}
