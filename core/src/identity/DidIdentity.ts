/**
 * Members as `did:ethr` identities on the consortium chain (PROTOCOLS.md §2.6, §11 item 38): the organisation's
 * chain account *is* its DID (`did:ethr:<0x chain id>:<address>`), so the consortium registry, which binds
 * accounts to organisations, links each organisation to its DID without a second record. What the DID adds is
 * the keys the organisation publishes and rotates in the ERC-1056 registry (`contracts/DidRegistry.sol`):
 *
 * - a **login key** (`sigAuth` delegate): an address allowed to sign the coordinator's socket Login for the org,
 *   so the org's account key can stay in cold storage and a leaked login key is revoked on chain;
 * - **encryption keys** (`did/pub/Secp256k1/enc/hex`, the document's `keyAgreement`): where sealed artifacts and
 *   data keys are encrypted to (Envelope.ts, ECIES);
 * - **consent keys** (`veriKey` delegates, listed by the resolver under `assertionMethod` only): addresses allowed
 *   to sign the org's task consents, checked by the coordinator and by TaskLedger itself (`validDelegate` at the
 *   consent's block), and by `jointly verify` against the document as of the consent's block;
 * - **TLS client keys** (`did/pub/TlsClientSpki/tls/hex`, a verification method of type `TlsClientSpki` whose
 *   `publicKeyHex` is the DER SubjectPublicKeyInfo of the org's client certificate): the only certificate keys the
 *   coordinator admits for the org when it asks for client certificates (auth/ClientCertificates.ts).
 *
 * Documents are read with the maintained `ethr-did-resolver` (through `did-resolver`), never re-implemented here;
 * this module only turns a resolved document into the sets Jointly checks, and writes the registry.
 */
import { Resolver, type DIDDocument, type VerificationMethod } from "did-resolver"
import { getResolver } from "ethr-did-resolver"
import { AbiCoder, computeAddress, encodeBytes32String, getAddress, keccak256, type Provider, toBeHex } from "ethers"
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
  /** Checksummed addresses allowed to sign the org's consents: its account and its unexpired `veriKey` delegates. */
  readonly consentSigners: ReadonlySet<string>
  /** DER SubjectPublicKeyInfo (lowercase hex, no 0x) of the client certificates the org's DID names, newest last. */
  readonly tlsClientKeys: ReadonlyArray<string>
}

const addressOf = (method: VerificationMethod): string | undefined => {
  if (method.blockchainAccountId !== undefined) return getAddress(method.blockchainAccountId.split(":").pop()!)
  if (method.publicKeyHex !== undefined && method.type.startsWith("EcdsaSecp256k1")) return computeAddress(`0x${method.publicKeyHex}`)
  return undefined
}

const refs = (document: DIDDocument, relation: "authentication" | "assertionMethod" | "keyAgreement"): ReadonlyArray<VerificationMethod> => {
  const byId = new Map((document.verificationMethod ?? []).map((m) => [m.id, m] as const))
  return (document[relation] ?? []).flatMap((r) => typeof r === "string" ? (byId.get(r) ? [byId.get(r)!] : []) : [r])
}

/** The method type ethr-did-resolver gives a `did/pub/TlsClientSpki/tls/hex` attribute (its algorithm part). */
export const tlsClientKeyType = "TlsClientSpki"

/**
 * `veriKey` delegates: the resolver lists them (with `blockchainAccountId`) under assertionMethod but, unlike
 * `sigAuth` login keys, not under authentication. Attribute keys in assertionMethod carry no account and are left out:
 * TaskLedger checks delegates only.
 */
const consentDelegates = (document: DIDDocument): ReadonlyArray<string> => {
  const authentication = new Set(refs(document, "authentication").map((m) => m.id))
  return refs(document, "assertionMethod").flatMap((m) =>
    m.blockchainAccountId !== undefined && !authentication.has(m.id) ? [addressOf(m)!] : []
  )
}

/** The account a `did:ethr:<network>:<address>` names. */
const accountOf = (did: string) => getAddress(did.split(":").pop()!)

