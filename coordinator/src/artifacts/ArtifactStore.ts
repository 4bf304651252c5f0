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
import { Effect } from "effect"
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

export const make = (sql: Sql, blocks?: ArtifactBlocksShape) => {
  /** Stores bytes (the coordinator's own when `owner` is absent: task results and models). Idempotent. */
  const put = async (bytes: Uint8Array, codec: Codec, taskId?: string, owner?: string): Promise<string> => {
    const cid = await cidOf(bytes, codec)
    // Only a member's (sealed) upload is mirrored as is; the coordinator's own plain bytes never reach IPFS.
    if (blocks !== undefined && owner !== undefined) {
      // The block first: a CID the store names is always fetchable from IPFS. Same bytes, same codec, same CID.
      const mirrored = await Effect.runPromise(blocks.put(bytes, codec))
      if (mirrored !== cid) throw new Error(`the ${blocks.node} node stored ${cid} as ${mirrored}`)
    }
    await sql.query(`insert into artifacts(cid, codec, bytes, task_id, owner, size) values ($1, $2, $3, $4, $5, $6) on conflict (cid) do nothing`, [
      cid,
      codec,
      bytes,
      taskId ?? null,
      owner?.toLowerCase() ?? null,
      bytes.length
    ])
    return cid
  }

  /** Bytes stored by `owner` so far. */
  const usage = async (owner: string): Promise<number> =>
    Number((await sql.query<{ n: string | null }>(`select coalesce(sum(size), 0) as n from artifacts where owner = $1`, [owner.toLowerCase()]))[0]?.n ?? 0)

  /**
   * A member's upload, refused when it would take the member past `quotaBytes` (a re-upload of stored bytes is free).
   * An Effect whose one refusal is QuotaExceeded; the store or the IPFS node failing the write is a defect.
   */
  const putOwned = (bytes: Uint8Array, codec: Codec, owner: string, quotaBytes: number): Effect.Effect<string, QuotaExceeded> =>
    Effect.gen(function*() {
      const cid = yield* Effect.promise(() => cidOf(bytes, codec))
      const [existing] = yield* Effect.promise(() => sql.query(`select 1 from artifacts where cid = $1`, [cid]))
      if (existing) return cid
      const used = yield* Effect.promise(() => usage(owner))
      if (used + bytes.length > quotaBytes) {
        return yield* new QuotaExceeded({ usedBytes: used, quotaBytes, message: `storing ${bytes.length} bytes would take ${owner} past its quota: ${used} of ${quotaBytes} bytes used` })
      }
      return yield* Effect.promise(() => put(bytes, codec, undefined, owner))
    })

  /** The stored bytes, checked against the CID: UnknownArtifact when there are none, Tampered when they no longer hash to it. */
  const get = (cid: string): Effect.Effect<{ readonly cid: string; readonly codec: Codec; readonly bytes: Uint8Array }, UnknownArtifact | Tampered> =>
    Effect.gen(function*() {
      yield* Effect.try({ try: () => CID.parse(cid), catch: () => new UnknownArtifact({ message: `${cid} is not a CID` }) })
      const [row] = yield* Effect.promise(() => sql.query<{ codec: Codec; bytes: Uint8Array }>(`select codec, bytes from artifacts where cid = $1`, [cid]))
      if (!row) return yield* new UnknownArtifact({ message: `no artifact ${cid}` })
      const bytes = new Uint8Array(row.bytes)
      if (!(yield* Effect.promise(() => matches(cid, bytes)))) return yield* new Tampered({ message: `the stored bytes of ${cid} no longer hash to it` })
      return { cid, codec: row.codec, bytes }
    })

  /**
   * Who an artifact concerns, for the API's reader rule: its uploader, the task it belongs to and its role there
   * (result, model), and the model requests naming it (PROTOCOLS.md §2.3: payload and answer travel as `cid:`).
   */
  const about = async (cid: string) => {
    const [row] = await sql.query<{ owner: string | null; task_id: string | null }>(`select owner, task_id from artifacts where cid = $1`, [cid])
    if (!row) return undefined
    const roles = await sql.query<{ role: string }>(`select data->>'role' as role from task_events where type = 'ArtifactStored' and data->>'cid' = $1`, [cid])
    const requests = await sql.query<{ from_account: string; to_account: string }>(
      `select from_account, to_account from model_requests where payload_uri = $1 or result_uri = $1`,
      [`cid:${cid}`]
    )
    return {
      owner: row.owner,
      taskId: row.task_id,
      roles: roles.map((r) => r.role),
      requestSides: requests.flatMap((r) => [r.from_account, r.to_account])
    }
  }

  return {
    put,
    putOwned,
    usage,
    about,
    putJson: (value: unknown, taskId?: string) => put(jsonBytes(value), "json", taskId),
    get,
    /** Raw row access for audits (no check): what `jointly verify` re-hashes itself. */
    raw: async (cid: string) => (await sql.query<{ codec: Codec; bytes: Uint8Array }>(`select codec, bytes from artifacts where cid = $1`, [cid]))[0],
    /**
     * Records which artifact holds what of a task, with the digest it must match and, when it went to IPFS, the CID
     * of its sealed copy there (`jointly verify` reads both).
     */
    link: (taskId: string, role: "result" | "model", cid: string, digest: string, sealedCid?: string) =>
      sql.query(`insert into task_events(task_id, type, data) values ($1, 'ArtifactStored', $2)`, [
        taskId,
        JSON.stringify({ role, cid, digest, ...(sealedCid === undefined ? {} : { sealedCid }) })
      ]).then(() => undefined),
    byTask: async (taskId: string) =>
      (await sql.query<{ cid: string; codec: Codec }>(`select cid, codec from artifacts where task_id = $1 order by created_at`, [taskId]))
  }
}

export type ArtifactStore = ReturnType<typeof make>
