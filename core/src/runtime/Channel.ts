/**
 * The wire between the round engine and the participants, and nothing else: the engine sends encoded stage
 * requests through it and hears replies and departures from it. Two Layers implement it — the socket.io hub
 * (`coordinator/src/transport/SocketChannel.ts`) for real processes and `core/src/testing/InMemoryChannel.ts`
 * for protocol tests — so both settle rounds by the same engine (`RoundEngine.ts`).
 */
import { Context, type Effect } from "effect"
import type { StageReminder, StageReply, StageRequest, WireRefusal } from "../wire/Messages.ts"

/** What the engine hears from the channel. */
export interface Inbound {
  /**
   * A participant's answer, exactly as it arrived (the stage payload still encoded). Fails with the WireRefusal
   * the channel reports to that sender (replayed, not addressed to it, malformed …); nothing else changes.
   */
  readonly reply: (from: string, reply: StageReply) => Effect.Effect<void, WireRefusal>
  /** A participant left: its open requests settle as missing at once. */
  readonly offline: (participant: string) => Effect.Effect<void>
  /**
   * A participant (re)connected, possibly to another coordinator instance after the one holding its socket died,
   * or messages to and from it may have been lost (the cluster's listener reconnected): its open requests it has
   * not acknowledged are sent again, and those it has are reminded of (a request or reply in flight is gone).
   */
  readonly online: (participant: string) => Effect.Effect<void>
  /**
   * What became of one sending of a request or reminder: the participant acknowledged it (`true`), or the channel
   * knows it did not arrive — no acknowledgement in time, nobody to deliver to, the participant had forgotten it
   * (`false`). A sending whose fate is never told stays awaited and is not sent again by the schedule (only when
   * its participant comes back, `online`): a channel reports each one.
   */
  readonly receipt: (participant: string, requestId: string, delivered: boolean) => Effect.Effect<void>
}

export class Channel extends Context.Service<Channel, {
  /** Sends one request; `false` when the participant is not connected (it counts as offline at once). */
  readonly send: (participant: string, request: StageRequest) => Effect.Effect<boolean>
  /**
   * Asks for the reply to an acknowledged request again, without its payload (absent: reminders are not needed,
   * the channel loses no reply); `false` when the participant is not connected.
   */
  readonly remind?: (participant: string, reminder: StageReminder) => Effect.Effect<boolean>
  /** Where inbound messages go; the engine registers itself once, when its Layer is built. */
  readonly listen: (inbound: Inbound) => Effect.Effect<void>
}>()("jointly/Channel") {}
