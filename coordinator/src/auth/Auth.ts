/**
 * Who is on the other end of a socket. A participant proves control of its org's chain account by signing an
 * EIP-712 Login over a fresh single-use nonce; the coordinator then asks the chain whether that org is
 * `Audited` (not merely registered, not suspended) before letting it in (DESIGN.md §4).
 */
import { randomBytes } from "node:crypto"
import { getAddress } from "ethers"
import * as Nonces from "./Nonces.ts"
import { type AdmissionCode, AdmissionRefused } from "@jointly/core/internal/wire/Admission"
import type { HandshakeAuth } from "@jointly/core/internal/wire/Messages"

export type OrgState = "None" | "ToAudit" | "Audited" | "Suspended" | "Revoked"

/** What the coordinator needs to know of the chain for admission; implemented over the Ledger. */
export interface Registry {
  readonly orgOf: (address: string) => Promise<{ readonly state: OrgState; readonly name: string; readonly pending?: boolean }>
}

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
  readonly loginSigners?: (account: string) => Promise<ReadonlySet<string>>
}

export const make = (registry: Registry, verifier: LoginVerifier, options: Options = {}) => {
  const loginSigners = options.loginSigners
  // Checkable by any instance that shares the secret; spent once across them (Nonces.ts).
  const nonces = Nonces.make({ secret: options.secret ?? randomBytes(32), purpose: "socket-login", lifetimeMs: nonceLifetimeMs, spent: options.spent ?? Nonces.inMemory() })

  /** Checks an org's chain state; the reason names the state when it is not Audited. */
  const checkOrg = async (account: string) => {
    const org = await registry.orgOf(account)
    switch (org.state) {
      case "Audited":
        return org
      case "None":
        throw new AdmissionRefused({ code: "OrgNotRegistered", detail: `${account} is not bound to any registered organisation` })
      case "ToAudit":
        throw new AdmissionRefused({ code: "OrgNotAudited", detail: `organisation ${org.name} (${account}) awaits the supervisor's audit` })
      case "Suspended":
        throw new AdmissionRefused({ code: "OrgSuspended", detail: `organisation ${org.name} (${account}) is suspended by the supervisor` })
      case "Revoked":
        throw new AdmissionRefused({ code: "OrgRevoked", detail: `organisation ${org.name} (${account}) has been revoked` })
    }
  }

  return {
    issueNonce: () => {
      const { nonce, expiresAt } = nonces.issue()
      return { nonce: `0x${nonce}`, expiresAt }
    },

    checkOrg,

    /** Admits a socket: single-use nonce, fresh signature by `account`, org Audited on chain. */
    admit: async (auth: HandshakeAuth) => {
      const checked = await nonces.check(auth.nonce)
      if (!checked.ok) {
        if (checked.reason === "Expired") throw new AdmissionRefused({ code: "ExpiredLogin", detail: "the login nonce expired" })
        throw new AdmissionRefused({ code: "UnknownNonce", detail: "the login nonce is unknown or was already used" })
      }
      let signer: string
      let account: string
      try {
        account = getAddress(auth.account)
        signer = getAddress(verifier.recover({ account, nonce: auth.nonce, issuedAt: auth.issuedAt }, auth.signature))
      } catch (error) {
        throw new AdmissionRefused({ code: "BadSignature", detail: `the login signature does not parse: ${(error as Error).message}` })
      }
      if (signer === account) return { account, org: (await checkOrg(account)).name }
      if (loginSigners === undefined) throw new AdmissionRefused({ code: "BadSignature", detail: `the login was signed by ${signer}, not by ${account}` })
      // The org must be admissible before its DID is consulted: a suspended org's keys are no way in.
      const org = await checkOrg(account)
      let allowed: ReadonlySet<string>
      try {
        allowed = await loginSigners(account)
      } catch (error) {
        throw new AdmissionRefused({ code: "Internal", detail: `the DID of ${account} could not be resolved: ${(error as Error).message}` })
      }
      if (!allowed.has(signer)) {
        throw new AdmissionRefused({ code: "KeyNotAuthorized", detail: `${signer} is not a login key of ${account}'s DID (never published, expired or revoked)` })
      }
      return { account, org: org.name }
    }
  }
}

export type Auth = ReturnType<typeof make>
