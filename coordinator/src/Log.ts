/**
 * Structured logs to stderr (stdout belongs to results and `--json`). Quiet by default in tests; the level comes
 * from JOINTLY_LOG (error | warn | info | debug).
 */
const levels = { error: 0, warn: 1, info: 2, debug: 3 } as const
type Level = keyof typeof levels

export interface Log {
  readonly error: (message: string, fields?: Record<string, unknown>) => void
  readonly warn: (message: string, fields?: Record<string, unknown>) => void
  readonly info: (message: string, fields?: Record<string, unknown>) => void
  readonly debug: (message: string, fields?: Record<string, unknown>) => void
}

export const make = (component: string, level: Level = (process.env.JOINTLY_LOG as Level) ?? "warn"): Log => {
  const threshold = levels[level] ?? levels.warn
  const write = (at: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (levels[at] > threshold) return
    process.stderr.write(JSON.stringify({ at: new Date().toISOString(), level: at, component, message, ...fields }) + "\n")
  }
  return { error: write("error"), warn: write("warn"), info: write("info"), debug: write("debug") }
}
