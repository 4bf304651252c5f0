/**
 * The coordinator's own artifacts of a task (its result, its trained model) on IPFS, sealed to their readers
 * before they leave the process (PROTOCOLS.md §2.6: nothing readable on a public IPFS network). The store's row
 * stays plain for the API, which applies its reader rules; the block on IPFS is `Envelope.seal(bytes, readers'
 * keys, "task/<id>/<role>")`, and the chain gets the sha2-256 of that ciphertext as the task's phase
 * `ipfs:<role>` — so an auditor who fetches the block by CID checks it against the chain without reading it, and
 * a reader also opens it and checks the plaintext against the result digest (`jointly verify --ipfs-peer`).
 *
 * Readers' keys are their current encryption keys (the DID's newest keyAgreement key, else the registry's,
 * `DidIdentity.currentEncryptionKey`). A reader without one is left out and named; with no reader at all the
 * artifact does not go to IPFS (its readers still get it through the API).
 */
import { Effect, Schema } from "effect"
import { getBytes, hexlify } from "ethers"
import { sha256 } from "multiformats/hashes/sha2"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import type { TaskArtifact } from "@jointly/core/internal/wire/Messages"

export type Role = TaskArtifact["role"]

/** The Envelope label of a task's artifact: binds the block to its task and role. */
export const labelOf = (taskId: string, role: Role): string => `task/${taskId.toLowerCase()}/${role}`

/** The phase under which the chain holds the sealed block's hash (a bytes32 label, ≤ 31 bytes). */
export const phaseOf = (role: Role): string => `ipfs:${role}`

export interface Published {
  readonly role: Role
  /** CID of the sealed block (raw codec). */
  readonly cid: string
  /** 0x sha2-256 of the sealed bytes: the CID's digest, committed on chain. */
  readonly root: string
  /** The accounts it is sealed to. */
  readonly readers: ReadonlyArray<string>
}

export interface Outcome {
  readonly published?: Published
  /** Readers left out, each with why (no key registered or published, a key that did not resolve). */
  readonly missing: ReadonlyArray<{ readonly account: string; readonly reason: string }>
}

/**
 * A task's artifact not put on IPFS: sealing it failed (`seal`: a reader's key that does not parse) or the node did not
 * take the block (`put`). Nothing is committed on chain for it; the artifact itself stays in the store.
 */
export class SealedArtifactFailed extends Schema.TaggedError<SealedArtifactFailed>()("SealedArtifactFailed", {
  taskId: Schema.String,
  role: Schema.String,
  stage: Schema.Literals(["seal", "put"]),
  detail: Schema.String
}) {
  override get message() {
    return `the ${this.role} of task ${this.taskId} could not be put on IPFS (${this.stage}): ${this.detail}`
  }
}

export interface Options {
  /** The coordinator's IPFS node. */
  readonly blocks: ArtifactBlocksShape
  /** A member's current encryption key (compressed, 0x-hex), or undefined when it has none. */
  readonly keyOf: (account: string) => Promise<string | undefined>
}

export const make = (o: Options) => {
  /**
   * Seals `bytes` to `readers` and puts the block on the node (pinned there). A reader whose key does not resolve is
   * left out and named (`missing`), not a failure; sealing or the node failing is SealedArtifactFailed.
   */
  const publish = (taskId: string, role: Role, bytes: Uint8Array, readers: ReadonlyArray<string>): Effect.Effect<Outcome, SealedArtifactFailed> =>
    Effect.gen(function*() {
      const failed = (stage: "seal" | "put") => (cause: unknown) =>
        new SealedArtifactFailed({ taskId, role, stage, detail: cause instanceof Error ? cause.message : String(cause) })
      const unique = [...new Map(readers.map((r) => [r.toLowerCase(), r] as const)).values()]
      const looked = yield* Effect.forEach(unique, (account) =>
        Effect.tryPromise(() => o.keyOf(account)).pipe(
          Effect.map((key) => key === undefined ? { account, reason: "no encryption key registered or published" } : { account, key }),
          Effect.catch((error) => Effect.succeed({ account, reason: `its encryption key did not resolve: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}` }))
        ), { concurrency: "unbounded" })
      const found = looked.flatMap((l) => ("key" in l && l.key !== undefined ? [{ account: l.account, key: l.key }] : []))
      const missing = looked.flatMap((l) => ("reason" in l && l.reason !== undefined ? [{ account: l.account, reason: l.reason }] : []))
      if (found.length === 0) return { missing }
      const sealed = yield* Effect.try({ try: () => Envelope.seal(bytes, found.map((f) => getBytes(f.key)), labelOf(taskId, role)), catch: failed("seal") })
      const cid = yield* Effect.mapError(o.blocks.put(sealed), (error) => failed("put")(error.message))
      const root = yield* Effect.tryPromise({ try: async () => hexlify((await sha256.digest(sealed)).digest), catch: failed("seal") })
      return { published: { role, cid, root, readers: found.map((f) => f.account) }, missing }
    })
  return { publish }
}

export type SealedArtifacts = ReturnType<typeof make>
