/**
 * Sign-In with Ethereum (EIP-4361) for the coordinator's HTTP API. The coordinator writes the message for an
 * address (its domain and URI, the chain id, a single-use nonce, a short expiry); the member signs the exact text
 * with `personal_sign` (EIP-191) — a browser wallet shows it as a sign-in request for that domain and warns when
 * the page's origin differs — and exchanges it for a bearer token. Messages are written and parsed by `siwe`, the
 * reference implementation of the EIP's ABNF grammar; the signature is checked with ethers.
 */
import { getAddress, verifyMessage } from "ethers"
import { SiweMessage } from "siwe"

export const statement = "Sign in to the Jointly coordinator. This request costs no gas and moves no funds."

export interface Expected {
  /** host[:port] the coordinator serves on (its public URL's host). */
  readonly domain: string
  readonly uri: string
  readonly chainId: number
}

export interface Fields {
  readonly address: string
  readonly domain: string
  readonly uri: string
  readonly chainId: number
  readonly nonce: string
  readonly issuedAt: string
  readonly expirationTime: string | undefined
}

/** The EIP-4361 text for `address` (checksummed, as the grammar requires). */
export const prepare = (p: Expected & { readonly address: string; readonly nonce: string; readonly issuedAt: Date; readonly expiresAt: Date }): string =>
  new SiweMessage({
    domain: p.domain,
    address: getAddress(p.address),
    statement,
    uri: p.uri,
    version: "1",
    chainId: p.chainId,
    nonce: p.nonce,
    issuedAt: p.issuedAt.toISOString(),
    expirationTime: p.expiresAt.toISOString()
  }).prepareMessage()

/** Parses an EIP-4361 message; undefined when it does not follow the grammar. */
export const parse = (text: string): Fields | undefined => {
  try {
    const m = new SiweMessage(text)
    return { address: getAddress(m.address), domain: m.domain, uri: m.uri, chainId: Number(m.chainId), nonce: m.nonce, issuedAt: m.issuedAt ?? "", expirationTime: m.expirationTime }
  } catch {
    return undefined
  }
}

/** Why a message is not one this coordinator may accept (signature aside), or undefined. */
export const mismatch = (fields: Fields, expected: Expected): string | undefined => {
  if (fields.domain !== expected.domain) return `the message is for ${fields.domain}, this coordinator is ${expected.domain}`
  if (fields.uri !== expected.uri) return `the message names ${fields.uri}, this coordinator is ${expected.uri}`
  if (fields.chainId !== expected.chainId) return `the message is for chain ${fields.chainId}, this coordinator notarizes on ${expected.chainId}`
  return undefined
}

/** The account that signed `text` (EIP-191), or undefined for a signature that does not parse. */
export const signer = (text: string, signature: string): string | undefined => {
  try {
    return getAddress(verifyMessage(text, signature))
  } catch {
    return undefined
  }
}
