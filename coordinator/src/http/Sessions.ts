/**
 * Sign-in and bearer tokens. A member asks for a challenge (an EIP-4361 message for its address with a fresh,
 * single-use nonce bound to that address — MAC'd, so any instance sharing the secret can check it and issuing one
 * stores nothing, coordinator/src/auth/Nonces.ts — core/src/api/SignIn.ts), signs it, and exchanges it for a short-lived token bound to that
 * address: `v1.<claims>.<mac>`, the claims base64url JSON `{ a: address, i: issued ms, e: expiry ms, n: id }` and
 * the mac HMAC-SHA256 of them under the coordinator's secret (configured, so tokens survive a restart, or drawn at
 * start). Verifying a token needs no store; what the account may do is read from the chain on each request
 * (Roles.ts), so a member suspended since it signed in is refused at once.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { Effect } from "effect"
import { getAddress } from "ethers"
import { NonceUnsettled, SignInRefused, Unavailable } from "@jointly/core/internal/api/Errors"
import * as SignIn from "@jointly/core/internal/api/SignIn"
import * as Nonces from "../auth/Nonces.ts"
import type { DidUnresolved } from "../auth/Auth.ts"

export interface Options {
  /** The coordinator's domain, URI and chain (read when needed: a server on port 0 learns its port on listening). */
  readonly expected: () => SignIn.Expected
  /** HMAC key, at least 32 bytes; default: 32 random bytes per process. */
  readonly secret?: Uint8Array
  /** Token lifetime (default 15 minutes). */
  readonly tokenTtlMs?: number
  /** How long a challenge may wait for its signature (default 5 minutes). */
  readonly challengeTtlMs?: number
  /** Where spent challenge nonces are remembered (default: this process; the store when instances share one). */
  readonly spent?: Nonces.Spent
  readonly now?: () => number
  /**
   * The addresses allowed to sign an account's sign-in besides the account: the login keys (`sigAuth` delegates) its
   * did:ethr document names now, resolved at every sign-in as the socket handshake does (auth/Auth.ts). Without
   * it only the account signs. A read that fails answers Unavailable and leaves the nonce unspent.
   */
  readonly loginSigners?: (account: string) => Effect.Effect<ReadonlySet<string>, DidUnresolved>
}

export interface Claims {
  readonly address: string
  readonly issuedAt: number
  readonly expiresAt: number
}

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url")

