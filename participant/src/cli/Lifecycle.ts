/**
 * A process's resources from its first acquisition to its exit, under SIGTERM and SIGINT. Each resource is
 * registered with its release as it is acquired, and a signal releases them all in reverse order, each even when
 * one before it failed (a `close-failed` event names it), then exits:
 *  - before the process is ready, with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM) after a
 *    `stopped` event naming the signal: a startup step under way that acquires something is let finish so that
 *    what it acquired is released too, a wait (for the coordinator) is abandoned, and no later step starts;
 *  - once it is ready (`ready`), with 0, or 1 when a release failed — an ordinary stop.
 * A second signal, while the first one's releases or the step it lets finish run, exits at once (before ready with
 * the same code, after it with 1).
 */
export const signals = { SIGINT: 2, SIGTERM: 15 } as const
export type Signal = keyof typeof signals

/** What the lifecycle needs of its process; the real one is `processHost`. */
export interface Host {
  readonly onSignal: (listener: (signal: Signal) => void) => void
  readonly exit: (code: number) => void
  /** One event for whoever started the process (a JSON line on stderr). */
  readonly report: (event: Record<string, unknown>) => void
}

export interface Lifecycle {
  /** Runs a startup step that acquires a resource, and registers its release. */
  readonly acquire: <A>(step: () => Promise<A>, release: (resource: A) => unknown) => Promise<A>
  /** Runs a startup step that acquires nothing; a signal stops the process without waiting for it. */
  readonly wait: <A>(step: () => Promise<A>) => Promise<A>
  /** The process is ready: a signal from now on is an ordinary stop. */
  readonly ready: () => void
  /** A startup step failed: what was acquired is released, then `error` is thrown on (unless a signal stops the process). */
  readonly abort: (error: unknown) => Promise<never>
}

export const make = (host: Host): Lifecycle => {
  const releases: Array<() => unknown> = []
  let isReady = false
  let signalled: Signal | undefined
  let stopping: Promise<never> | undefined
  let onSignalled: () => void = () => {}
  const signalledNow = new Promise<void>((resolve) => void (onSignalled = resolve))

  const releaseAll = async () => {
    let failed = false
    for (const release of releases.splice(0).reverse()) {
      await Promise.resolve().then(release).catch((error: unknown) => {
        failed = true
        host.report({ type: "close-failed", message: error instanceof Error ? error.message : String(error) })
      })
    }
    return failed
  }
  const codeOf = (signal: Signal, failed: boolean) => (isReady ? (failed ? 1 : 0) : 128 + signals[signal])
  /** Releases everything and exits; never settles (the process is going away). */
  const stop = (signal: Signal): Promise<never> =>
    stopping ??= releaseAll().then((failed) => {
      if (!isReady) host.report({ type: "stopped", signal, ready: false })
      host.exit(codeOf(signal, failed))
      return new Promise<never>(() => {})
    })

  host.onSignal((signal) => {
    // A second one: at once, without waiting for the releases or the step under way.
    if (signalled !== undefined) return host.exit(isReady ? 1 : 128 + signals[signalled])
    signalled = signal
    onSignalled()
    // Ready: nothing is starting, stop now. Starting: the step under way stops the process when it ends (or at once, a wait).
    if (isReady) void stop(signal)
  })

  return {
    acquire: async (step, release) => {
      if (signalled !== undefined) return stop(signalled)
      const resource = await step()
      releases.push(() => release(resource))
      if (signalled !== undefined) return stop(signalled)
      return resource
    },
    wait: async (step) => {
      if (signalled !== undefined) return stop(signalled)
      let waiting = true
      // The signal ends the wait only while it lasts: later, a step under way decides when to stop.
      const interrupted = signalledNow.then(() => (waiting ? stop(signalled!) : new Promise<never>(() => {})))
      try {
        return await Promise.race([step(), interrupted])
      } finally {
        waiting = false
      }
    },
    ready: () => {
      isReady = true
    },
    abort: async (error) => {
      if (signalled !== undefined) return stop(signalled)
      await releaseAll()
      throw error
    }
  }
}

/** This process: its SIGTERM and SIGINT, its exit, its events as JSON lines on stderr. */
export const processHost: Host = {
  onSignal: (listener) => {
    for (const signal of Object.keys(signals) as Array<Signal>) process.on(signal, () => listener(signal))
  },
  exit: (code) => process.exit(code),
  report: (event) => void process.stderr.write(JSON.stringify({ at: new Date().toISOString(), ...event }) + "\n")
}
