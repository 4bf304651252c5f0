/**
 * Off-chain artifacts (task results, models, encrypted model-to-data payloads), content-addressed: the key is a
 * CIDv1 (sha2-256; codec `raw` for opaque bytes, `json` for canonical JSON) computed with `multiformats`, and
 * every read re-hashes the bytes, so a tampered row is refused rather than served (PROTOCOLS.md §2.6, §7 "only
 * the hash on chain, the data off chain"). Rows live in the store's `artifacts` table (migration 3).
 */
import { CID } from "multiformats/cid"
import * as json from "multiformats/codecs/json"
import * as raw from "multiformats/codecs/raw"
import { sha256 } from "multiformats/hashes/sha2"
import { canonicalJson } from "@jointly/core/wire/Canonical.ts"
import type { Sql } from "../store/Sql.ts"

export type Codec = "raw" | "json"

export class ArtifactError extends Error {
  constructor(readonly code: "UnknownArtifact" | "InvalidCid" | "Tampered", message: string) {
    super(message)
  }
}

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

export const make = (sql: Sql) => {
  const put = async (bytes: Uint8Array, codec: Codec, taskId?: string): Promise<string> => {
    const cid = await cidOf(bytes, codec)
    await sql.query(`insert into artifacts(cid, codec, bytes, task_id) values ($1, $2, $3, $4) on conflict (cid) do nothing`, [cid, codec, bytes, taskId ?? null])
    return cid
  }

  /** The stored bytes, checked against the CID; Tampered when they no longer hash to it. */
  const get = async (cid: string): Promise<{ readonly cid: string; readonly codec: Codec; readonly bytes: Uint8Array }> => {
    try {
      CID.parse(cid)
    } catch {
      throw new ArtifactError("InvalidCid", `${cid} is not a CID`)
    }
    const [row] = await sql.query<{ codec: Codec; bytes: Uint8Array }>(`select codec, bytes from artifacts where cid = $1`, [cid])
    if (!row) throw new ArtifactError("UnknownArtifact", `no artifact ${cid}`)
    const bytes = new Uint8Array(row.bytes)
    if (!(await matches(cid, bytes))) throw new ArtifactError("Tampered", `the stored bytes of ${cid} no longer hash to it`)
    return { cid, codec: row.codec, bytes }
  }

  return {
    put,
    putJson: (value: unknown, taskId?: string) => put(jsonBytes(value), "json", taskId),
    get,
    /** Raw row access for audits (no check): what `jointly verify` re-hashes itself. */
    raw: async (cid: string) => (await sql.query<{ codec: Codec; bytes: Uint8Array }>(`select codec, bytes from artifacts where cid = $1`, [cid]))[0],
    /** Records which artifact holds what of a task, with the digest it must match (`jointly verify` reads it). */
    link: (taskId: string, role: "result" | "model", cid: string, digest: string) =>
      sql.query(`insert into task_events(task_id, type, data) values ($1, 'ArtifactStored', $2)`, [taskId, JSON.stringify({ role, cid, digest })]).then(() => undefined),
    byTask: async (taskId: string) =>
      (await sql.query<{ cid: string; codec: Codec }>(`select cid, codec from artifacts where task_id = $1 order by created_at`, [taskId]))
  }
}

export type ArtifactStore = ReturnType<typeof make>
