/**
 * Single-use nonces any coordinator instance can check, whichever instance issued them. A nonce carries its own
 * expiry and a MAC under the coordinator's secret — `expiry (8 bytes) ‖ random (8) ‖ HMAC-SHA256(secret, purpose ‖
 * binding ‖ expiry ‖ random)[0..16)` — so checking one needs no memory of issuing it, and issuing holds nothing a
 * flood could fill. Only the *spending* is remembered, until the nonce would have expired anyway: in memory on a
 * single instance, in the store (`spent_nonces`) when several instances share it.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { Effect, Schema } from "effect"
import type { Sql } from "../store/Sql.ts"

/** The spent-nonce store did not answer (`operation`: the look or the spend). */
export class SpentStoreFailed extends Schema.TaggedError<SpentStoreFailed>()("SpentStoreFailed", { operation: Schema.Literals(["peek", "spend"]), message: Schema.String }) {}

/**
 * The spend itself failed: the store may have recorded it before failing (a commit whose answer was lost), so
 * whether the nonce is spent is not known and it must not be offered for a retry — the caller asks for a new one.
 */
export class NonceUnsettled extends Schema.TaggedError<NonceUnsettled>()("NonceUnsettled", { message: Schema.String }) {}

/** Remembers spent nonces until their expiry. */
export interface Spent {
  /** True the first time `nonce` is spent, false on any later attempt. */
  readonly spend: (nonce: string, expiresAt: number) => Effect.Effect<boolean, SpentStoreFailed>
  /** Whether `nonce` was spent already (a look that spends nothing). */
  readonly spent: (nonce: string) => Effect.Effect<boolean, SpentStoreFailed>
}

export const inMemory = (now: () => number = Date.now): Spent => {
  const spent = new Map<string, number>()
  let sweptAt = 0
  return {
    spend: (nonce, expiresAt) =>
      Effect.sync(() => {
        const t = now()
        if (t - sweptAt > 10_000) {
          sweptAt = t
          for (const [n, e] of spent) if (e < t) spent.delete(n)
        }
        if (spent.has(nonce)) return false
        spent.set(nonce, expiresAt)
        return true
      }),
    spent: (nonce) => Effect.sync(() => spent.has(nonce))
  }
}

/** Shared by every instance over one store. */
export const inStore = (sql: Sql): Spent => {
  let sweptAt = 0
  const query = (operation: "peek" | "spend", text: string, params?: ReadonlyArray<unknown>) =>
    Effect.tryPromise({ try: () => sql.query(text, params), catch: (error) => new SpentStoreFailed({ operation, message: error instanceof Error ? error.message : String(error) }) })
  return {
    spend: (nonce, expiresAt) =>
      Effect.gen(function*() {
        if (Date.now() - sweptAt > 60_000) {
          sweptAt = Date.now()
          yield* query("spend", `delete from spent_nonces where expires_at < now()`)
        }
        const rows = yield* query("spend", `insert into spent_nonces(nonce, expires_at) values ($1, to_timestamp($2::double precision / 1000)) on conflict do nothing returning nonce`, [
          nonce,
          expiresAt
        ])
        return rows.length > 0
      }),
    spent: (nonce) => Effect.map(query("peek", `select 1 from spent_nonces where nonce = $1`, [nonce]), (rows) => rows.length > 0)
  }
}

export type Checked = { readonly ok: true; readonly expiresAt: number } | { readonly ok: false; readonly reason: "Unknown" | "Expired" | "Spent" }

