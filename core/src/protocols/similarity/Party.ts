/**
 * What both sides of `query.similar` share at the participant (spec.ts): the signed channel (joint-query
 * `Channel.ts`) that seals every payload between querier and owner, failures, and the Bfv service lookup.
 */
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { Effect } from "effect"
import type { ParticipantSession } from "../Protocol.ts"
import { ParticipantFailure } from "../Protocol.ts"
import * as Channel from "../joint-query/Channel.ts"
import { Bfv, type BfvError } from "./Bfv.ts"
import type { Params } from "./spec.ts"

export const MEMORY = "query/similar"

export interface Common {
  readonly channel: Channel.Keys["channel"]
  readonly reply: { readonly channelPublicKey: Uint8Array; readonly count: number; readonly extra: Uint8Array; readonly signature: string }
  peers?: ReadonlyMap<string, Channel.Advertisement>
  readonly seen: Set<string>
}

export type Peered<S extends Common> = S & { peers: ReadonlyMap<string, Channel.Advertisement> }

export const failure = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })
export const fail = (session: ParticipantSession, stage: string, code: string, detail: string) => Effect.fail(failure(session, stage, code, detail))
export const attempt = <A>(session: ParticipantSession, stage: string, code: string, f: () => A) =>
  Effect.try({ try: f, catch: (error) => failure(session, stage, code, error instanceof Error ? error.message : String(error)) })

export const role = (session: ParticipantSession, stage: string, params: Params, who: "querier" | "owner") =>
  session.self === params[who] ? Effect.void : fail(session, stage, "WrongRole", `only the ${who} answers ${stage}`)

export const state = <S extends Common>(session: ParticipantSession, stage: string) => {
  const s = session.memory.get(MEMORY) as S | undefined
  return s?.peers === undefined ? fail(session, stage, "MissingState", "keys not exchanged yet") : Effect.succeed(s as Peered<S>)
}

/** Each coordinate (stage, round) is answered once: a replayed request cannot buy a second look. */
export const once = (session: ParticipantSession, s: Common, stage: string, key: string) => {
  if (s.seen.has(key)) return fail(session, stage, "DuplicateChunk", `${key} was already answered`)
  s.seen.add(key)
  return Effect.void
}

const other = (session: ParticipantSession) => session.participants.find((p) => p !== session.self)!

export const seal = (session: ParticipantSession, s: Peered<Common>, stage: string, label: string, bytes: Uint8Array) =>
  Channel.seal(session, stage, s.channel.secretKey, other(session), s.peers.get(other(session))!.channelPublicKey, `similar|${label}`, bytes)

export const open = (session: ParticipantSession, s: Peered<Common>, stage: string, label: string, bytes: Uint8Array) =>
  Channel.open(session, stage, s.channel.secretKey, other(session), s.peers.get(other(session))!.channelPublicKey, `similar|${label}`, bytes)

export const verifyPeers = (session: ParticipantSession, stage: string, s: Common, advertisements: ReadonlyArray<Channel.Advertisement>) =>
  Effect.gen(function*() {
    if (s.peers !== undefined) return yield* fail(session, stage, "DuplicateChunk", "peer keys were already received")
    s.peers = yield* Channel.verify(session, stage, session.participants, advertisements, s.channel.publicKey)
    return s as Peered<Common>
  })

export const bfv = (session: ParticipantSession, stage: string) =>
  Effect.flatMap(Effect.serviceOption(Bfv), (found) =>
    found._tag === "Some" ? Effect.succeed(found.value) : fail(session, stage, "BfvUnavailable", "this participant offers no BFV backend"))

export const bfvFailure = (session: ParticipantSession, stage: string) => (e: BfvError) => failure(session, stage, `Bfv${e.reason}`, e.detail)

// ---------- the OPRF record table (joint-query hidden query's construction, per position label)

export const tagOf = (point: Uint8Array) => sha256(concatBytes(new Uint8Array([1]), point))
export const keyOf = (point: Uint8Array) => sha256(concatBytes(new Uint8Array([2]), point))
export const recordAd = (taskId: string) => utf8ToBytes(`jointly/similar/record/v1|${taskId}`)
export const labelOf = (round: number, lane: number, position: number) => `${round}|${lane}|${position}`
export const TAG_BYTES = 32
