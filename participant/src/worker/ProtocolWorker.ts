/**
 * The agent's protocol worker (DESIGN.md §2, §6): one dedicated worker thread per agent that loads the
 * datasets and runs every accepted task's stages, so the agent's event loop stays free for the socket. The
 * main thread keeps the socket, the consent policy and the keystore; only encoded bytes cross
 * (`ProtocolWorkerApi.ts`).
 *
 * One thread, not a pool seat: a task's stages keep per-attempt secrets in the thread's memory between
 * requests. If the thread dies, every stage request it was running gets a `WorkerCrashed` failure outcome, the
 * tasks it had accepted are lost (their later requests get `WorkerCrashed` too), and a fresh thread is started
 * at once with the same datasets; new tasks run there.
 */
import type { Choice } from "@jointly/backends/internal/Backends"
import { StageOutcome, StageRequest } from "@jointly/core/internal/wire/Messages"
import { Duration, Effect } from "effect"
import type { BaseWallet } from "ethers"
import { DatasetError, type DatasetSpec, type DatasetSummary } from "../datasets/Dataset.ts"
import type * as ProtocolHost from "../host/ProtocolHost.ts"
import { readOffer } from "../host/Runner.ts"
import * as ProtocolModules from "./ProtocolModules.ts"
import { AcceptReply, AcceptRequest, ContentHashReply, ContentHashRequest, decode, encode, ForgetRequest, InitReply, InitRequest, type ProtocolWorkerApi } from "./ProtocolWorkerApi.ts"
import { WorkerError } from "./WorkerPool.ts"
import * as WorkerThread from "./WorkerThread.ts"
import { Crashed, moduleUrl, transferable } from "./WorkerThread.ts"

type Thread = WorkerThread.WorkerThread<ProtocolWorkerApi> & {
  /** Tasks this thread accepted: lost with it. */
  readonly tasks: Set<string>
}

export interface Crash {
  /** Why the thread exited, e.g. `Error: … (exit code 1)`. */
  readonly detail: string
  /** Tasks accepted before the crash: their state died with the thread. */
  readonly lostTasks: ReadonlyArray<string>
}

export interface ProtocolWorkerOptions {
  readonly wallet: BaseWallet
  readonly datasets: ReadonlyArray<DatasetSpec>
  /** Called after each crash, once the replacement thread is being started. */
  readonly onCrash?: (crash: Crash) => void
  /** Extra protocol modules (URLs or file paths) exporting `protocols: Protocol[]` (`defineProtocol`): for tests. */
  readonly modules?: ReadonlyArray<string | URL>
  /** The participant's data directory (outputs, predictions, models). */
  readonly dataDir?: string
  /** The backend of each kernel family the protocol thread and its job pool compose. */
  readonly backends?: Choice
  /** Test harness only: stage handlers may use keys below production sizes. */
  readonly unsafeTestKeySizes?: boolean
  /**
   * How long `close` waits for the thread to close its runner (datasets, DuckDB and its spill directory) before
   * it terminates the thread anyway; default 30 s.
   */
  readonly closeTimeout?: Duration.Input
}

/** Closing a runner removes DuckDB's spill directory, which takes a while for a large one; a hung close does not end. */
const defaultCloseTimeout = Duration.seconds(30)

export interface ProtocolWorker extends ProtocolHost.Runner {
  /** Diagnostic: the current protocol thread's id (never the main thread's 0). */
  readonly threadId: () => Promise<number>
}

const describe = (error: unknown) => (error instanceof Crashed ? error.detail : error instanceof Error ? error.message : String(error))

/**
 * Starts the protocol thread and opens the datasets in it. Rejects with the DatasetError of a bad dataset
 * (naming the source, the line or row and the column, as opening on this thread would), or WorkerError("SpawnFailed").
 */
