/**
 * Both parties of the OT-based PSI on two worker threads of this process, joined by a MessageChannel (messages
 * transferred, not copied): what a benchmark on one machine needs so that each party has its own core, and the
 * shape a participant uses to keep the engine off its event loop. Each thread is an `OtPsiParty`.
 */
import * as Comlink from "comlink"
import type { Choice } from "@jointly/backends/internal/Backends"
import { MessageChannel } from "node:worker_threads"
import type { Elements, OtPsiPartyApi, PartyResult, RunOptions } from "./OtPsiParty.ts"
import * as WorkerThread from "./WorkerThread.ts"

export interface Session {
  readonly receiver: PartyResult
  readonly sender: PartyResult
  /** Wall time from the start of both parties to the end of the later one, seconds. */
  readonly seconds: number
}

export interface Pair {
  /** Loads each party's set (outside any timing). */
  readonly load: (receiver: Elements, sender: Elements) => Promise<void>
  /** One session between the loaded sets; both parties use `options`. */
  readonly run: (options: RunOptions) => Promise<Session>
  readonly close: () => Promise<void>
}

/** `backends`: what each party's thread composes (OpenSSL's AES by default; `{ aes: "webcrypto" }` the portable one). */
export const open = async (options: { readonly backends?: Choice } = {}): Promise<Pair> => {
  const setup = { backends: options.backends ?? {} }
  const [receiver, sender] = await Promise.all([
    WorkerThread.spawn<OtPsiPartyApi>("OtPsiParty", setup),
    WorkerThread.spawn<OtPsiPartyApi>("OtPsiParty", setup)
  ])
  const channel = new MessageChannel()
  await receiver.untilExit(receiver.remote.connect(Comlink.transfer(channel.port1, [channel.port1]) as never))
  await sender.untilExit(sender.remote.connect(Comlink.transfer(channel.port2, [channel.port2]) as never))
  return {
    load: async (r, s) => {
      await Promise.all([receiver.untilExit(receiver.remote.load(r)), sender.untilExit(sender.remote.load(s))])
    },
    run: async (options) => {
      const start = performance.now()
      const [r, s] = await Promise.all([
        receiver.untilExit(receiver.remote.run("receiver", options)),
        sender.untilExit(sender.remote.run("sender", options))
      ])
      return { receiver: r, sender: s, seconds: (performance.now() - start) / 1000 }
    },
    close: async () => {
      await Promise.all([receiver.worker.terminate(), sender.worker.terminate()])
    }
  }
}
