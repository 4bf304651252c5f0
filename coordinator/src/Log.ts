/**
 * Structured logs to stderr (stdout belongs to results and `--json`). The level is the caller's: an entry point
 * reads it from JOINTLY_LOG (`levelOf`) and passes it down; a library never reads the environment.
 */
const levels = { error: 0, warn: 1, info: 2, debug: 3 } as const
export type Level = keyof typeof levels

export interface Log {
  readonly error: (message: string, fields?: Record<string, unknown>) => void
  readonly warn: (message: string, fields?: Record<string, unknown>) => void
  readonly info: (message: string, fields?: Record<string, unknown>) => void
  readonly debug: (message: string, fields?: Record<string, unknown>) => void
}

/** A level named by text (JOINTLY_LOG at an entry point); anything else is the default, warn. */
export const levelOf = (text: string | undefined): Level => (text !== undefined && text in levels ? (text as Level) : "warn")

export const make = (component: string, level: Level = "warn"): Log => {
  const threshold = levels[level] ?? levels.warn
  const write = (at: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (levels[at] > threshold) return
    process.stderr.write(JSON.stringify({ at: new Date().toISOString(), level: at, component, message, ...fields }) + "\n")
  }
  return { error: write("error"), warn: write("warn"), info: write("info"), debug: write("debug") }
}
