/**
 * The coordinator's own encryption key (issue 16 item 1): a secp256k1 key kept like its account key (an encrypted
 * keystore named by `encryptionKeystore` in coordinator.json; in a local cluster, the operator's keys file) and
 * published the way the members publish theirs — the newest `keyAgreement` key of the coordinator account's
 * did:ethr document (`DidIdentity`), which is where a sealed artifact's readers' keys are looked up
 * (`DidIdentity.currentEncryptionKey`). With it the coordinator is a reader of the checkpoints of the tasks it
 * runs (Scheduler.ts states the rule); a verifier who sees its public key among a checkpoint's readers finds it in
 * the coordinator's DID.
 */
import { Schema } from "effect"
import { getBytes, SigningKey } from "ethers"
import type { ChainClient } from "@jointly/core/internal/ledger/Chain"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"

/** How long a published key stays valid in the DID (re-published at a start once it has lapsed). */
export const DEFAULT_VALIDITY_SECONDS = 365n * 86_400n

export class EncryptionKeyNotPublished extends Schema.TaggedError<EncryptionKeyNotPublished>()("EncryptionKeyNotPublished", {
  account: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the coordinator's encryption key was not published in ${this.account}'s DID: ${this.detail}`
  }
}

/** The compressed public key (0x…, 33 bytes) of an encryption secret key. */
export const publicKeyOf = (secretKey: Uint8Array): string => SigningKey.computePublicKey(secretKey, true).toLowerCase()

/**
 * Makes `publicKey` the current encryption key of the account's DID, unless it already is (then no transaction):
 * one `setAttribute` signed by the account, which controls its own DID.
 */
export const publish = async (o: {
  readonly chain: ChainClient
  /** The coordinator account's private key (the DID's controller). */
  readonly privateKey: string
  /** The deployment's DidRegistry. */
  readonly registry: string
  readonly publicKey: string
  readonly validitySeconds?: bigint
}): Promise<{ readonly account: string; readonly published: boolean }> => {
  const signer = o.chain.signer(o.privateKey)
  const publicKey = o.publicKey.toLowerCase()
  if (getBytes(publicKey).length !== 33) throw new EncryptionKeyNotPublished({ account: signer.address, detail: `${o.publicKey} is not a compressed secp256k1 key` })
  const resolver = DidIdentity.makeResolver({ chainId: o.chain.chainId, registry: o.registry, provider: o.chain.provider })
  try {
    if ((await resolver.resolve(signer.address)).encryptionKeys.at(-1) === publicKey) return { account: signer.address, published: false }
    await DidIdentity.makeController(o.chain, signer, o.registry).addEncryptionKey(publicKey, o.validitySeconds ?? DEFAULT_VALIDITY_SECONDS)
  } catch (error) {
    throw new EncryptionKeyNotPublished({ account: signer.address, detail: error instanceof Error ? error.message : String(error) })
  }
  return { account: signer.address, published: true }
}

/**
 * At a coordinator's start: publishes its encryption key (when the deployment has a DID registry) and returns the
 * public key to configure it with. Without a registry there is nowhere readers would find it: refused, typed.
 */
export const publishFor = async (chain: ChainClient, privateKey: string, registry: string | undefined, secretKey: Uint8Array): Promise<string> => {
  const publicKey = publicKeyOf(secretKey)
  if (registry === undefined) throw new EncryptionKeyNotPublished({ account: chain.signer(privateKey).address, detail: "the deployment has no DID registry" })
  await publish({ chain, privateKey, registry, publicKey })
  return publicKey
}
