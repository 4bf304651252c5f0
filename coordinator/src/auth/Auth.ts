/**
 * Who is on the other end of a socket. A participant proves control of its org's chain account by signing an
 * EIP-712 Login over a fresh single-use nonce; the coordinator then asks the chain whether that org is
 * `Audited` (not merely registered, not suspended) before letting it in (DESIGN.md §4).
 */
import { randomBytes } from "node:crypto"
import { Effect, Schedule, Schema } from "effect"
import { getAddress } from "ethers"
import * as Nonces from "./Nonces.ts"
import { type AdmissionCode, AdmissionRefused } from "@jointly/core/internal/wire/Admission"
import type { HandshakeAuth } from "@jointly/core/internal/wire/Messages"

export type OrgState = "None" | "ToAudit" | "Audited" | "Suspended" | "Revoked"

/** The chain did not answer what it says of `address`'s org (admission answers Unavailable, the nonce unspent). */
export class OrgUnreadable extends Schema.TaggedError<OrgUnreadable>()("OrgUnreadable", { address: Schema.String, detail: Schema.String }) {
  override get message() {
    return `the chain could not be read for ${this.address}: ${this.detail}`
  }
}

/**
 * An org's did:ethr document could not be resolved (the DID registry not answering, a document that does not
 * parse): the coordinator's own trouble, never the org's — admission answers Unavailable, a sign-in 503.
 */
export class DidUnresolved extends Schema.TaggedError<DidUnresolved>()("DidUnresolved", { account: Schema.String, detail: Schema.String }) {
  override get message() {
    return `the DID of ${this.account} could not be resolved: ${this.detail}`
  }
}

/** A DID read over a Promise-returning resolver (DidIdentity.makeResolver's `resolve`): its rejection is DidUnresolved. */
export const didKeysOf = <Keys>(resolve: (account: string) => Promise<Keys>) => (account: string): Effect.Effect<Keys, DidUnresolved> =>
  Effect.tryPromise({ try: () => resolve(account), catch: (cause) => new DidUnresolved({ account, detail: cause instanceof Error ? cause.message : String(cause) }) })

/** What the coordinator needs to know of the chain for admission; implemented over the Ledger. */
export interface Registry {
  readonly orgOf: (address: string) => Effect.Effect<{ readonly state: OrgState; readonly name: string; readonly pending?: boolean }, OrgUnreadable>
}

/** A Registry over a Promise-returning read of the chain: its rejection is OrgUnreadable naming the address. */
export const registryOf = (orgOf: (address: string) => Promise<Effect.Success<ReturnType<Registry["orgOf"]>>>): Registry => ({
  orgOf: (address) => Effect.tryPromise({ try: () => orgOf(address), catch: (cause) => new OrgUnreadable({ address, detail: cause instanceof Error ? cause.message : String(cause) }) })
})

export interface LoginVerifier {
  /** Recovers the signer of the EIP-712 Login; throws on a malformed signature. */
  readonly recover: (login: { account: string; nonce: string; issuedAt: number }, signature: string) => string
}

export type Refusal = AdmissionCode
export { AdmissionRefused }

const nonceLifetimeMs = 2 * 60_000

export interface Options {
  /** MAC key of the login nonces; instances of one cluster share it (default: drawn at start). */
  readonly secret?: Uint8Array
  /** Where spent nonces are remembered (default: this process; the store when instances share one). */
  readonly spent?: Nonces.Spent
  /**
   * The addresses an org's DID currently authorises to sign its Login (identity/DidIdentity.ts: the account and its
   * unexpired `sigAuth` delegates), resolved at every handshake so a key revoked on chain is refused at the next.
   * Without it only the account itself may sign.
   */
  readonly loginSigners?: (account: string) => Effect.Effect<ReadonlySet<string>, DidUnresolved>
  /**
   * The TLS client certificate keys (DER SPKI, hex) an org's DID names now (identity/DidIdentity.ts), resolved at every
   * handshake. Given, a participant is admitted only over a connection whose client certificate has one of them
   * (auth/ClientCertificates.ts); without it, client certificates are not asked about.
   */
  readonly tlsClientKeys?: (account: string) => Effect.Effect<ReadonlyArray<string>, DidUnresolved>
}

