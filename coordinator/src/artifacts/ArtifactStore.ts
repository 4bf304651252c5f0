/**
 * Off-chain artifacts (task results, models, encrypted model-to-data payloads), content-addressed: the key is a
 * CIDv1 (sha2-256; codec `raw` for opaque bytes, `json` for canonical JSON) computed with `multiformats`, and
 * every read re-hashes the bytes, so a tampered row is refused rather than served (PROTOCOLS.md §2.6, §7 "only
 * the hash on chain, the data off chain"). Rows live in the store's `artifacts` table (migration 3), with the
 * member who stored them and their size (migration 4: the API's per-member quota and its reader rule).
 *
 * With an `ArtifactBlocks` node (an embedded Helia node or a Kubo node, `@jointly/backends/internal/ipfs/...`) a
 * member's upload, which arrives sealed to its readers (ECIES, Envelope.ts / ModelToData.ts), is also put and
 * pinned there as an IPFS block under the same CID. The coordinator's own results and models are not: their rows
 * here are plain for the API, and what goes to IPFS is a sealed copy under its own CID (SealedArtifacts.ts), named
 * beside the plain one in the task's `ArtifactStored` event (`sealedCid`).
 */
import { CID } from "multiformats/cid"
import * as json from "multiformats/codecs/json"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { QuotaExceeded, Tampered, UnknownArtifact } from "@jointly/core/internal/api/Errors"
import { canonicalJson } from "@jointly/core/internal/wire/Canonical"
import { Effect, Schema } from "effect"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import type { Sql } from "../store/Sql.ts"

export type Codec = "raw" | "json"

const codecOf = { raw: raw.code, json: json.code } as const

/** The CIDv1 of `bytes` under `codec`. */
export const cidOf = async (bytes: Uint8Array, codec: Codec): Promise<string> =>
  CID.createV1(codecOf[codec], await sha256.digest(bytes)).toString()

/** Canonical JSON bytes of a value: the bytes a `json` artifact holds. */
export const jsonBytes = (value: unknown): Uint8Array => new TextEncoder().encode(canonicalJson(value))

/** True when `bytes` hash to `cid` (parsed, so any multibase/codec it names is honoured). */
export const matches = async (cid: string, bytes: Uint8Array): Promise<boolean> => {
  let parsed: CID
  try {
    parsed = CID.parse(cid)
  } catch {
    return false
  }
  const digest = await sha256.digest(bytes)
  return parsed.multihash.code === sha256.code && Buffer.from(parsed.multihash.digest).equals(Buffer.from(digest.digest))
}

/**
 * The store's database did not answer or refused a statement, or the IPFS node did not take a member's block:
 * `operation` names what was being done. A write that failed stored nothing (the block goes first, the row after).
 */
