/**
 * Test helpers for the OT-based PSI (not used by the engine): a seeded randomness source so two runs can be
 * compared message by message, a link that records what passes through it, and a runner of both roles in one
 * process over `Link.memoryPair`.
 */
import { chacha20 } from "@noble/ciphers/chacha.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { Effect, type Layer } from "effect"
import type { Aes } from "./Aes.ts"
import * as Engine from "./Engine.ts"
import * as Link from "./Link.ts"

/** A deterministic stream of "random" bytes: ChaCha20 under SHA-256(label). Tests only. */
export const seededRandom = (label: string): ((bytes: number) => Uint8Array) => {
  const key = sha256(new TextEncoder().encode(label))
  const nonce = new Uint8Array(12)
  let counter = 0
  return (bytes) => {
    const blocks = Math.ceil(bytes / 64)
    const out = chacha20(key, nonce, new Uint8Array(blocks * 64), undefined, counter)
    counter += blocks
    return out.subarray(0, bytes).slice()
  }
}

/** A link that keeps a copy of every message it sends, in order. */
export const recording = (link: Link.Link): Link.Link & { readonly sent: Array<Uint8Array> } => {
  const sent: Array<Uint8Array> = []
  return { ...link, sent, send: (message) => Effect.suspend(() => (sent.push(message.slice()), link.send(message))) }
}

export interface Run {
  readonly receiver: Engine.Output
  readonly sender: Engine.Output
  readonly transcripts: { readonly receiver: ReadonlyArray<Uint8Array>; readonly sender: ReadonlyArray<Uint8Array> }
}

export interface RunOptions extends Partial<Omit<Engine.Options, "random">> {
  /** Seeds both parties' randomness (distinct streams per role) for reproducible transcripts. */
  readonly seed?: string
  readonly receiverLayer: Layer.Layer<Aes>
  readonly senderLayer?: Layer.Layer<Aes>
  readonly maxMessageBytes?: number
  /** Rewrites the links, e.g. to tamper with messages. */
  readonly wrap?: (links: readonly [Link.Link, Link.Link]) => readonly [Link.Link, Link.Link]
}

/** Runs both roles in this process; fails with the first role's error. */
export const run = (receiverIds: ReadonlyArray<string>, senderIds: ReadonlyArray<string>, options: RunOptions) => {
  const [r, s] = (options.wrap ?? ((l) => l))(Link.memoryPair(options.maxMessageBytes))
  const receiverLink = recording(r)
  const senderLink = recording(s)
  const base: Engine.Options = {
    context: options.context ?? new TextEncoder().encode("jointly/test/ot-psi"),
    maxPeerElements: options.maxPeerElements ?? 1 << 24,
    ...(options.revealToSender !== undefined && { revealToSender: options.revealToSender }),
    ...(options.partitionElements !== undefined && { partitionElements: options.partitionElements }),
    ...(options.stash !== undefined && { stash: options.stash })
  }
  const withSeed = (role: string): Engine.Options =>
    options.seed === undefined ? base : { ...base, random: seededRandom(`${options.seed}/${role}`) }
  return Effect.all(
    [
      Effect.provide(Engine.receiver(receiverLink, receiverIds, withSeed("receiver")), options.receiverLayer),
      Effect.provide(Engine.sender(senderLink, senderIds, withSeed("sender")), options.senderLayer ?? options.receiverLayer)
    ],
    { concurrency: 2 }
  ).pipe(Effect.map(([receiver, sender]): Run => ({ receiver, sender, transcripts: { receiver: receiverLink.sent, sender: senderLink.sent } })))
}

/** The elements of `ids` at `indices`. */
export const pick = (ids: ReadonlyArray<string>, indices: Uint32Array): Array<string> => Array.from(indices, (i) => ids[i]!)

/** Plaintext intersection, as a sorted list (the reference every run is checked against). */
export const plainIntersection = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): Array<string> => {
  const other = new Set(b)
  return [...new Set(a)].filter((x) => other.has(x)).sort()
}