/** What the connection itself tells of the client: its TLS client certificate's key, when it presented one. */
export interface Connection {
  readonly clientKey?: string
}

/** What the chain says of an admissible org. */
export interface Org {
  readonly state: "Audited"
  readonly name: string
}

export const make = (registry: Registry, verifier: LoginVerifier, options: Options = {}) => {
  const loginSigners = options.loginSigners
  // Checkable by any instance that shares the secret; spent once across them (Nonces.ts).
  const nonces = Nonces.make({ secret: options.secret ?? randomBytes(32), purpose: "socket-login", lifetimeMs: nonceLifetimeMs, spent: options.spent ?? Nonces.inMemory() })

  /**
   * A read the coordinator could not make (the chain, a DID, the spent-nonce store) is its own failure, never the
   * org's: code Unavailable, named. `checkOrg` serves the scheduler too, so the login's own words (its nonce is left
   * unspent) are added by `admit` alone.
   */
  const unavailable = (what: string) => (error: unknown) =>
    new AdmissionRefused({ code: "Unavailable", detail: `${what}: ${error instanceof Error ? error.message : String(error)}` })

  const didUnavailable = (error: DidUnresolved) => new AdmissionRefused({ code: "Unavailable", detail: error.message })

  /**
   * Checks an org's chain state; the refusal's code names the state when it is not Audited (OrgNotRegistered,
   * OrgNotAudited, OrgSuspended, OrgRevoked), or is Unavailable when the chain could not be read.
   */
  const checkOrg = (account: string): Effect.Effect<Org, AdmissionRefused> =>
    Effect.flatMap(Effect.mapError(registry.orgOf(account), (error) => unavailable(`the chain could not be read for ${account}`)(error.detail)), (org) => {
      switch (org.state) {
        case "Audited":
          return Effect.succeed({ state: "Audited", name: org.name })
        case "None":
          return Effect.fail(new AdmissionRefused({ code: "OrgNotRegistered", detail: `${account} is not bound to any registered organisation` }))
        case "ToAudit":
          return Effect.fail(new AdmissionRefused({ code: "OrgNotAudited", detail: `organisation ${org.name} (${account}) awaits the supervisor's audit` }))
        case "Suspended":
          return Effect.fail(new AdmissionRefused({ code: "OrgSuspended", detail: `organisation ${org.name} (${account}) is suspended by the supervisor` }))
        case "Revoked":
          return Effect.fail(new AdmissionRefused({ code: "OrgRevoked", detail: `organisation ${org.name} (${account}) has been revoked` }))
      }
    })

  /** The signer of a Login, refused as BadSignature when the account or the signature does not parse. */
  const recovered = (auth: HandshakeAuth) =>
    Effect.try({
      try: () => {
        const account = getAddress(auth.account)
        return { account, signer: getAddress(verifier.recover({ account, nonce: auth.nonce, issuedAt: auth.issuedAt }, auth.signature)) }
      },
      catch: (error) => new AdmissionRefused({ code: "BadSignature", detail: `the login signature does not parse: ${(error as Error).message}` })
    })

  /** With `tlsClientKeys`: the connection's client certificate is one the org's DID names now. */
  const checkClientCertificate = (account: string, connection: Connection) =>
    Effect.gen(function*() {
      if (options.tlsClientKeys === undefined) return
      if (connection.clientKey === undefined) {
        return yield* new AdmissionRefused({ code: "ClientCertificateMissing", detail: `this coordinator admits ${account} only with a TLS client certificate its DID names; none was presented` })
      }
      const named = yield* Effect.mapError(options.tlsClientKeys(account), didUnavailable)
      if (!named.includes(connection.clientKey.toLowerCase())) {
        return yield* new AdmissionRefused({
          code: "ClientCertificateNotInDid",
          detail: `the TLS client certificate presented (key ${connection.clientKey.slice(-16)}…) is not one ${account}'s DID names (${named.length} named; never published, rotated away or revoked)`
        })
      }
    })

  /** Every check of a Login but the nonce's: fresh signature by the account or a login key its DID names, org Audited, certificate named. */
  const checkLogin = (auth: HandshakeAuth, connection: Connection) =>
    Effect.gen(function*() {
      const { account, signer } = yield* recovered(auth)
      if (signer !== account && loginSigners === undefined) {
        return yield* new AdmissionRefused({ code: "BadSignature", detail: `the login was signed by ${signer}, not by ${account}` })
      }
      // The org must be admissible before its DID is consulted: a suspended org's keys are no way in.
      const org = yield* checkOrg(account)
      if (signer !== account) {
        const allowed = yield* Effect.mapError(loginSigners!(account), didUnavailable)
        if (!allowed.has(signer)) {
          return yield* new AdmissionRefused({ code: "KeyNotAuthorized", detail: `${signer} is not a login key of ${account}'s DID (never published, expired or revoked)` })
        }
      }
      yield* checkClientCertificate(account, connection)
      return { account, org: org.name }
    })

  /**
   * Admits a socket: single-use nonce, fresh signature by `account` (or a login key its DID names), org Audited on
   * chain, and — when client certificates are bound to DIDs — the connection's certificate named by the org's DID.
   * Reads first, spends last (Nonces.readThenSpend): the nonce is spent only by a login admitted, so a chain or
   * registry that does not answer (Unavailable) leaves it for a retry with the same Login, and a refusal spends
   * nothing either — a socket-login nonce is bound to no account and is handed to anyone who asks; what it guards
   * against is the replay of an admitted Login, and of two admissions racing with one nonce exactly one succeeds.
   * A spend the nonce store fails is NonceUnsettled (it may have been recorded): the participant asks for a new nonce.
   */
  const admit = (auth: HandshakeAuth, connection: Connection = {}): Effect.Effect<{ readonly account: string; readonly org: string }, AdmissionRefused> =>
    Effect.gen(function*() {
      const checked = yield* Nonces.readThenSpend(nonces, auth.nonce, "", checkLogin(auth, connection)).pipe(
        Effect.mapError((error) =>
          error instanceof Nonces.SpentStoreFailed
            ? unavailable("the login nonce could not be checked")(error)
            : error instanceof Nonces.NonceUnsettled
            ? new AdmissionRefused({ code: "NonceUnsettled", detail: `${error.message}; ask for a new login nonce` })
            : error
        ),
        // Nothing was spent (readThenSpend spends last): the participant may retry with the same Login.
        Effect.mapError((error) => error.code === "Unavailable" ? new AdmissionRefused({ code: "Unavailable", detail: `${error.detail}; the login nonce is not spent` }) : error)
      )
      if (!checked.ok) {
        if (checked.reason === "Expired") return yield* new AdmissionRefused({ code: "ExpiredLogin", detail: "the login nonce expired" })
        return yield* new AdmissionRefused({ code: "UnknownNonce", detail: "the login nonce is unknown or was already used" })
      }
      return checked.value
    })

  return {
    issueNonce: () => {
      const { nonce, expiresAt } = nonces.issue()
      return { nonce: `0x${nonce}`, expiresAt }
    },
    checkOrg,
    admit
  }
}

export type Auth = ReturnType<typeof make>

/**
 * `check` (a `checkOrg`) again while the chain does not answer (Unavailable: an RPC node restarting, a 503), until
 * `deadline` (ms since the epoch): after 100 ms, doubling to at most 2 s between tries, jittered so the waiting
 * tasks of one outage do not ask all at once. An org's refusal is returned at once; the last Unavailable once
 * the deadline has passed.
 */
export const untilChainAnswers = <A>(check: Effect.Effect<A, AdmissionRefused>, deadline: number): Effect.Effect<A, AdmissionRefused> =>
  Effect.suspend(() =>
    Effect.retry(check, {
      schedule: Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("2 seconds")]).pipe(
        Schedule.jittered,
        Schedule.upTo({ duration: Math.max(0, deadline - Date.now()) })
      ),
      while: (refusal) => refusal.code === "Unavailable"
    })
  )