/** The Jointly keys of a resolved document. */
export const keysOf = (document: DIDDocument): OrgKeys => ({
  did: document.id,
  loginSigners: new Set(refs(document, "authentication").flatMap((m) => addressOf(m) ?? [])),
  consentSigners: new Set([accountOf(document.id), ...consentDelegates(document)]),
  tlsClientKeys: (document.verificationMethod ?? []).flatMap((m) =>
    m.type === tlsClientKeyType && m.publicKeyHex !== undefined && /^([0-9a-fA-F]{2})+$/.test(m.publicKeyHex) ? [m.publicKeyHex.toLowerCase()] : []
  ),
  encryptionKeys: refs(document, "keyAgreement").flatMap((m) =>
    // ethr-did-resolver types `did/pub/Secp256k1/enc/hex` as "Secp256k1"; a 33-byte hex key is what ECIES takes.
    m.type.includes("Secp256k1") && m.publicKeyHex !== undefined && /^0[23][0-9a-fA-F]{64}$/.test(m.publicKeyHex) ? [`0x${m.publicKeyHex.toLowerCase()}`] : []
  )
})

/**
 * Why a key is not one of a member's DID keys now: never published for it (no key, or another member's), or its
 * validity ended (expired, or revoked: ERC-1056 revokes by ending the validity at the revoking block).
 */
export type KeyVerdict =
  | { readonly valid: true }
  | { readonly valid: false; readonly reason: "NeverPublished" | "ExpiredOrRevoked"; readonly detail: string }

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
  const registry = DidRegistry.connect(network.registry, network.provider)
  const resolveUrl = async (address: string, query: string): Promise<OrgKeys> => {
    const did = didOf(network.chainId, address)
    const result = await resolver.resolve(`${did}${query}`)
    if (result.didDocument === null || result.didResolutionMetadata.error !== undefined) {
      throw new DidResolutionFailed({ did, message: `${did}${query} did not resolve: ${result.didResolutionMetadata.error ?? "no document"} ${result.didResolutionMetadata.message ?? ""}`.trim() })
    }
    return keysOf(result.didDocument)
  }
  /** A verdict on `signer` as one of `account`'s delegates of `type`, read from the document now. */
  const delegateVerdict = (role: string, signers: (keys: OrgKeys) => ReadonlySet<string>, type: string) =>
    async (account: string, signer: string): Promise<KeyVerdict> => {
      if (signers(await resolveUrl(account, "")).has(getAddress(signer))) return { valid: true }
      const validTo = await registry.delegates(getAddress(account), delegateTypeKey(type), getAddress(signer))
      const who = `${getAddress(signer)} is not a ${role} key of ${didOf(network.chainId, account)}`
      return validTo === 0n
        ? { valid: false, reason: "NeverPublished", detail: `${who}: never published for it (a key of no member, or of another)` }
        : { valid: false, reason: "ExpiredOrRevoked", detail: `${who}: its validity ended at ${new Date(Number(validTo) * 1000).toISOString()} (expired or revoked)` }
    }
  return {
    /** The document now: delegates and attributes unexpired at the wall clock, revocations applied. */
    resolve: (address: string) => resolveUrl(address, ""),
    /**
     * The document as of the end of block `blockNumber` (ethr-did-resolver's `versionId`): every change made in
     * that block or before, validity compared with that block's timestamp. What an audit checks a past signature
     * against; a change made later in the same block as the signature counts as made before it.
     */
    resolveAt: (address: string, blockNumber: number) => resolveUrl(address, `?versionId=${blockNumber}`),
    /**
     * Whether `signer` may sign `account`'s consents now: the account itself or a consent key its document names.
     * A refusal reads the registry's validity record to say why (0: never published for this account).
     */
    consentKey: delegateVerdict("consent", (keys) => keys.consentSigners, VERI_KEY),
    /** Whether `signer` may sign `account`'s Login now: its controller or a login key its document names; why not otherwise. */
    loginKey: delegateVerdict("login", (keys) => keys.loginSigners, SIG_AUTH),
    document: (address: string) => resolver.resolve(didOf(network.chainId, address))
  }
}
export type DidResolver = ReturnType<typeof makeResolver>

