/**
 * Token buckets keyed by client address or account: `capacity` requests at once, refilled at `perSecond`. A key
 * idle long enough to be full again is forgotten, so a flood of distinct keys costs memory only while it lasts.
 */
export interface BucketOptions {
  /** Burst size. */
  readonly capacity: number
  /** Sustained requests per second. */
  readonly perSecond: number
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number }

const allowed: Verdict = { ok: true }

export const make = (options: BucketOptions, now: () => number = Date.now) => {
  const buckets = new Map<string, { tokens: number; at: number }>()
  const fullAfterMs = (options.capacity / options.perSecond) * 1000
  let lastSweep = now()

  const sweep = (t: number) => {
    if (t - lastSweep < fullAfterMs) return
    lastSweep = t
    for (const [key, b] of buckets) if (t - b.at >= fullAfterMs) buckets.delete(key)
  }

  return {
    /** Takes one token for `key`; when none is left, how long until one is. */
    take: (key: string): Verdict => {
      const t = now()
      sweep(t)
      const b = buckets.get(key)
      const tokens = b === undefined ? options.capacity : Math.min(options.capacity, b.tokens + ((t - b.at) / 1000) * options.perSecond)
      if (tokens < 1) {
        buckets.set(key, { tokens, at: t })
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / options.perSecond)) }
      }
      buckets.set(key, { tokens: tokens - 1, at: t })
      return allowed
    },
    size: () => buckets.size
  }
}

export type RateLimiter = ReturnType<typeof make>