export class ArtifactStoreFailed extends Schema.TaggedError<ArtifactStoreFailed>()("ArtifactStoreFailed", {
  operation: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the artifact store failed (${this.operation}): ${this.detail}`
  }
}

const failed = (operation: string) => (cause: unknown) => new ArtifactStoreFailed({ operation, detail: cause instanceof Error ? cause.message : String(cause) })

export const make = (sql: Sql, blocks?: ArtifactBlocksShape) => {
  /** One statement, its failure an ArtifactStoreFailed naming `operation`. */
  const query = <T = Record<string, unknown>>(operation: string, text: string, params?: ReadonlyArray<unknown>) =>
    Effect.tryPromise({ try: () => sql.query<T>(text, params), catch: failed(operation) })
  // Hashing cannot fail on bytes; a rejection would be a bug in multiformats, a defect.
  const cid = (bytes: Uint8Array, codec: Codec) => Effect.promise(() => cidOf(bytes, codec))

  /** Stores bytes (the coordinator's own when `owner` is absent: task results and models). Idempotent. */
  const put = (bytes: Uint8Array, codec: Codec, taskId?: string, owner?: string): Effect.Effect<string, ArtifactStoreFailed> =>
    Effect.gen(function*() {
      const id = yield* cid(bytes, codec)
      // Only a member's (sealed) upload is mirrored as is; the coordinator's own plain bytes never reach IPFS.
      if (blocks !== undefined && owner !== undefined) {
        // The block first: a CID the store names is always fetchable from IPFS. Same bytes, same codec, same CID.
        const mirrored = yield* Effect.mapError(blocks.put(bytes, codec), failed(`put on ${blocks.node}`))
        if (mirrored !== id) return yield* new ArtifactStoreFailed({ operation: `put on ${blocks.node}`, detail: `the node stored ${id} as ${mirrored}` })
      }
      yield* query("put", `insert into artifacts(cid, codec, bytes, task_id, owner, size) values ($1, $2, $3, $4, $5, $6) on conflict (cid) do nothing`, [
        id,
        codec,
        bytes,
        taskId ?? null,
        owner?.toLowerCase() ?? null,
        bytes.length
      ])
      return id
    })

  /** Bytes stored by `owner` so far. */
  const usage = (owner: string): Effect.Effect<number, ArtifactStoreFailed> =>
    Effect.map(query<{ n: string | null }>("usage", `select coalesce(sum(size), 0) as n from artifacts where owner = $1`, [owner.toLowerCase()]), (rows) => Number(rows[0]?.n ?? 0))

  /**
   * A member's upload, refused when it would take the member past `quotaBytes` (a re-upload of stored bytes is free).
   * Its one refusal is QuotaExceeded; the store or the IPFS node failing is ArtifactStoreFailed.
   */
  const putOwned = (bytes: Uint8Array, codec: Codec, owner: string, quotaBytes: number): Effect.Effect<string, QuotaExceeded | ArtifactStoreFailed> =>
    Effect.gen(function*() {
      const id = yield* cid(bytes, codec)
      const [existing] = yield* query("putOwned", `select 1 from artifacts where cid = $1`, [id])
      if (existing) return id
      const used = yield* usage(owner)
      if (used + bytes.length > quotaBytes) {
        return yield* new QuotaExceeded({ usedBytes: used, quotaBytes, message: `storing ${bytes.length} bytes would take ${owner} past its quota: ${used} of ${quotaBytes} bytes used` })
      }
      return yield* put(bytes, codec, undefined, owner)
    })

  /** The row as stored, unchecked. */
  const row = (operation: string, id: string) =>
    Effect.map(query<{ codec: Codec; bytes: Uint8Array }>(operation, `select codec, bytes from artifacts where cid = $1`, [id]), (rows) => rows[0])

  /**
   * The stored bytes, checked against the CID: UnknownArtifact when there are none, Tampered when they no longer hash
   * to it, ArtifactStoreFailed when the store does not answer.
   */
  const get = (id: string): Effect.Effect<{ readonly cid: string; readonly codec: Codec; readonly bytes: Uint8Array }, UnknownArtifact | Tampered | ArtifactStoreFailed> =>
    Effect.gen(function*() {
      yield* Effect.try({ try: () => CID.parse(id), catch: () => new UnknownArtifact({ message: `${id} is not a CID` }) })
      const stored = yield* row("get", id)
      if (!stored) return yield* new UnknownArtifact({ message: `no artifact ${id}` })
      const bytes = new Uint8Array(stored.bytes)
      // As `cid` above: hashing bytes cannot reject.
      if (!(yield* Effect.promise(() => matches(id, bytes)))) return yield* new Tampered({ message: `the stored bytes of ${id} no longer hash to it` })
      return { cid: id, codec: stored.codec, bytes }
    })

  /**
   * Who an artifact concerns, for the API's reader rule: its uploader, the task it belongs to and its role there
   * (result, model), and the model requests naming it (PROTOCOLS.md §2.3: payload and answer travel as `cid:`).
   */
  const about = (id: string) =>
    Effect.gen(function*() {
      const [stored] = yield* query<{ owner: string | null; task_id: string | null }>("about", `select owner, task_id from artifacts where cid = $1`, [id])
      if (!stored) return undefined
      const roles = yield* query<{ role: string }>("about", `select data->>'role' as role from task_events where type = 'ArtifactStored' and data->>'cid' = $1`, [id])
      const requests = yield* query<{ from_account: string; to_account: string }>(
        "about",
        `select from_account, to_account from model_requests where payload_uri = $1 or result_uri = $1`,
        [`cid:${id}`]
      )
      return {
        owner: stored.owner,
        taskId: stored.task_id,
        roles: roles.map((r) => r.role),
        requestSides: requests.flatMap((r) => [r.from_account, r.to_account])
      }
    })

  return {
    put,
    putOwned,
    usage,
    about,
    putJson: (value: unknown, taskId?: string) => put(jsonBytes(value), "json", taskId),
    get,
    /** Raw row access for audits (no check): what `jointly verify` re-hashes itself. */
    raw: (id: string) => row("raw", id),
    /**
     * Records which artifact holds what of a task, with the digest it must match and, when it went to IPFS, the CID
     * of its sealed copy there (`jointly verify` reads both).
     */
    link: (taskId: string, role: "result" | "model", id: string, digest: string, sealedCid?: string): Effect.Effect<void, ArtifactStoreFailed> =>
      Effect.asVoid(query("link", `insert into task_events(task_id, type, data) values ($1, 'ArtifactStored', $2)`, [
        taskId,
        JSON.stringify({ role, cid: id, digest, ...(sealedCid === undefined ? {} : { sealedCid }) })
      ])),
    byTask: (taskId: string) => query<{ cid: string; codec: Codec }>("byTask", `select cid, codec from artifacts where task_id = $1 order by created_at`, [taskId])
  }
}

export type ArtifactStore = ReturnType<typeof make>