/** ERC-1056 names are bytes32 strings. */
const bytes32 = (s: string) => encodeBytes32String(s)
const SIG_AUTH = bytes32("sigAuth")
/** TaskLedger.CONSENT_DELEGATE_TYPE. */
const VERI_KEY = bytes32("veriKey")
const ENC_KEY = bytes32("did/pub/Secp256k1/enc/hex")
const TLS_KEY = bytes32(`did/pub/${tlsClientKeyType}/tls/hex`)
/** The registry's `delegates` mapping is keyed by keccak256(abi.encode(delegateType)). */
const delegateTypeKey = (type: string) => keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32"], [type]))

/**
 * The organisation's side: publishes and rotates its keys in the registry, signed by the account that controls the
 * DID (the org's account unless ownership was moved). Each call is one transaction.
 */
export const makeController = (chain: ChainClient, controller: Signer, registry: string, identity: string = controller.address) => {
  const send = (data: string, operation: string) => chain.send(controller, { to: registry, data }, operation)
  const encode = DidRegistry.contractInterface
  const addDelegate = (type: string, operation: string) => (delegate: string, validitySeconds: bigint) =>
    send(encode.encodeFunctionData("addDelegate", [identity, type, getAddress(delegate), validitySeconds]), operation)
  const revokeDelegate = (type: string, operation: string) => (delegate: string) =>
    send(encode.encodeFunctionData("revokeDelegate", [identity, type, getAddress(delegate)]), operation)
  const setAttribute = (name: string, operation: string) => (value: string, validitySeconds: bigint) =>
    send(encode.encodeFunctionData("setAttribute", [identity, name, value, validitySeconds]), operation)
  const revokeAttribute = (name: string, operation: string) => (value: string) =>
    send(encode.encodeFunctionData("revokeAttribute", [identity, name, value]), operation)
  /** Rotation: the new key first, then the old one revoked, so the org is never without one. */
  const rotate = <K>(add: (next: K, validitySeconds: bigint) => ReturnType<typeof send>, revoke: (previous: K) => ReturnType<typeof send>) =>
    async (previous: K, next: K, validitySeconds: bigint) => {
      await add(next, validitySeconds)
      return revoke(previous)
    }
  const tlsValue = (spki: string) => `0x${spki.replace(/^0x/, "").toLowerCase()}`
  return {
    /** Allows `delegate` to sign the org's Login for `validitySeconds`. */
    addLoginKey: addDelegate(SIG_AUTH, "did.addLoginKey"),
    /** Revokes a login key: the next handshake signed by it is refused. */
    revokeLoginKey: revokeDelegate(SIG_AUTH, "did.revokeLoginKey"),
    /** Allows `delegate` to sign the org's task consents for `validitySeconds` (a `veriKey` delegate). */
    addConsentKey: addDelegate(VERI_KEY, "did.addConsentKey"),
    /** Revokes a consent key: a consent it signs afterwards is refused by the coordinator and by TaskLedger. */
    revokeConsentKey: revokeDelegate(VERI_KEY, "did.revokeConsentKey"),
    rotateConsentKey: rotate(addDelegate(VERI_KEY, "did.rotateConsentKey"), revokeDelegate(VERI_KEY, "did.rotateConsentKey")),
    /** Names a client certificate's key (DER SubjectPublicKeyInfo, hex) as the org's TLS client key for `validitySeconds`. */
    addTlsClientKey: (spki: string, validitySeconds: bigint) => setAttribute(TLS_KEY, "did.addTlsClientKey")(tlsValue(spki), validitySeconds),
    revokeTlsClientKey: (spki: string) => revokeAttribute(TLS_KEY, "did.revokeTlsClientKey")(tlsValue(spki)),
    rotateTlsClientKey: rotate(
      (spki: string, validitySeconds: bigint) => setAttribute(TLS_KEY, "did.rotateTlsClientKey")(tlsValue(spki), validitySeconds),
      (spki: string) => revokeAttribute(TLS_KEY, "did.rotateTlsClientKey")(tlsValue(spki))
    ),
    /** Publishes a compressed secp256k1 encryption key (keyAgreement) for `validitySeconds`. */
    addEncryptionKey: setAttribute(ENC_KEY, "did.addEncryptionKey"),
    revokeEncryptionKey: revokeAttribute(ENC_KEY, "did.revokeEncryptionKey"),
    rotateLoginKey: rotate(addDelegate(SIG_AUTH, "did.rotateLoginKey"), revokeDelegate(SIG_AUTH, "did.rotateLoginKey"))
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