/** Issues and checks nonces of one `purpose` (e.g. "socket-login", "sign-in"), optionally bound to a value (an address). */
export const make = (options: { readonly secret: Uint8Array; readonly purpose: string; readonly lifetimeMs: number; readonly spent: Spent; readonly now?: () => number }) => {
  const now = options.now ?? Date.now
  const mac = (binding: string, head: Buffer) =>
    createHmac("sha256", options.secret).update(`${options.purpose}\n${binding.toLowerCase()}\n`).update(head).digest().subarray(0, 16)

  /** Its MAC under our secret and its expiry; the spending is the caller's. */
  const authentic = (nonce: string, binding: string): { readonly ok: true; readonly hex: string; readonly expiresAt: number } | Extract<Checked, { ok: false }> => {
    const hex = nonce.startsWith("0x") ? nonce.slice(2) : nonce
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) return { ok: false, reason: "Unknown" }
    const bytes = Buffer.from(hex, "hex")
    const head = bytes.subarray(0, 16)
    if (!timingSafeEqual(bytes.subarray(16), mac(binding, head))) return { ok: false, reason: "Unknown" }
    const expiresAt = Number(head.readBigUInt64BE(0))
    if (!(now() < expiresAt)) return { ok: false, reason: "Expired" }
    return { ok: true, hex: hex.toLowerCase(), expiresAt }
  }

  return {
    lifetimeMs: options.lifetimeMs,
    /** A fresh nonce (64 hex digits) and when it expires (ms). */
    issue: (binding = ""): { readonly nonce: string; readonly expiresAt: number } => {
      const expiresAt = now() + options.lifetimeMs
      const head = Buffer.alloc(16)
      head.writeBigUInt64BE(BigInt(expiresAt), 0)
      randomBytes(8).copy(head, 8)
      return { nonce: Buffer.concat([head, mac(binding, head)]).toString("hex"), expiresAt }
    },
    /** Checks authenticity, expiry and that it is not spent yet, without spending it (a look before a signature). */
    peek: (nonce: string, binding = ""): Effect.Effect<Checked, SpentStoreFailed> => {
      const checked = authentic(nonce, binding)
      if (!checked.ok) return Effect.succeed(checked)
      return Effect.map(options.spent.spent(checked.hex), (spent): Checked => spent ? { ok: false, reason: "Spent" } : { ok: true, expiresAt: checked.expiresAt })
    },
    /** Checks authenticity and expiry, then spends the nonce (a second check of the same nonce fails as Spent). */
    check: (nonce: string, binding = ""): Effect.Effect<Checked, SpentStoreFailed> => {
      const checked = authentic(nonce, binding)
      if (!checked.ok) return Effect.succeed(checked)
      return Effect.map(options.spent.spend(checked.hex, checked.expiresAt), (spent): Checked => spent ? { ok: true, expiresAt: checked.expiresAt } : { ok: false, reason: "Spent" })
    }
  }
}

export type Nonces = ReturnType<typeof make>

/**
 * Reads first, spends last: looks at `nonce` (a stale or replayed one costs no read), runs `read` — everything the
 * caller's decision needs from outside (a chain, a DID registry) — and only once it succeeded spends the nonce, the
 * single atomic step, so of two uses racing with one nonce exactly one gets `ok`. A read that fails fails with its
 * own error and leaves the nonce unspent for a retry with the same signed message; a look the store does not
 * answer is SpentStoreFailed, nothing spent either. A spend that fails is NonceUnsettled: it may have been recorded
 * before the failure, so the signed message must not be offered again (its retry could be refused as a replay) —
 * the caller asks for a new nonce.
 */
export const readThenSpend = <A, E>(
  nonces: Nonces,
  nonce: string,
  binding: string,
  read: Effect.Effect<A, E>
): Effect.Effect<(Extract<Checked, { ok: true }> & { readonly value: A }) | Extract<Checked, { ok: false }>, E | SpentStoreFailed | NonceUnsettled> =>
  Effect.gen(function*() {
    const seen = yield* nonces.peek(nonce, binding)
    if (!seen.ok) return seen
    const value = yield* read
    const spent = yield* Effect.mapError(nonces.check(nonce, binding), (failed) => new NonceUnsettled({ message: `the spend of the nonce failed, and may have been recorded: ${failed.message}` }))
    return spent.ok ? { ...spent, value } : spent
  })

/** A look at `nonce` that spends nothing, failing as SpentStoreFailed when the store does not answer. */
export const peek = (nonces: Nonces, nonce: string, binding = "") => nonces.peek(nonce, binding)
