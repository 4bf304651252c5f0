/**
 * The keys an organisation published in its did:ethr document for this participant to sign with instead of its
 * account (core/src/identity/DidIdentity.ts): a **consent key** (`veriKey` delegate) signs its task consents, a
 * **login key** (`sigAuth` delegate) its socket Login. Each sits in its own encrypted key file on this host, so the
 * org can revoke one on chain without touching the account.
 *
 * A participant checks them against its DID at start, through the registry it reads itself: a key the DID does not
 * name now (never published, expired or revoked) would only have its consents refused one task at a time, so it
 * stops the start with a typed error naming the key, the DID and why.
 */
import { Effect, type Redacted, Schema } from "effect"
import type { Wallet } from "ethers"
import type * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import { DidResolutionFailed } from "@jointly/core/internal/identity/DidIdentity"
import * as Keystore from "./Keystore.ts"

export class DelegateKeyNotInDid extends Schema.TaggedError<DelegateKeyNotInDid>()("DelegateKeyNotInDid", {
  role: Schema.Literals(["consent", "login"]),
  key: Schema.String,
  did: Schema.String,
  reason: Schema.Literals(["NeverPublished", "ExpiredOrRevoked"]),
  detail: Schema.String
}) {
  override get message() {
    return `the ${this.role} key ${this.key} is not a current ${this.role} key of ${this.did} (${this.reason}): ${this.detail}`
  }
}

export interface Files {
  readonly consentKey?: string
  readonly loginKey?: string
}

export interface Keys {
  readonly consentKey?: Wallet
  readonly loginKey?: Wallet
}

/** Opens the key files the config names (one passphrase for all of a participant's keys). */
export const open = (files: Files, passphrase: string | Redacted.Redacted<string> | undefined): Effect.Effect<Keys, Keystore.KeystoreError> =>
  Effect.all({
    consentKey: files.consentKey === undefined ? Effect.undefined : Keystore.openKeyFile(files.consentKey, passphrase),
    loginKey: files.loginKey === undefined ? Effect.undefined : Keystore.openKeyFile(files.loginKey, passphrase)
  }).pipe(Effect.map(({ consentKey, loginKey }) => ({ ...(consentKey === undefined ? {} : { consentKey }), ...(loginKey === undefined ? {} : { loginKey }) })))

/**
 * Fails with DelegateKeyNotInDid unless every key given is one `account`'s DID names now (the chain's current block),
 * or DidResolutionFailed when the document cannot be read.
 */
export const check = (
  resolver: Pick<DidIdentity.DidResolver, "consentKey" | "loginKey">,
  did: string,
  account: string,
  keys: Keys
): Effect.Effect<void, DelegateKeyNotInDid | DidResolutionFailed> =>
  Effect.forEach([["consent", keys.consentKey], ["login", keys.loginKey]] as const, ([role, key]) =>
    key === undefined ? Effect.void : Effect.tryPromise({
      try: () => (role === "consent" ? resolver.consentKey : resolver.loginKey)(account, key.address),
      catch: (cause) => cause instanceof DidResolutionFailed ? cause : new DidResolutionFailed({ did, message: cause instanceof Error ? cause.message : String(cause) })
    }).pipe(Effect.flatMap((verdict) =>
      verdict.valid ? Effect.void : Effect.fail(new DelegateKeyNotInDid({ role, key: key.address, did, reason: verdict.reason, detail: verdict.detail }))
    )), { discard: true })
