/**
 * The operator's accounts on an embedded chain: the supervisor (deploys and audits), the coordinator (writes
 * the task ledger) and a local analyst org that initiates tasks from the CLI. Generated on first use and kept in
 * the data directory (mode 0600) so a restarted local run keeps its identities and its chain.
 * For a consortium network, supply real keys instead (DESIGN.md §8).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Wallet } from "ethers"

export interface OperatorKeys {
  readonly supervisor: Wallet
  readonly coordinator: Wallet
  readonly analyst: Wallet
  /** The coordinator's encryption key (secp256k1; keys/EncryptionKey.ts), apart from its account's. */
  readonly coordinatorEncryption: Wallet
}

const names = ["supervisor", "coordinator", "analyst", "coordinatorEncryption"] as const

/** The local coordinator's directory, and its IPFS node's store (instance 0's) in it. */
export const coordinatorDirOf = (dataDir: string) => join(dataDir, "coordinator")
export const coordinatorIpfsDirOf = (dataDir: string) => join(coordinatorDirOf(dataDir), "ipfs")

export const load = async (dataDir: string): Promise<OperatorKeys> => {
  const file = join(dataDir, "operator", "keys.json")
  let keys: Record<string, string> = {}
  try {
    keys = JSON.parse(await readFile(file, "utf8"))
  } catch {
    // None yet: all are made below.
  }
  // A key missing (a data directory from before it existed, or a new one) is made once and kept with the others.
  const missing = names.filter((name) => typeof keys[name] !== "string")
  if (missing.length > 0) {
    keys = { ...keys, ...Object.fromEntries(missing.map((name) => [name, Wallet.createRandom().privateKey])) }
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, JSON.stringify(keys, null, 2), { mode: 0o600 })
  }
  return { supervisor: new Wallet(keys.supervisor!), coordinator: new Wallet(keys.coordinator!), analyst: new Wallet(keys.analyst!), coordinatorEncryption: new Wallet(keys.coordinatorEncryption!) }
}
