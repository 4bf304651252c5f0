/**
 * The round engine's Channel (`@jointly/core/internal/runtime/Channel`) over the socket.io hub: requests go out as
 * `stage.request` events to the participant's socket (reminders as `stage.remind`), each acknowledged on receipt
 * with a StageReceipt that is told to the engine; the hub hands decoded `stage.reply` events and disconnections
 * back here. A reply the engine refuses rejects with its WireRefusal, which the hub turns into a
 * `wire.error` to that sender.
 */
import { Effect, Layer } from "effect"
import { Channel, type Inbound } from "@jointly/core/internal/runtime/Channel"
import type { StageReply } from "@jointly/core/internal/wire/Messages"
import { WireRefusal } from "@jointly/core/internal/wire/Messages"
import type { HubShape } from "./Hub.ts"

export const make = (hub: Pick<HubShape, "request" | "remind">) => {
  let inbound: Inbound | undefined
  /** The fate of one sending, told to the engine (it sends a lost request again). */
  const receipt = (participant: string, requestId: string) => (delivered: boolean) => {
    if (inbound !== undefined) Effect.runSync(inbound.receipt(participant, requestId, delivered))
  }
  const channel = Channel.of({
    send: (participant, request) => Effect.sync(() => hub.request(participant, request, receipt(participant, request.requestId))),
    remind: (participant, reminder) => Effect.sync(() => hub.remind(participant, reminder, () => receipt(participant, reminder.requestId)(false))),
    listen: (handlers) => Effect.sync(() => void (inbound = handlers))
  })
  return {
    layer: Layer.succeed(Channel, channel),
    /** For `Hub.bind`: a participant's stage reply. */
    reply: (account: string, message: StageReply): Effect.Effect<void, WireRefusal> =>
      inbound === undefined
        ? Effect.fail(new WireRefusal({ code: "UnknownTask", detail: "no task is running", ref: message.requestId }))
        : inbound.reply(account, message),
    /** For `Hub.bind`: a participant's socket closed. */
    offline: (account: string): void => {
      if (inbound !== undefined) Effect.runSync(inbound.offline(account))
    },
    /** For `Hub.bind` and the cluster's presence: a participant connected, here or at another instance. */
    online: (account: string): void => {
      if (inbound !== undefined) Effect.runSync(inbound.online(account))
    }
  }
}

export type SocketChannel = ReturnType<typeof make>
