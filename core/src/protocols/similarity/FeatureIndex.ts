/**
 * An owner's feature index with epochs (PROTOCOLS.md §8.3–8.4, §11 items 30–31), rebuilt by every query from
 * the owner's dataset (epoch 0) and its log of feature transactions (epochs 1, 2, …).
 *
 * Feature transaction (item 30; the source's Figs. 6.3/6.4 kept their fields but not their cleartext): one
 * `add`, `update` or `delete` of an image by its id, with its quantised features, its label (the diagnosis or
 * class) and a pointer to the original (`location`: a URI or CID, never the image). Transactions stay with the
 * owner; what leaves is each epoch's Merkle root (the "trading information" is the task ledger's record).
 *
 * Rules (§8.4): an `add` of an id already present is a duplicate upload and is dropped; an `update` replaces the
 * entry in place (the newest wins, its rank — the position that breaks score ties — is kept); a `delete`
 * removes it. An update or delete of an unknown id is refused, naming the transaction.
 *
 * Commitment: each entry is a leaf sha256(canonical {id, label, location, features digest, salt}) with the
 * features digest sha256(salt ‖ features) and a per-entry salt HMAC(seed, id ‖ epoch written) from a seed only
 * the owner can derive; the root is the RFC 6962-style Merkle root over the leaves in rank order
 * (federated-learning/Merkle.ts). Salts keep a proof's sibling hashes from confirming a guessed image or id.
 */
import { hmac } from "@noble/hashes/hmac.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import type { Effect } from "effect"
import { Context, Schema } from "effect"
import { sha256Digest } from "../../wire/Canonical.ts"
import * as Merkle from "../federated-learning/Merkle.ts"
import type { ParticipantFailure } from "../Protocol.ts"

export const Transaction = Schema.Struct({
  op: Schema.Literals(["add", "update", "delete"]),
  /** The image's index number (the owner's id). */
  id: Schema.String,
  /** Quantised features (add, update). */
  features: Schema.optional(Schema.Array(Schema.Int)),
  label: Schema.optional(Schema.String),
  /** Where the original is kept (URI, CID); never the image itself. */
  location: Schema.optional(Schema.String)
})
export type Transaction = typeof Transaction.Type

/** One epoch of the log: the transactions applied on top of the previous epoch. */
export const Epoch = Schema.Struct({
  epoch: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  transactions: Schema.Array(Transaction)
})
export type Epoch = typeof Epoch.Type

export interface Entry {
  readonly id: string
  readonly features: ReadonlyArray<number>
  readonly label?: string
  readonly location?: string
  /** The epoch that last wrote it (salts change with it). */
  readonly written: number
}

export interface Leaf {
  readonly salt: string
  readonly featuresDigest: string
  readonly digest: string
}

export interface Snapshot {
  readonly epoch: number
  /** Entries in rank order. */
  readonly entries: ReadonlyArray<Entry>
  readonly leaves: ReadonlyArray<Leaf>
  readonly root: string
  /** Transactions dropped as duplicate uploads, by epoch. */
  readonly duplicates: ReadonlyArray<{ readonly epoch: number; readonly id: string }>
}

export class IndexError extends Schema.TaggedError<IndexError>()("IndexError", {
  reason: Schema.Literals(["UnknownId", "BadFeatures", "EpochOrder"]),
  detail: Schema.String
}) {
  override get message() {
    return `feature index: ${this.reason}: ${this.detail}`
  }
}

const hex = (bytes: Uint8Array) => "0x" + bytesToHex(bytes)

const featureBytes = (features: ReadonlyArray<number>) => {
  const out = new Uint8Array(features.length * 4)
  const view = new DataView(out.buffer)
  features.forEach((f, i) => view.setInt32(i * 4, f))
  return out
}

export const saltOf = (seed: Uint8Array, id: string, written: number): string => hex(hmac(sha256, seed, utf8ToBytes(`${written}|${id}`)))

/** The leaf of one entry (what a querier recomputes from a returned record to check its proof). */
export const leafOf = (entry: Pick<Entry, "id" | "label" | "location">, salt: string, featuresDigest: string): string =>
  sha256Digest({ id: entry.id, label: entry.label ?? null, location: entry.location ?? null, featuresDigest, salt })

export const featuresDigestOf = (salt: string, features: ReadonlyArray<number>): string =>
  hex(sha256(concatBytes(utf8ToBytes(salt), featureBytes(features))))

