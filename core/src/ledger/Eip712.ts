/**
 * EIP-712 typed data of Jointly (DESIGN.md §4): the participant's task Consent, checked on chain by TaskLedger,
 * and the Login a participant signs in the coordinator's socket handshake, checked off chain.
 *
 * Both live in one domain bound to the chain and the TaskLedger address, so a signature made for one
 * deployment or chain is worthless on another.
 */
import { getAddress, TypedDataEncoder, verifyTypedData, type Signer, type TypedDataField } from "ethers"

export interface Domain {
  readonly name: "Jointly"
  readonly version: "1"
  readonly chainId: bigint
  readonly verifyingContract: string
}

export const domain = (chainId: bigint, taskLedger: string): Domain => ({
  name: "Jointly",
  version: "1",
  chainId,
  verifyingContract: getAddress(taskLedger)
})

/** Must match TaskLedger.CONSENT_TYPEHASH. */
export const consentTypes: Record<string, Array<TypedDataField>> = {
  Consent: [
    { name: "taskId", type: "bytes32" },
    { name: "specHash", type: "bytes32" },
    { name: "approve", type: "bool" },
    { name: "reasonHash", type: "bytes32" }
  ]
}

export const loginTypes: Record<string, Array<TypedDataField>> = {
  Login: [
    { name: "account", type: "address" },
    { name: "nonce", type: "bytes32" },
    { name: "coordinator", type: "address" },
    { name: "issuedAt", type: "uint64" }
  ]
}

export interface Consent {
  readonly taskId: string
  readonly specHash: string
  readonly approve: boolean
  /** keccak256 of the participant's reason (zero hash when none); the text stays off chain. */
  readonly reasonHash: string
}

export interface Login {
  readonly account: string
  /** The coordinator's fresh 32-byte challenge. */
  readonly nonce: string
  readonly coordinator: string
  /** Unix seconds. */
  readonly issuedAt: bigint
}

/** Anything that can sign typed data: an ethers Wallet, a JsonRpcSigner, a browser wallet's signer. */
export type TypedDataSigner = Pick<Signer, "signTypedData">

const asRecord = (value: object): Record<string, unknown> => ({ ...value })

const recovers = (
  d: Domain,
  types: Record<string, Array<TypedDataField>>,
  value: object,
  signature: string,
  expected: string
): boolean => {
  try {
    return getAddress(verifyTypedData(d, types, asRecord(value), signature)) === getAddress(expected)
  } catch {
    return false
  }
}

export const consentDigest = (d: Domain, consent: Consent): string =>
  TypedDataEncoder.hash(d, consentTypes, asRecord(consent))

export const signConsent = (signer: TypedDataSigner, d: Domain, consent: Consent): Promise<string> =>
  signer.signTypedData(d, consentTypes, asRecord(consent))

/** The address that signed `consent`; undefined for a malformed signature. */
export const consentSigner = (d: Domain, consent: Consent, signature: string): string | undefined => {
  try {
    return getAddress(verifyTypedData(d, consentTypes, asRecord(consent), signature))
  } catch {
    return undefined
  }
}

/** True when `signature` is `participant`'s signature of `consent`; false for any malformed input. */
export const verifyConsent = (d: Domain, consent: Consent, signature: string, participant: string): boolean =>
  recovers(d, consentTypes, consent, signature, participant)

export const loginDigest = (d: Domain, login: Login): string => TypedDataEncoder.hash(d, loginTypes, asRecord(login))

export const signLogin = (signer: TypedDataSigner, d: Domain, login: Login): Promise<string> =>
  signer.signTypedData(d, loginTypes, asRecord(login))

export interface LoginCheck {
  /** The nonce the coordinator issued for this connection. */
  readonly nonce: string
  /** The coordinator's own address. */
  readonly coordinator: string
  /** Unix seconds now, and how old a login may be. */
  readonly now: bigint
  readonly maxAgeSeconds: bigint
}

export type LoginVerdict =
  | { readonly ok: true; readonly account: string }
  | { readonly ok: false; readonly reason: "BadSignature" | "WrongNonce" | "WrongCoordinator" | "Expired" }

/**
 * The off-chain half of the handshake (DESIGN.md §4): signature by `login.account`, our nonce, our address, fresh.
 * The caller still checks the account's on-chain state (`Ledger.isActive`).
 */
export const verifyLogin = (d: Domain, login: Login, signature: string, check: LoginCheck): LoginVerdict => {
  if (!recovers(d, loginTypes, login, signature, login.account)) return { ok: false, reason: "BadSignature" }
  if (login.nonce.toLowerCase() !== check.nonce.toLowerCase()) return { ok: false, reason: "WrongNonce" }
  if (getAddress(login.coordinator) !== getAddress(check.coordinator)) return { ok: false, reason: "WrongCoordinator" }
  // A little clock skew into the future is tolerated; more is as suspicious as a stale login.
  const skew = 60n
  if (login.issuedAt > check.now + skew || check.now - login.issuedAt > check.maxAgeSeconds) {
    return { ok: false, reason: "Expired" }
  }
  return { ok: true, account: getAddress(login.account) }
}
