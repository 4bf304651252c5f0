/**
 * Members as `did:ethr` identities on the consortium chain (PROTOCOLS.md §2.6, §11 item 38): the organisation's
 * chain account *is* its DID (`did:ethr:<0x chain id>:<address>`), so the consortium registry, which binds
 * accounts to organisations, links each organisation to its DID without a second record. What the DID adds is
 * the keys the organisation publishes and rotates in the ERC-1056 registry (`contracts/DidRegistry.sol`):
 *
 * - a **login key** (`sigAuth` delegate): an address allowed to sign the coordinator's socket Login for the org,
 *   so the org's account key can stay in cold storage and a leaked login key is revoked on chain;
 * - **encryption keys** (`did/pub/Secp256k1/enc/hex`, the document's `keyAgreement`): where sealed artifacts and
 *   data keys are encrypted to (Envelope.ts, ECIES).
 *
 * Documents are read with the maintained `ethr-did-resolver` (through `did-resolver`), never re-implemented here;
 * this module only turns a resolved document into the sets Jointly checks, and writes the registry.
 */
import { Resolver, type DIDDocument, type VerificationMethod } from "did-resolver"
import { getResolver } from "ethr-did-resolver"
import { computeAddress, encodeBytes32String, getAddress, type Provider, toBeHex } from "ethers"
import { Schema } from "effect"
import type { ChainClient, Signer } from "../ledger/Chain.ts"
import * as DidRegistry from "../ledger/generated/DidRegistry.ts"

/** The DID of an account on a chain, as ethr-did-resolver names it for a network configured by chain id. */
export const didOf = (chainId: bigint, address: string): string => `did:ethr:${toBeHex(chainId)}:${getAddress(address)}`

export class DidResolutionFailed extends Schema.TaggedError<DidResolutionFailed>()("DidResolutionFailed", {
  did: Schema.String,
  message: Schema.String
}) {}

/** The keys a member's DID document publishes, as Jointly uses them. */
export interface OrgKeys {
  readonly did: string
  /** Checksummed addresses allowed to sign the org's Login: its controller and its unexpired `sigAuth` delegates. */
  readonly loginSigners: ReadonlySet<string>
  /** Compressed secp256k1 keys (0x…, 33 bytes) of the document's keyAgreement, newest last. */
  readonly encryptionKeys: ReadonlyArray<string>
}

const addressOf = (method: VerificationMethod): string | undefined => {
  if (method.blockchainAccountId !== undefined) return getAddress(method.blockchainAccountId.split(":").pop()!)
  if (method.publicKeyHex !== undefined && method.type.startsWith("EcdsaSecp256k1")) return computeAddress(`0x${method.publicKeyHex}`)
  return undefined
}

const refs = (document: DIDDocument, relation: "authentication" | "keyAgreement"): ReadonlyArray<VerificationMethod> => {
  const byId = new Map((document.verificationMethod ?? []).map((m) => [m.id, m] as const))
  return (document[relation] ?? []).flatMap((r) => typeof r === "string" ? (byId.get(r) ? [byId.get(r)!] : []) : [r])
}

/** The Jointly keys of a resolved document. */
export const keysOf = (document: DIDDocument): OrgKeys => ({
  did: document.id,
  loginSigners: new Set(refs(document, "authentication").flatMap((m) => addressOf(m) ?? [])),
  encryptionKeys: refs(document, "keyAgreement").flatMap((m) =>
    // ethr-did-resolver types `did/pub/Secp256k1/enc/hex` as "Secp256k1"; a 33-byte hex key is what ECIES takes.
    m.type.includes("Secp256k1") && m.publicKeyHex !== undefined && /^0[23][0-9a-fA-F]{64}$/.test(m.publicKeyHex) ? [`0x${m.publicKeyHex.toLowerCase()}`] : []
  )
})

export interface Network {
  readonly chainId: bigint
  /** The DidRegistry deployed with the consortium's other contracts. */
  readonly registry: string
  readonly provider: Provider
}