export const leaf = (seed: Uint8Array, entry: Entry): Leaf => {
  const salt = saltOf(seed, entry.id, entry.written)
  const featuresDigest = featuresDigestOf(salt, entry.features)
  return { salt, featuresDigest, digest: leafOf(entry, salt, featuresDigest) }
}

const checkFeatures = (features: ReadonlyArray<number> | undefined, dimension: number, max: number, where: string) => {
  if (features === undefined) throw new IndexError({ reason: "BadFeatures", detail: `${where}: no features` })
  if (features.length !== dimension) throw new IndexError({ reason: "BadFeatures", detail: `${where}: ${features.length} features, the index has ${dimension}` })
  const bad = features.findIndex((f) => !Number.isInteger(f) || f < 0 || f > max)
  if (bad >= 0) throw new IndexError({ reason: "BadFeatures", detail: `${where}: feature ${bad} is ${features[bad]}, outside 0…${max}` })
  return features
}

/**
 * The index at the last epoch of `log` over the `base` entries (epoch 0), committed with `seed`.
 * @throws IndexError for an update or delete of an unknown id, features of the wrong shape, epochs out of order.
 */
export const build = (
  base: ReadonlyArray<Omit<Entry, "written">>,
  log: ReadonlyArray<Epoch>,
  options: { readonly seed: Uint8Array; readonly dimension: number; readonly featureMax: number }
): Snapshot => {
  const entries: Array<Entry> = []
  const position = new Map<string, number>()
  const duplicates: Array<{ epoch: number; id: string }> = []
  const add = (entry: Omit<Entry, "written">, epoch: number, where: string) => {
    if (position.has(entry.id)) {
      duplicates.push({ epoch, id: entry.id })
      return
    }
    checkFeatures(entry.features, options.dimension, options.featureMax, where)
    position.set(entry.id, entries.length)
    entries.push({ ...entry, written: epoch })
  }
  base.forEach((entry, row) => add(entry, 0, `row ${row + 1}`))
  let epoch = 0
  for (const record of log) {
    if (record.epoch !== epoch + 1) throw new IndexError({ reason: "EpochOrder", detail: `epoch ${record.epoch} follows epoch ${epoch}` })
    epoch = record.epoch
    record.transactions.forEach((tx, i) => {
      const where = `epoch ${epoch}, transaction ${i + 1} (${tx.op} ${tx.id})`
      const at = position.get(tx.id)
      if (tx.op === "add") return add({ id: tx.id, features: tx.features ?? [], label: tx.label, location: tx.location }, epoch, where)
      if (at === undefined) throw new IndexError({ reason: "UnknownId", detail: `${where}: no entry ${tx.id}` })
      if (tx.op === "update") {
        const previous = entries[at]!
        entries[at] = {
          id: tx.id,
          features: checkFeatures(tx.features ?? previous.features, options.dimension, options.featureMax, where),
          label: tx.label ?? previous.label,
          location: tx.location ?? previous.location,
          written: epoch
        }
        return
      }
      entries.splice(at, 1)
      position.clear()
      entries.forEach((e, k) => position.set(e.id, k))
    })
  }
  const leaves = entries.map((entry) => leaf(options.seed, entry))
  return { epoch, entries, leaves, root: Merkle.root(leaves.map((l) => l.digest)), duplicates }
}

/** Inclusion proofs of every entry (rank order). */
export const proofs = (snapshot: Snapshot): Array<Array<Merkle.ProofStep>> => Merkle.proofs(snapshot.leaves.map((l) => l.digest))

export const verify = (leafDigest: string, proof: ReadonlyArray<Merkle.ProofStep>, root: string): boolean => Merkle.verify(leafDigest, proof, root)

export type ProofStep = Merkle.ProofStep

/**
 * Where an owner keeps the committed epochs of a dataset's index (participant/src/similarity/FeatureLogFile.ts:
 * `<data dir>/indexes/<dataset>.ndjson`). Protocols look it up with `Effect.serviceOption`: without one the
 * index is the dataset alone (epoch 0).
 */
export class FeatureLog extends Context.Service<FeatureLog, {
  readonly epochs: (dataset: string) => Effect.Effect<ReadonlyArray<Epoch>, ParticipantFailure>
}>()("jointly/similar/FeatureLog") {}
