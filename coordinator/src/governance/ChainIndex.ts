/**
 * The coordinator's off-chain index of consortium events (PROTOCOLS.md §2.2 (c): keyword search runs over an
 * index rebuilt from chain events, never over on-chain loops). It follows the registry, catalogue, grants and
 * model-request contracts from the deployment block on, applies each block range to the store in one
 * transaction with its cursor, and so resumes exactly where it stopped after a restart. Member state changes are
 * also handed to `onStateChanged`, which is how a supervisor's suspension reaches running tasks at once.
 */
import { Duration, Effect, Fiber, Schedule, Schema } from "effect"
import { getAddress } from "ethers"
import { CompanyState } from "@jointly/core/internal/ledger/Ledger"
import type { GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import { AccessPolicy } from "@jointly/core/internal/ledger/GovernanceLedger"
import type { Log } from "../Log.ts"
import type { Sql } from "../store/Sql.ts"

export interface MemberChange {
  readonly companyId: string
  readonly name: string
  readonly from: CompanyState
  readonly to: CompanyState
  readonly addresses: ReadonlyArray<string>
}

export interface CatalogRow {
  readonly datasetId: string
  readonly owner: string
  readonly domain: string
  readonly name: string
  readonly attrs: string
  readonly size: string
  readonly contentHash: string
  readonly location: string
  readonly policy: string
  readonly version: number
  readonly state: string
  readonly block: string
}

/**
 * The index's store did not answer or refused a read, or (`start`, `sync`) the chain or the store did not answer
 * while following the chain; `operation` names the read.
 */
export class ChainIndexFailed extends Schema.TaggedError<ChainIndexFailed>()("ChainIndexFailed", {
  operation: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the chain index could not be read (${this.operation}): ${this.detail}`
  }
}

const cursorName = "governance"
const pollMs = 150
/** Blocks per getLogs call, so a long catch-up stays within node limits. */
const span = 2_000n

const lower = (a: unknown) => String(a).toLowerCase()
const stateName = (v: unknown) => CompanyState[Number(v)] ?? String(v)

export const make = (deps: { sql: Sql; ledger: GovernanceLedger; deployBlock: bigint; log: Log; onStateChanged?: (change: MemberChange) => void }) => {
  const { sql, ledger, log } = deps
  let stopped = false
  /** The fiber following the chain, while this instance does. */
  let follower: Fiber.Fiber<unknown> | undefined
  const caughtUp = new Set<{ block: bigint; resolve: () => void }>()
  /**
   * One read of the index's tables, its rows decoded once here with `row` (the table's columns as the driver gives
   * them); a row not as the index wrote it fails as ChainIndexFailed naming the read, like a store that does not answer.
   */
  const failed = (operation: string) => (cause: unknown) => new ChainIndexFailed({ operation, detail: cause instanceof Error ? cause.message : String(cause) })
  const read = <A, I>(operation: string, row: Schema.Codec<A, I>, text: string, params?: ReadonlyArray<unknown>) =>
    Effect.tryPromise({ try: () => sql.query<unknown>(text, params), catch: failed(operation) }).pipe(
      Effect.flatMap((rows) => Effect.mapError(Schema.decodeUnknownEffect(Schema.Array(row))(rows), (issue) => new ChainIndexFailed({ operation, detail: `a row is not as the index wrote it: ${String(issue)}` })))
    )

  const cursor = async (): Promise<bigint> => {
    const [row] = await sql.query<{ block: string }>(`select block from chain_cursor where name = $1`, [cursorName])
    return row ? BigInt(row.block) : deps.deployBlock - 1n
  }

  /** Applies one range of logs; returns the member changes to announce after the commit. */
  const apply = async (from: bigint, to: bigint): Promise<Array<MemberChange>> => {
    const logs = await ledger.logs(from, to)
    const changes: Array<MemberChange> = []
    await sql.transaction(async (tx) => {
      for (const l of logs) {
        const a = l.args
        const block = l.blockNumber.toString()
        switch (`${l.contract}.${l.name}`) {
          case "registry.CompanyRegistered":
            await tx.query(
              `insert into members(company_id, name, state, addresses, block) values ($1, $2, 'ToAudit', $3, $4)
                 on conflict (company_id) do nothing`,
              [lower(a.companyId), String(a.name), JSON.stringify([]), block]
            )
            break
          case "registry.AddressBound":
            await tx.query(
              `update members set addresses = (select coalesce(jsonb_agg(distinct x), '[]') from jsonb_array_elements_text(addresses || $2::jsonb) x), block = $3
                 where company_id = $1`,
              [lower(a.companyId), JSON.stringify([getAddress(String(a.account))]), block]
            )
            break
          case "registry.AddressRemoved":
            await tx.query(`update members set addresses = addresses - $2, block = $3 where company_id = $1`, [lower(a.companyId), getAddress(String(a.account)), block])
            break
          case "registry.StateChanged": {
            const [row] = await tx.query<{ name: string; addresses: Array<string> }>(
              `update members set state = $2, block = $3 where company_id = $1 returning name, addresses`,
              [lower(a.companyId), stateName(a.newState), block]
            )
            changes.push({ companyId: lower(a.companyId), name: row?.name ?? "", from: stateName(a.oldState) as CompanyState, to: stateName(a.newState) as CompanyState, addresses: row?.addresses ?? [] })
            break
          }
          case "catalog.DatasetPublished": {
            const d = a.description as Record<string, unknown>
            await tx.query(
              `insert into catalog(dataset_id, owner, domain, name, attrs, size, content_hash, location, policy, version, state, block)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'Active', $11)
                 on conflict (dataset_id) do update set domain = excluded.domain, attrs = excluded.attrs, size = excluded.size,
                   content_hash = excluded.content_hash, location = excluded.location, policy = excluded.policy,
                   version = excluded.version, block = excluded.block, updated_at = now()`,
              [lower(a.datasetId), getAddress(String(a.owner)), String(d.domain), String(d.name), String(d.attrs), String(d.size), lower(d.contentHash), String(d.location), AccessPolicy[Number(d.policy)], Number(a.version), block]
            )
            break
          }
          case "catalog.DatasetRetired":
            await tx.query(`update catalog set state = 'Retired', block = $2, updated_at = now() where dataset_id = $1`, [lower(a.datasetId), block])
            break
          case "grants.GrantRequested":
            await tx.query(
              `insert into grants(token_id, dataset_id, requester, owner, purpose, expiry, max_uses, status, block)
                 values ($1, $2, $3, $4, $5, $6, $7, 'Requested', $8) on conflict (token_id) do nothing`,
              [lower(a.tokenId), lower(a.datasetId), getAddress(String(a.requester)), getAddress(String(a.owner)), String(a.purpose), String(a.expiry), Number(a.maxUses), block]
            )
            break
          case "grants.GrantDecided":
            await tx.query(`update grants set status = $2, block = $3 where token_id = $1`, [lower(a.tokenId), a.approved ? "Approved" : "Rejected", block])
            break
          case "grants.GrantRevoked":
            await tx.query(`update grants set status = 'Revoked', block = $2 where token_id = $1`, [lower(a.tokenId), block])
            break
          case "grants.GrantUsed":
            await tx.query(`update grants set uses = $2, block = $3 where token_id = $1`, [lower(a.tokenId), Number(a.uses), block])
            await tx.query(
              `insert into grant_uses(token_id, task_id, uses, block, tx_hash) values ($1, $2, $3, $4, $5) on conflict do nothing`,
              [lower(a.tokenId), lower(a.taskId), Number(a.uses), block, l.txHash]
            )
            break
          case "modelRequests.ModelRequest":
            await tx.query(
              `insert into model_requests(req_id, dataset_id, from_account, to_account, payload_hash, payload_uri, state, block)
                 values ($1, $2, $3, $4, $5, $6, 'Requested', $7) on conflict (req_id) do nothing`,
              [lower(a.reqId), lower(a.datasetId), getAddress(String(a.from)), getAddress(String(a.to)), lower(a.payloadHash), String(a.payloadURI), block]
            )
            break
          case "modelRequests.ModelResult":
            await tx.query(`update model_requests set state = 'Answered', result_hash = $2, result_uri = $3, block = $4 where req_id = $1`, [lower(a.reqId), lower(a.resultHash), String(a.resultURI), block])
            break
          case "modelRequests.ModelDecided":
            // A rejection also emits ModelRefused (below); an approval leaves the request for its owner to answer.
            if (a.approve === true) await tx.query(`update model_requests set state = 'Approved', block = $2 where req_id = $1 and state = 'Requested'`, [lower(a.reqId), block])
            break
          case "modelRequests.ModelRefused":
            await tx.query(`update model_requests set state = 'Refused', block = $2 where req_id = $1`, [lower(a.reqId), block])
            break
        }
      }
      await tx.query(`insert into chain_cursor(name, block) values ($1, $2) on conflict (name) do update set block = excluded.block`, [cursorName, to.toString()])
    })
    return changes
  }

  const step = async () => {
    const head = await ledger.blockNumber()
    let from = (await cursor()) + 1n
    while (from <= head && !stopped) {
      const to = from + span - 1n < head ? from + span - 1n : head
      const changes = await apply(from, to)
      for (const change of changes) {
        try {
          deps.onStateChanged?.(change)
        } catch (error) {
          log.error("member state handler failed", { error: String(error) })
        }
      }
      from = to + 1n
    }
    for (const waiter of caughtUp) {
      if (head >= waiter.block) {
        caughtUp.delete(waiter)
        waiter.resolve()
      }
    }
  }

  /** One pass over the new blocks; a failure is logged and the next pass tries again. */
  const pass = Effect.tryPromise(step).pipe(
    Effect.catch((error) => Effect.sync(() => log.warn("chain index step failed; will retry", { error: String(error.cause ?? error).split("\n")[0] })))
  )
  const every = Schedule.spaced(Duration.millis(pollMs))

  return {
    /**
     * Follows the chain (on the one instance of a cluster that holds the index's lease; again after `stop`). The
     * first pass is made here: the chain or the store not answering it fails as ChainIndexFailed "start", and the
     * index does not follow (the cluster gives the lease up and starts it again: Cluster.Role); later passes retry
     * on their own.
     */
    start: (): Effect.Effect<void, ChainIndexFailed> =>
      Effect.gen(function*() {
        stopped = false
        yield* Effect.tryPromise({ try: step, catch: failed("start") })
        if (!stopped && follower === undefined) follower = Effect.runFork(Effect.andThen(Effect.sleep(Duration.millis(pollMs)), Effect.repeat(pass, every)))
      }),
    /**
     * Succeeds once the index has applied every block up to the chain head as of now — by this instance, or, on
     * an instance that does not follow the chain itself, by the one that does (the cursor is in the shared store).
     * The chain's head or the cursor not read is ChainIndexFailed "sync".
     */
    sync: (): Effect.Effect<void, ChainIndexFailed> =>
      Effect.gen(function*() {
        const head = yield* Effect.tryPromise({ try: () => ledger.blockNumber(), catch: failed("sync") })
        // Never rejects: the follower only ever resolves a waiter (once it has indexed up to `head`).
        if (!stopped && follower !== undefined) return yield* Effect.promise(() => new Promise<void>((resolve) => caughtUp.add({ block: head, resolve })))
        yield* Effect.tryPromise({ try: cursor, catch: failed("sync") }).pipe(Effect.repeat({ schedule: every, until: (at) => at >= head }))
      }),
    search: (q: string, options: { readonly includeRetired?: boolean } = {}): Effect.Effect<Array<CatalogRow>, ChainIndexFailed> => {
      const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
      return Effect.map(
        read("search", CatalogRecord, `select * from catalog where ($2 or state = 'Active')
           and (name ilike $1 or domain ilike $1 or attrs ilike $1 or location ilike $1 or owner ilike $1)
           order by updated_at desc limit 200`, [like, options.includeRetired ?? false]),
        (rows) => rows.map(toCatalog)
      )
    },
    /** Active catalogue entries whose content hash is `hash` (a model published for grants: hash = model id). */
    byContentHash: (hash: string): Effect.Effect<Array<CatalogRow>, ChainIndexFailed> =>
      Effect.map(read("byContentHash", CatalogRecord, `select * from catalog where content_hash = $1 and state = 'Active' order by block`, [hash.toLowerCase()]), (rows) => rows.map(toCatalog)),
    dataset: (id: string): Effect.Effect<CatalogRow | undefined, ChainIndexFailed> =>
      Effect.map(read("dataset", CatalogRecord, `select * from catalog where dataset_id = $1`, [id.toLowerCase()]), ([row]) => (row ? toCatalog(row) : undefined)),
    members: () =>
      Effect.map(read("members", MemberRecord, `select * from members order by name`), (rows) =>
        rows.map((r) => ({ companyId: r.company_id, name: r.name, state: r.state, addresses: r.addresses }))),
    grants: () =>
      Effect.map(read("grants", GrantRecord, `select * from grants order by block`), (rows) =>
        rows.map((r) => ({
          tokenId: r.token_id,
          datasetId: r.dataset_id,
          requester: r.requester,
          owner: r.owner,
          purpose: r.purpose,
          expiry: String(r.expiry),
          maxUses: r.max_uses,
          uses: r.uses,
          status: r.status
        }))),
    grantUses: () =>
      Effect.map(read("grantUses", GrantUseRecord, `select * from grant_uses order by block`), (rows) =>
        rows.map((r) => ({ tokenId: r.token_id, taskId: r.task_id, uses: r.uses, block: String(r.block), txHash: r.tx_hash }))),
    modelRequests: (filter: { readonly to?: string } = {}) =>
      Effect.map(read("modelRequests", ModelRequestRecord, `select * from model_requests where ($1::text is null or to_account = $1) order by block`, [filter.to ? getAddress(filter.to) : null]), (rows) =>
        rows.map((r) => ({
          reqId: r.req_id,
          datasetId: r.dataset_id,
          from: r.from_account,
          to: r.to_account,
          payloadHash: r.payload_hash,
          payloadURI: r.payload_uri,
          state: r.state,
          resultHash: r.result_hash,
          resultURI: r.result_uri
        }))),
    /** Stops following the chain (the follower interrupted before this succeeds). */
    stop: (): Effect.Effect<void> =>
      Effect.suspend(() => {
        stopped = true
        const running = follower
        follower = undefined
        return running === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(running))
      })
  }
}

/** A bigint column: node-postgres gives a decimal string, PGlite a number; the API shows it as a decimal string. */
const BigIntColumn = Schema.Union([Schema.String, Schema.Number, Schema.BigInt])

/** The index's tables' rows as the driver gives them (store/schema.sql.ts), decoded once by `read`. */
const CatalogRecord = Schema.Struct({
  dataset_id: Schema.String,
  owner: Schema.String,
  domain: Schema.String,
  name: Schema.String,
  attrs: Schema.String,
  size: BigIntColumn,
  content_hash: Schema.String,
  location: Schema.String,
  policy: Schema.String,
  version: Schema.Number,
  state: Schema.String,
  block: BigIntColumn
})
const MemberRecord = Schema.Struct({ company_id: Schema.String, name: Schema.String, state: Schema.String, addresses: Schema.Array(Schema.String) })
const GrantRecord = Schema.Struct({
  token_id: Schema.String,
  dataset_id: Schema.String,
  requester: Schema.String,
  owner: Schema.String,
  purpose: Schema.String,
  expiry: BigIntColumn,
  max_uses: Schema.Number,
  uses: Schema.Number,
  status: Schema.String
})
const GrantUseRecord = Schema.Struct({ token_id: Schema.String, task_id: Schema.String, uses: Schema.Number, block: BigIntColumn, tx_hash: Schema.String })
const ModelRequestRecord = Schema.Struct({
  req_id: Schema.String,
  dataset_id: Schema.String,
  from_account: Schema.String,
  to_account: Schema.String,
  payload_hash: Schema.String,
  payload_uri: Schema.String,
  state: Schema.String,
  result_hash: Schema.NullOr(Schema.String),
  result_uri: Schema.NullOr(Schema.String)
})

const toCatalog = (r: typeof CatalogRecord.Type): CatalogRow => ({
  datasetId: r.dataset_id,
  owner: r.owner,
  domain: r.domain,
  name: r.name,
  attrs: r.attrs,
  size: String(r.size),
  contentHash: r.content_hash,
  location: r.location,
  policy: r.policy,
  version: r.version,
  state: r.state,
  block: String(r.block)
})

export type ChainIndex = ReturnType<typeof make>
