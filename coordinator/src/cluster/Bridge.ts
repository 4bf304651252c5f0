/**
 * What the coordinator instances of one cluster tell each other, over the socket.io adapter that already spans
 * them (`serverSideEmit` on the participants namespace: the official Postgres adapter carries it on LISTEN/NOTIFY,
 * payloads over NOTIFY's 8000 bytes through its attachment table). Nothing here is a new server to run.
 *
 *   - presence: which instance holds which participant's socket — announced on connect and disconnect, and as a
 *     whole snapshot at start and every lease period (a NOTIFY missed while the database was away heals then);
 *   - forward: a participant's consent or stage reply that arrived at one instance for a task another owns;
 *   - live: the dashboard's live events, so Server-Sent Events work from any instance;
 *   - human, roles, suspended, released: the dashboard's pending human consents, role caches to drop, a member the
 *     supervisor suspended, a task another instance took over (cancel).
 *
 * Every message is decoded with its Schema on receipt; one that does not decode is logged and dropped. On a single
 * instance (no adapter) the bridge only loops back what its own instance needs.
 */
import { Schema } from "effect"
import type { Namespace } from "socket.io"
import { LiveEvent } from "@jointly/core/internal/api/Schemas"
import { AwaitingHuman, StageReply, TaskConsent } from "@jointly/core/internal/wire/Messages"
import type { Log } from "../Log.ts"

const event = "jointly:cluster"

export const Message = Schema.Union([
  Schema.Struct({ type: Schema.Literal("presence"), instance: Schema.String, account: Schema.String, online: Schema.Boolean }),
  Schema.Struct({ type: Schema.Literal("snapshot"), instance: Schema.String, accounts: Schema.Array(Schema.String) }),
  Schema.Struct({ type: Schema.Literal("hello"), instance: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("forward"),
    target: Schema.String,
    account: Schema.String,
    message: Schema.Union([
      Schema.Struct({ kind: Schema.Literal("consent"), consent: TaskConsent }),
      Schema.Struct({ kind: Schema.Literal("reply"), reply: StageReply })
    ])
  }),
  Schema.Struct({ type: Schema.Literal("live"), event: LiveEvent }),
  Schema.Struct({
    type: Schema.Literal("human"),
    change: Schema.Union([
      Schema.Struct({ op: Schema.Literal("awaiting"), participant: Schema.String, awaiting: AwaitingHuman }),
      Schema.Struct({ op: Schema.Literal("answered"), taskId: Schema.String, participant: Schema.String }),
      Schema.Struct({ op: Schema.Literal("ended"), taskId: Schema.String })
    ])
  }),
  Schema.Struct({ type: Schema.Literal("roles"), addresses: Schema.Array(Schema.String) }),
  Schema.Struct({ type: Schema.Literal("suspended"), accounts: Schema.Array(Schema.String), reason: Schema.String }),
  Schema.Struct({ type: Schema.Literal("released"), taskId: Schema.String, from: Schema.String, by: Schema.String })
])
export type Message = typeof Message.Type
type Handlers = { readonly [K in Message["type"]]?: (message: Extract<Message, { type: K }>) => void }

export const make = (deps: { readonly nsp?: Namespace; readonly instance: string; readonly log: Log }) => {
  const { nsp, instance, log } = deps
  const handlers = new Map<Message["type"], Array<(message: Message) => void>>()
  const decode = Schema.decodeUnknownExit(Message)

  const dispatch = (message: Message) => {
    for (const handler of handlers.get(message.type) ?? []) {
      try {
        handler(message)
      } catch (error) {
        log.error("cluster message handler failed", { type: message.type, error: String(error) })
      }
    }
  }

  nsp?.on(event as never, ((raw: unknown) => {
    const decoded = decode(raw)
    if (decoded._tag === "Failure") return log.warn("cluster message dropped: it does not decode", { error: String(decoded.cause) })
    dispatch(decoded.value)
  }) as never)

  return {
    instance,
    clustered: nsp !== undefined,
    /** To every other instance (nothing on a single instance). */
    broadcast: (message: Message) => {
      if (nsp === undefined) return
      try {
        ;(nsp.serverSideEmit as (ev: string, ...args: Array<unknown>) => void)(event, message)
      } catch (error) {
        log.warn("cluster broadcast failed", { type: message.type, error: String(error) })
      }
    },
    on: <K extends Message["type"]>(type: K, handler: NonNullable<Handlers[K]>) => {
      handlers.set(type, [...(handlers.get(type) ?? []), handler as (message: Message) => void])
    }
  }
}

export type Bridge = ReturnType<typeof make>
