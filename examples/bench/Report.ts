/**
 * The benchmark line format (DESIGN.md §10) and the timing helper every suite shares. One JSON object per
 * line on stdout, nothing else there; progress goes to stderr.
 */
export interface Result {
  readonly suite: string
  readonly metric: string
  readonly params: Record<string, string | number | boolean>
  readonly value: number
  /** Omitted together with baseline_value and ratio when a metric has no natural baseline. */
  readonly baseline?: string
  readonly baseline_value?: number
  /** value / baseline_value, oriented so that bigger is better. */
  readonly ratio?: number
}

const round = (x: number) => Number(x.toPrecision(5))

export const emit = (r: Result): void => {
  const line: Record<string, unknown> = { suite: r.suite, metric: r.metric, params: r.params, value: round(r.value) }
  if (r.baseline !== undefined && r.baseline_value !== undefined) {
    line.baseline = r.baseline
    line.baseline_value = round(r.baseline_value)
    line.ratio = round(r.ratio ?? r.value / r.baseline_value)
  }
  process.stdout.write(JSON.stringify(line) + "\n")
}

export const progress = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`)
}

export interface MeasureOptions {
  /** Untimed calls first (JIT, caches, tables). */
  readonly warmup?: number
  /** Timed runs; the median is reported. */
  readonly runs?: number
  /** Each run repeats the operation until at least this long has passed. */
  readonly minRunMs?: number
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Operations per second: median over runs of (ops in the run / run time). */
export const opsPerSecond = async (op: () => unknown | Promise<unknown>, options: MeasureOptions = {}): Promise<number> => {
  const { warmup = 2, runs = 5, minRunMs = 300 } = options
  for (let i = 0; i < warmup; i++) await op()
  const rates: Array<number> = []
  for (let r = 0; r < runs; r++) {
    let ops = 0
    const start = performance.now()
    let elapsed = 0
    do {
      await op()
      ops++
      elapsed = performance.now() - start
    } while (elapsed < minRunMs)
    rates.push((ops * 1000) / elapsed)
  }
  return median(rates)
}
