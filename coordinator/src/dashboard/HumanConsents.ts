/**
 * Consents waiting for a human (participant policy `mode: "ask"`). The participant announces the wait over its
 * socket; the dashboard lists it; a human's decision, MAC'd in the browser with that participant's dashboard
 * token, is relayed to the participant, which checks the MAC, then signs the consent with its own key
 * (participant/src/policy/HumanToken.ts). The coordinator holds no token and no key: it can delay a decision,
 * never make one. Kept in memory: a participant announces its waits again whenever it reconnects. Several
 * coordinator instances each keep the whole list: the instance that hears a change applies it and tells the others
 * (`mirror`, through the cluster bridge), which apply it without announcing it again.
 */
import { Effect } from "effect"
import { DecisionRefused, NotPending, ParticipantUnreachable } from "@jointly/core/internal/api/Errors"
import type { AwaitingHuman, HumanAck, HumanDecision } from "@jointly/core/internal/wire/Messages"
import type { Bus } from "./Live.ts"

export interface PendingConsent {
  readonly taskId: string
  readonly participant: string
  readonly summary: string
  readonly since: string
}

export type Change =
  | { readonly op: "awaiting"; readonly participant: string; readonly awaiting: AwaitingHuman }
  | { readonly op: "answered"; readonly taskId: string; readonly participant: string }
  | { readonly op: "ended"; readonly taskId: string }

export const make = (deps: {
  bus: Bus
  relay: (account: string, decision: HumanDecision) => Promise<HumanAck | undefined>
  /** Tells the other instances of a change made here. */
  share?: (change: Change) => void
}) => {
  const pending = new Map<string, PendingConsent>()
  const share = deps.share ?? (() => {})
  const key = (taskId: string, participant: string) => `${taskId.toLowerCase()}/${participant.toLowerCase()}`
  const remove = (taskId: string, participant: string, announce: boolean) => {
    if (pending.delete(key(taskId, participant)) && announce) deps.bus.publish({ type: "human", taskId, participant, pending: false })
  }
  const drop = (taskId: string, participant: string) => {
    remove(taskId, participant, true)
    share({ op: "answered", taskId, participant })
  }
  const put = (participant: string, message: AwaitingHuman) =>
    pending.set(key(message.taskId, participant), { taskId: message.taskId, participant, summary: message.summary, since: new Date().toISOString() })
  const endTask = (taskId: string, announce: boolean) => {
    for (const p of [...pending.values()]) if (p.taskId.toLowerCase() === taskId.toLowerCase()) remove(p.taskId, p.participant, announce)
  }

  return {
    awaiting: (participant: string, message: AwaitingHuman) => {
      put(participant, message)
      deps.bus.publish({ type: "human", taskId: message.taskId, participant, pending: true })
      share({ op: "awaiting", participant, awaiting: message })
    },
    /** A change another instance made (and announced). */
    mirror: (change: Change) => {
      if (change.op === "awaiting") put(change.participant, change.awaiting)
      else if (change.op === "answered") remove(change.taskId, change.participant, false)
      else endTask(change.taskId, false)
    },
    list: (): ReadonlyArray<PendingConsent> => [...pending.values()],
    /** The participant answered (its signed consent arrived) or went away (it announces again on return). */
    answered: drop,
    /** Every instance hears of the departure itself (presence), so this is not shared. */
    offline: (participant: string) => {
      for (const p of [...pending.values()]) if (p.participant.toLowerCase() === participant.toLowerCase()) remove(p.taskId, p.participant, true)
    },
    taskEnded: (taskId: string) => {
      endTask(taskId, true)
      share({ op: "ended", taskId })
    },
    /**
     * Relays a decision; the participant's answer says whether the token matched. Each refusal is its own tagged
     * error (nothing waits, nobody answered, the participant refused); a relay that fails outright (the socket
     * dropped mid-ask) is the participant not answering, ParticipantUnreachable.
     */
    decide: (participant: string, decision: HumanDecision): Effect.Effect<void, NotPending | ParticipantUnreachable | DecisionRefused> =>
      Effect.gen(function*() {
        const waiting = pending.get(key(decision.taskId, participant))
        if (!waiting) return yield* new NotPending({ message: `no consent of ${participant} for task ${decision.taskId} waits for a human` })
        const ack = yield* Effect.tryPromise({
          try: () => deps.relay(waiting.participant, decision),
          catch: (error) => new ParticipantUnreachable({ message: `the decision could not be relayed to participant ${participant}: ${error instanceof Error ? error.message : String(error)}` })
        })
        if (ack === undefined) return yield* new ParticipantUnreachable({ message: `participant ${participant} did not answer; it may be offline` })
        if (!ack.ok) return yield* new DecisionRefused({ message: ack.detail ?? "the participant refused the decision" })
        drop(decision.taskId, waiting.participant)
      })
  }
}

export type HumanConsents = ReturnType<typeof make>
