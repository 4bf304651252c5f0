/**
 * The page's side of the protocol worker (ProtocolWorker.ts): a `Runner` (host/Runner.ts) whose every call goes to
 * one dedicated Web Worker, so decoding payloads, masking, set operations and sealing never hold the page's main
 * thread (the page keeps only the socket, the consent policy, the key and its own UI). What crosses: the page's
 * dataset handles once (File/Blob by reference, tables by structured clone), task specs as sent, stage requests
 * and outcomes as decoded; signatures come back to the page (`sign`), which holds the key.
 *
 * One worker, not a pool seat: a task's stages keep per-attempt secrets in its memory. If it dies (an uncaught
 * error, the tab's memory limit), the stages it was running and every later stage of the tasks it had accepted
 * fail with WorkerCrashed, and a fresh worker with the same datasets serves the next task — as on Node.
 */
import * as Comlink from "comlink"
import { DatasetError, type DatasetSummary } from "../datasets/Dataset.ts"
import { ContentHashReply, decode, InitReply } from "../worker/ProtocolWorkerReplies.ts"
import { Crashed, type Thread } from "../worker/Thread.ts"
import type * as BrowserRunner from "./BrowserRunner.ts"
import { KeepModelReply } from "./KeptModel.ts"
import type { ProtocolWorkerApi, ProtocolWorkerSetup } from "./ProtocolWorker.ts"
import { startThread } from "./WebThread.ts"

export interface ProtocolThreadOptions {
  /** URL of `jointly-protocol-worker.js`. */
  readonly workerUrl: string
  readonly setup: Omit<ProtocolWorkerSetup, "takesOutputs">
  readonly sign: (message: Uint8Array) => Promise<string>
  readonly onOutput?: (output: BrowserRunner.Output) => void
}

const describe = (error: unknown) => (error instanceof Crashed ? error.detail : error instanceof Error ? error.message : String(error))

type Live = Thread<ProtocolWorkerApi> & { readonly tasks: Set<string> }

/** Starts the worker and opens the datasets in it; rejects with the DatasetError of a bad dataset. */
export const start = async (options: ProtocolThreadOptions): Promise<BrowserRunner.BrowserRunner> => {
  const setup: ProtocolWorkerSetup = { ...options.setup, takesOutputs: options.onOutput !== undefined }
  const sign = Comlink.proxy(options.sign)
  const onOutput = Comlink.proxy((output: BrowserRunner.Output) => options.onOutput?.(output))
  let closed = false
  /** Tasks of a crashed worker → why it died. */
  const lost = new Map<string, string>()

  const spawn = async (): Promise<{ readonly thread: Live; readonly datasets: ReadonlyArray<DatasetSummary> }> => {
    const thread = startThread<ProtocolWorkerApi>(options.workerUrl, "jointly-protocol")
    try {
      const reply = decode(InitReply, await thread.untilExit(Promise.resolve(thread.remote.init(setup, sign, onOutput))))
      if (!reply.ok) throw reply.error
      const live: Live = { ...thread, tasks: new Set() }
      void thread.exited.then((detail) => {
        for (const taskId of live.tasks) lost.set(taskId, detail)
      })
      return { thread: live, datasets: reply.datasets }
    } catch (error) {
      await thread.terminate()
      throw error instanceof DatasetError ? error : new Error(`the protocol worker did not start: ${describe(error)}`)
    }
  }

  /** The live worker; cleared when it dies, so the next call starts a fresh one. */
  let current: Promise<Live> | undefined
  const watch = (starting: Promise<Live>) => {
    current = starting
    starting.then(
      (thread) => void thread.exited.then(() => (current === starting ? (current = undefined) : undefined)),
      () => (current === starting ? (current = undefined) : undefined)
    )
    return starting
  }
  const first = await spawn()
  watch(Promise.resolve(first.thread))
  const ensure = (): Promise<Live> => {
    if (closed) return Promise.reject(new Error("the participant is closed"))
    return current ?? watch(spawn().then(({ thread }) => thread))
  }

  return {
    datasets: first.datasets,
    read: async (spec) => {
      try {
        const thread = await ensure()
        return await thread.untilExit(Promise.resolve(thread.remote.read(spec)))
      } catch (error) {
        return { ok: false, problem: `the protocol worker failed: ${describe(error)}` }
      }
    },
    accept: async (taskId, spec) => {
      try {
        const thread = await ensure()
        const outcome = await thread.untilExit(Promise.resolve(thread.remote.accept(taskId, spec)))
        if (outcome.ok) {
          thread.tasks.add(taskId)
          lost.delete(taskId)
        }
        return outcome
      } catch (error) {
        return { ok: false, problem: `the protocol worker failed: ${describe(error)}` }
      }
    },
    stage: async (request) => {
      const lostBy = lost.get(request.taskId)
      if (lostBy !== undefined) return { ok: false, code: "WorkerCrashed", detail: `task ${request.taskId} was lost when the protocol worker crashed (${lostBy})` }
      try {
        const thread = await ensure()
        return await thread.untilExit(Promise.resolve(thread.remote.stage(request)))
      } catch (error) {
        return error instanceof Crashed
          ? { ok: false, code: "WorkerCrashed", detail: `the protocol worker crashed during stage ${request.stage} (${error.detail}); the tasks it had accepted are lost` }
          : { ok: false, code: "Internal", detail: `the protocol worker failed: ${describe(error)}` }
      }
    },
    forget: async (taskId) => {
      lost.delete(taskId)
      const thread = await current?.catch(() => undefined)
      if (thread === undefined || !thread.tasks.delete(taskId)) return
      await thread.untilExit(Promise.resolve(thread.remote.forget(taskId))).catch(() => {})
    },
    contentHash: async (name) => {
      const thread = await ensure()
      const reply = decode(ContentHashReply, await thread.untilExit(Promise.resolve(thread.remote.contentHash(name))))
      if (!reply.ok) throw reply.error
      return reply.contentHash
    },
    keepModel: async (artifact) => {
      const thread = await ensure()
      const reply = decode(KeepModelReply, await thread.untilExit(Promise.resolve(thread.remote.keepModel(artifact))))
      if (!reply.ok) throw reply.error
      return { modelId: reply.modelId, digest: reply.digest }
    },
    close: async () => {
      closed = true
      const thread = await current?.catch(() => undefined)
      current = undefined
      if (thread === undefined) return
      // The worker closes its job pool's workers first; a worker that does not answer is terminated anyway.
      await Promise.race([thread.untilExit(Promise.resolve(thread.remote.close())).catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2_000))])
      await thread.terminate()
    }
  }
}
