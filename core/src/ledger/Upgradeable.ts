/**
 * Deploying and inspecting the upgradeable contracts (registry, task ledger, settlement): each is an
 * implementation behind an OpenZeppelin ERC-1967 proxy (UUPS: the upgrade logic lives in the implementation and
 * only its UPGRADER_ROLE, the consortium's timelock, may call it). The proxy's address is the contract's address
 * for everyone, for good; an upgrade changes only the implementation slot.
 */
import { getAddress, zeroPadValue, AbiCoder } from "ethers"
import type * as Chain from "./Chain.ts"
import * as ERC1967Proxy from "./generated/ERC1967Proxy.ts"

/** The ERC-1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1). */
export const implementationSlot = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"

export interface Deployed {
  readonly proxy: string
  readonly implementation: string
  /** The proxy's creation transaction (the contract's address is its receipt's contractAddress). */
  readonly txHash: string
  readonly blockNumber: bigint
}

/**
 * Deploys `implementationData` (an implementation's creation code) and a proxy that initializes it with
 * `initData` in the same transaction as its creation, so no one can initialize it first.
 */
export const deployUpgradeable = async (
  chain: Chain.ChainClient,
  from: Chain.Signer,
  implementationData: string,
  initData: string,
  operation: string
): Promise<Deployed> => {
  const implementation = getAddress((await chain.send(from, { data: implementationData }, operation)).contractAddress!)
  const proxy = await chain.send(from, { data: ERC1967Proxy.deployData({ implementation, _data: initData }) }, operation)
  return { proxy: getAddress(proxy.contractAddress!), implementation, txHash: proxy.hash, blockNumber: BigInt(proxy.blockNumber) }
}

/** Deploys a new implementation only (what an Upgrade proposal points the proxy to). */
export const deployImplementation = async (chain: Chain.ChainClient, from: Chain.Signer, implementationData: string, operation: string): Promise<string> =>
  getAddress((await chain.send(from, { data: implementationData }, operation)).contractAddress!)

/** The implementation a proxy runs now, read from its ERC-1967 slot. */
export const implementationOf = async (chain: Chain.ChainClient, proxy: string): Promise<string> => {
  const word = await chain.provider.getStorage(proxy, implementationSlot)
  return getAddress(AbiCoder.defaultAbiCoder().decode(["address"], zeroPadValue(word, 32))[0] as string)
}