export const start = async (options: ProtocolWorkerOptions): Promise<ProtocolWorker> => {
  const modules = (options.modules ?? []).map(moduleUrl)
  const init = encode(InitRequest, {
    datasets: options.datasets,
    privateKey: options.wallet.privateKey,
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(options.backends === undefined ? {} : { backends: options.backends }),
    ...(options.unsafeTestKeySizes ? { unsafeTestKeySizes: true } : {})
  })
  let closed = false
  let live: Thread | undefined
  let current: Promise<Thread> | undefined
  /** Tasks of crashed threads → the crash that lost them. */
  const lost = new Map<string, string>()

  const spawn = async (): Promise<{ thread: Thread; datasets: ReadonlyArray<DatasetSummary> }> => {
    let thread: WorkerThread.WorkerThread<ProtocolWorkerApi> | undefined
    try {
      thread = await WorkerThread.spawn<ProtocolWorkerApi>("ProtocolWorkerHost", { modules })
      const reply = decode(InitReply, await thread.untilExit(thread.remote.init(transferable(init.slice()))))
      if (!reply.ok) throw reply.error
      return { thread: { ...thread, tasks: new Set() }, datasets: reply.datasets }
    } catch (error) {
      await thread?.worker.terminate()
      if (error instanceof WorkerError || error instanceof DatasetError) throw error
      throw new WorkerError({ reason: "SpawnFailed", job: "protocol.init", detail: describe(error) })
    }
  }

  // Terminating alone would skip the thread's finalizers: DuckDB's spill directory would stay on disk. A thread
  // that does not close in time (a stage stuck in a synchronous loop never reads the close message, a runner
  // whose close hangs) is terminated all the same: `close` ends, and a DuckDB directory left behind is cleared
  // at the next start.
  const closeTimeout = options.closeTimeout ?? defaultCloseTimeout
  const shut = async (thread: Thread) => {
    await Effect.runPromise(Effect.ignore(Effect.timeout(Effect.tryPromise(() => thread.untilExit(thread.remote.close())), closeTimeout)))
    await thread.worker.terminate()
  }

  const closedError = () => new WorkerError({ reason: "WorkerCrashed", job: "protocol", detail: "the protocol worker is closed" })

  const watch = (thread: Thread) => {
    live = thread
    void thread.exited.then((detail) => {
      if (closed || live !== thread) return
      live = undefined
      current = undefined
      for (const taskId of thread.tasks) lost.set(taskId, detail)
      void ensure().catch(() => {}) // a failed restart is retried by the next call
      options.onCrash?.({ detail, lostTasks: [...thread.tasks] })
    })
    return thread
  }

  /** The live thread, or a fresh one when the last one died and could not be restarted yet. */
  const ensure = (): Promise<Thread> => {
    if (closed) return Promise.reject(closedError())
    if (current === undefined) {
      const starting = spawn().then(async ({ thread }) => {
        if (closed) {
          await shut(thread)
          throw closedError()
        }
        return watch(thread)
      })
      current = starting
      starting.catch(() => {
        if (current === starting) current = undefined
      })
    }
    return current
  }

  // The agent's thread reads offers by the same declarations the protocol thread runs them by.
  const protocols = await ProtocolModules.load(modules)
  const first = await spawn()
  current = Promise.resolve(watch(first.thread))

  const crashedOutcome = (request: StageRequest, thread: Thread, detail: string): StageOutcome => ({
    ok: false,
    code: "WorkerCrashed",
    detail:
      `the protocol worker crashed during stage ${request.stage} (${detail}); it is restarted, and the tasks it had ` +
      `accepted are lost: ${[...thread.tasks].join(", ") || "none"}`
  })

  return {
    datasets: first.datasets,
    // Offers are read on this thread (the agent's, which holds every declaration), with no trip to the worker.
    read: async (spec) => readOffer(spec, options.wallet.address, protocols),
    accept: async (taskId, spec) => {
      try {
        const thread = await ensure()
        // The spec crosses as sent (params encoded); the thread decodes it by the same declaration.
        const reply = decode(AcceptReply, await thread.untilExit(thread.remote.accept(transferable(encode(AcceptRequest, { taskId, spec })))))
        if (reply.ok) {
          thread.tasks.add(taskId)
          lost.delete(taskId)
        }
        return reply
      } catch (error) {
        return { ok: false, problem: `the protocol worker failed: ${describe(error)}` }
      }
    },
    stage: async (request) => {
      const lostBy = lost.get(request.taskId)
      if (lostBy !== undefined) {
        return { ok: false, code: "WorkerCrashed", detail: `task ${request.taskId} was lost when the protocol worker crashed (${lostBy})` }
      }
      let thread: Thread
      try {
        thread = await ensure()
      } catch (error) {
        return { ok: false, code: "WorkerCrashed", detail: `the protocol worker could not be restarted: ${describe(error)}` }
      }
      try {
        return decode(StageOutcome, await thread.untilExit(thread.remote.stage(transferable(encode(StageRequest, request)))))
      } catch (error) {
        if (error instanceof Crashed) return crashedOutcome(request, thread, error.detail)
        return { ok: false, code: "Internal", detail: `the protocol worker failed: ${describe(error)}` }
      }
    },
    forget: async (taskId) => {
      lost.delete(taskId)
      const thread = live
      if (thread === undefined || !thread.tasks.delete(taskId)) return
      await thread.untilExit(thread.remote.forget(transferable(encode(ForgetRequest, { taskId })))).catch(() => {})
    },
    close: async () => {
      closed = true
      const thread = live
      const starting = current
      live = undefined
      current = undefined
      if (thread !== undefined) await shut(thread)
      // A replacement still starting terminates itself once it sees `closed`.
      await starting?.catch(() => {})
    },
    contentHash: async (name) => {
      const thread = await ensure()
      const reply = decode(ContentHashReply, await thread.untilExit(thread.remote.contentHash(transferable(encode(ContentHashRequest, { name })))))
      if (!reply.ok) throw reply.error
      return reply.contentHash
    },
    threadId: async () => {
      const thread = await ensure()
      return thread.untilExit(thread.remote.threadId())
    }
  }
}
