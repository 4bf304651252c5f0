/**
 * Progress bars for the CLI's long phases (PSI chunks, training rounds, secure-aggregation stages), fed by the
 * `Progress` events of a task. Drawn on stderr only when stderr is a terminal; anywhere else (a pipe, a CI
 * log, a notebook) the renderer writes nothing, so stdout stays the result and stderr stays readable.
 * Our own ~50 lines rather than `cli-progress`: one redrawn line per stage is all we draw, and it keeps the
 * CLI free of a dependency and of its terminal handling.
 */
import type { Progress } from "../client/Client.ts"

export interface Sink {
  readonly isTTY?: boolean
  readonly columns?: number
  write(text: string): unknown
}

export interface Renderer {
  /** Draws (or redraws) the bar of `progress.stage`; a new stage ends the previous bar's line. */
  readonly progress: (progress: Progress) => void
  /** A line of text above the bar (status changes); quiet like the bars unless `lines` is set. */
  readonly line: (text: string) => void
  /** Ends the current bar's line. */
  readonly done: () => void
}

const width = 24

export const bar = (p: Progress, columns = 80) => {
  const fraction = p.total > 0 ? Math.min(1, p.done / p.total) : 0
  const filled = Math.round(fraction * width)
  const text = `  ${p.stage.padEnd(18)} ${"█".repeat(filled)}${"░".repeat(width - filled)} ${String(p.done).padStart(String(p.total).length)}/${p.total}${p.detail ? `  ${p.detail}` : ""}`
  return text.length > columns - 1 ? text.slice(0, columns - 2) + "…" : text
}

/**
 * `lines`: also print status lines when stderr is not a terminal (the human CLI does; `--json` does not).
 */
export const make = (sink: Sink = process.stderr, options: { lines?: boolean } = {}): Renderer => {
  const tty = sink.isTTY === true
  let stage: string | undefined
  let drawn = ""
  const clear = () => {
    if (drawn) sink.write("\r\x1b[2K")
  }
  return {
    progress: (p) => {
      if (!tty) return
      if (stage !== undefined && stage !== p.stage) {
        sink.write("\n")
        drawn = ""
      }
      stage = p.stage
      clear()
      drawn = bar(p, sink.columns ?? 80)
      sink.write(drawn)
    },
    line: (text) => {
      if (!tty && !options.lines) return
      clear()
      sink.write(`» ${text}\n`)
      if (drawn) sink.write(drawn)
    },
    done: () => {
      if (tty && drawn) sink.write("\n")
      drawn = ""
      stage = undefined
    }
  }
}