export const make = (options: Options) => {
  const secret = options.secret ?? randomBytes(32)
  if (secret.length < 32) throw new Error("the token secret must be at least 32 bytes")
  const now = options.now ?? Date.now
  const tokenTtlMs = options.tokenTtlMs ?? 15 * 60_000
  const challengeTtlMs = options.challengeTtlMs ?? 5 * 60_000
  const nonces = Nonces.make({ secret, purpose: "sign-in", lifetimeMs: challengeTtlMs, spent: options.spent ?? Nonces.inMemory(now), now })

  const mac = (claims: string) => createHmac("sha256", secret).update(claims).digest()

  const issue = (address: string): { readonly token: string; readonly claims: Claims } => {
    const issuedAt = now()
    const claims: Claims = { address: getAddress(address), issuedAt, expiresAt: issuedAt + tokenTtlMs }
    const body = b64(JSON.stringify({ a: claims.address, i: claims.issuedAt, e: claims.expiresAt, n: randomBytes(8).toString("hex") }))
    return { token: `v1.${body}.${b64(mac(body))}`, claims }
  }

  /** The claims of a token whose MAC verifies and which has not expired. */
  const check = (token: string): Claims | undefined => {
    const [version, body, tag] = token.split(".")
    if (version !== "v1" || body === undefined || tag === undefined) return undefined
    const expected = mac(body)
    const given = Buffer.from(tag, "base64url")
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    let claims: { a?: unknown; i?: unknown; e?: unknown }
    try {
      claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8"))
    } catch {
      return undefined
    }
    if (typeof claims.a !== "string" || typeof claims.i !== "number" || typeof claims.e !== "number" || !(now() < claims.e)) return undefined
    return { address: claims.a, issuedAt: claims.i, expiresAt: claims.e }
  }
  const verified = new Map<string, Claims>()

  /** The fields of an EIP-4361 message addressed to this coordinator (its domain, URI and chain). */
  const addressed = (message: string): Effect.Effect<SignIn.Fields, SignInRefused> => {
    const fields = SignIn.parse(message)
    if (fields === undefined) return Effect.fail(new SignInRefused({ reason: "Malformed", message: "not an EIP-4361 sign-in message" }))
    const wrong = SignIn.mismatch(fields, options.expected())
    return wrong !== undefined ? Effect.fail(new SignInRefused({ reason: "WrongDomain", message: wrong })) : Effect.succeed(fields)
  }

  /** The spent-nonce store (the coordinator's database when instances share one) not answering: nothing was spent. */
  const storeUnavailable = (error: Nonces.SpentStoreFailed) =>
    new Unavailable({ message: `the sign-in nonce could not be checked (${error.message}); try again with the same message` })
  /** The store failed while spending the nonce, which may be spent now: the message is not offered again. */
  const unsettled = (error: Nonces.NonceUnsettled) =>
    new NonceUnsettled({ message: `${error.message}; nothing was issued: ask for a new challenge and sign that` })

  /** A challenge nonce refused: expired, or never issued for this address (or spent already). */
  const refusedChallenge = (reason: string) =>
    Effect.fail(reason === "Expired"
      ? new SignInRefused({ reason: "Expired", message: "the sign-in message expired; ask for a new challenge" })
      : new SignInRefused({ reason: "UnknownNonce", message: "the nonce was not issued for this address, or was already used" }))

  return {
    /** A challenge for `address`: the exact message to sign. */
    challenge: (address: string) => {
      const t = now()
      const { nonce, expiresAt } = nonces.issue(getAddress(address))
      const message = SignIn.prepare({ ...options.expected(), address, nonce, issuedAt: new Date(t), expiresAt: new Date(expiresAt) })
      return { message, nonce, expiresAt: new Date(expiresAt).toISOString() }
    },

    /**
     * The fields of a challenge this coordinator issued and still awaits, checked as `signIn` checks them but
     * without the signature and without spending the nonce: what a dashboard token sign-in relays to the
     * participant before the participant signs. Each refusal is a SignInRefused naming its reason; the spent-nonce
     * store not answering is Unavailable.
     */
    pending: (message: string): Effect.Effect<SignIn.Fields, SignInRefused | Unavailable> =>
      Effect.gen(function*() {
        const fields = yield* addressed(message)
        const challenge = yield* Effect.mapError(Nonces.peek(nonces, fields.nonce, fields.address), storeUnavailable)
        if (!challenge.ok) return yield* refusedChallenge(challenge.reason)
        return fields
      }),

    /**
     * Checks a signed challenge and issues a token. Everything read from outside — the signer's DID, and `ready`,
     * what the caller's answer needs (the account's roles) — is read before the nonce is spent: a chain or registry
     * that does not answer fails as Unavailable and leaves the nonce for a retry with the same message. The spend
     * is the single atomic step (Nonces.ts), so of two sign-ins with one nonce exactly one gets a token; once it is
     * spent, a refusal (another signer, an expired message) keeps it spent. The spend failing is NonceUnsettled
     * (it may have been recorded): the client asks for a new challenge rather than retrying a message it may not reuse.
     */
    signIn: <A = void, E = never>(
      message: string,
      signature: string,
      ready: (address: string) => Effect.Effect<A, E> = () => Effect.void as Effect.Effect<never>
    ): Effect.Effect<{ readonly token: string; readonly claims: Claims; readonly ready: A }, SignInRefused | Unavailable | NonceUnsettled | E> =>
      Effect.gen(function*() {
        const fields = yield* addressed(message)
        const signer = SignIn.signer(message, signature)
        // A login key the account's DID names now signs in for the account (its token is the account's).
        const loginSigners = options.loginSigners
        const reads = Effect.gen(function*() {
          const delegated = signer !== undefined && signer !== fields.address && loginSigners !== undefined
            ? (yield* Effect.mapError(loginSigners(fields.address), (error) =>
              new Unavailable({ message: `the DID of ${error.account} could not be resolved (${error.detail}); the nonce is not spent: sign in again with the same message` }))).has(signer)
            : false
          const readied = signer === fields.address || delegated ? yield* ready(fields.address) : undefined
          return { delegated, readied }
        })
        const challenge = yield* Nonces.readThenSpend(nonces, fields.nonce, fields.address, reads).pipe(
          Effect.mapError((error) => error instanceof Nonces.SpentStoreFailed ? storeUnavailable(error) : error instanceof Nonces.NonceUnsettled ? unsettled(error) : error)
        )
        if (!challenge.ok) return yield* refusedChallenge(challenge.reason)
        const { delegated, readied } = challenge.value
        const expires = fields.expirationTime === undefined ? challenge.expiresAt : Math.min(challenge.expiresAt, Date.parse(fields.expirationTime))
        if (!(now() < expires)) return yield* refusedChallenge("Expired")
        if (signer === undefined) return yield* new SignInRefused({ reason: "BadSignature", message: "the signature does not parse" })
        if (signer !== fields.address && !delegated) {
          const nor = options.loginSigners === undefined ? "" : " nor by a login key its DID names now"
          return yield* new SignInRefused({ reason: "BadSignature", message: `the message was signed by ${signer}, not by ${fields.address}${nor}` })
        }
        return { ...issue(fields.address), ready: readied as A }
      }),

    /** The claims of a valid, unexpired token; undefined for anything else. */
    verify: (token: string): Claims | undefined => {
      // A token checked before needs only its expiry checked again: the MAC and the JSON are the same bytes.
      const known = verified.get(token)
      if (known !== undefined) {
        if (now() < known.expiresAt) return known
        verified.delete(token)
        return undefined
      }
      const claims = check(token)
      if (claims !== undefined) {
        if (verified.size >= verifiedCap) verified.delete(verified.keys().next().value!)
        verified.set(token, claims)
      }
      return claims
    }
  }
}

/** Tokens already verified, kept so a client's next requests skip the HMAC and the parse (oldest dropped first). */
const verifiedCap = 10_000

export type Sessions = ReturnType<typeof make>