/** Resolves members' DIDs on the consortium chain (no cache: a key revoked on chain is gone at the next call). */
export const makeResolver = (network: Network) => {
  // ethr-did-resolver is CommonJS: its ethers Provider type is the CommonJS build's, the same class at run time.
  const resolver = new Resolver(getResolver({ networks: [{ chainId: network.chainId, registry: network.registry, provider: network.provider as never }] }))
  const resolve = async (address: string): Promise<OrgKeys> => {
    const did = didOf(network.chainId, address)
    const result = await resolver.resolve(did)
    if (result.didDocument === null || result.didResolutionMetadata.error !== undefined) {
      throw new DidResolutionFailed({ did, message: `${did} did not resolve: ${result.didResolutionMetadata.error ?? "no document"} ${result.didResolutionMetadata.message ?? ""}`.trim() })
    }
    return keysOf(result.didDocument)
  }
  return { resolve, document: (address: string) => resolver.resolve(didOf(network.chainId, address)) }
}
export type DidResolver = ReturnType<typeof makeResolver>

/** ERC-1056 names are bytes32 strings. */
const bytes32 = (s: string) => encodeBytes32String(s)
const SIG_AUTH = bytes32("sigAuth")
const ENC_KEY = bytes32("did/pub/Secp256k1/enc/hex")

/**
 * The organisation's side: publishes and rotates its keys in the registry, signed by the account that controls the
 * DID (the org's account unless ownership was moved). Each call is one transaction.
 */
export const makeController = (chain: ChainClient, controller: Signer, registry: string, identity: string = controller.address) => {
  const send = (data: string, operation: string) => chain.send(controller, { to: registry, data }, operation)
  const encode = DidRegistry.contractInterface
  return {
    /** Allows `delegate` to sign the org's Login for `validitySeconds`. */
    addLoginKey: (delegate: string, validitySeconds: bigint) =>
      send(encode.encodeFunctionData("addDelegate", [identity, SIG_AUTH, getAddress(delegate), validitySeconds]), "did.addLoginKey"),
    /** Revokes a login key: the next handshake signed by it is refused. */
    revokeLoginKey: (delegate: string) => send(encode.encodeFunctionData("revokeDelegate", [identity, SIG_AUTH, getAddress(delegate)]), "did.revokeLoginKey"),
    /** Publishes a compressed secp256k1 encryption key (keyAgreement) for `validitySeconds`. */
    addEncryptionKey: (publicKey: string, validitySeconds: bigint) =>
      send(encode.encodeFunctionData("setAttribute", [identity, ENC_KEY, publicKey, validitySeconds]), "did.addEncryptionKey"),
    revokeEncryptionKey: (publicKey: string) => send(encode.encodeFunctionData("revokeAttribute", [identity, ENC_KEY, publicKey]), "did.revokeEncryptionKey"),
    /** Rotation: the new login key first, then the old one revoked, so the org is never without one. */
    rotateLoginKey: async (previous: string, next: string, validitySeconds: bigint) => {
      await send(encode.encodeFunctionData("addDelegate", [identity, SIG_AUTH, getAddress(next), validitySeconds]), "did.rotateLoginKey")
      return send(encode.encodeFunctionData("revokeDelegate", [identity, SIG_AUTH, getAddress(previous)]), "did.rotateLoginKey")
    }
  }
}

/**
 * A member's current encryption key (compressed, 0x-hex), where sealed artifacts and data keys go: its DID's
 * newest keyAgreement key when the deployment has the DID registry and the member published one, else the key it
 * registered with the consortium (`registered`). Undefined when it has neither.
 */
export const currentEncryptionKey = (resolver: DidResolver | undefined, registered: (account: string) => Promise<string | undefined>) =>
  async (account: string): Promise<string | undefined> => {
    const published = resolver === undefined ? undefined : (await resolver.resolve(account)).encryptionKeys.at(-1)
    return published ?? (await registered(account))
  }
