/**
 * Participant signatures over protocol values (EIP-191 personal messages with the org's secp256k1 account).
 * Used where a value travels through the coordinator and a peer must know who produced it (e.g. the key
 * advertisements of secure aggregation), so a curious coordinator cannot substitute its own keys.
 */
import { getAddress, verifyMessage } from "ethers"

/** True when `signature` over `message` recovers to `address`; false for any malformed input. */
export const verify = (address: string, message: Uint8Array, signature: string): boolean => {
  try {
    return getAddress(verifyMessage(message, signature)) === getAddress(address)
  } catch {
    return false
  }
}
