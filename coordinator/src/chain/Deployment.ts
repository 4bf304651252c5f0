/**
 * The coordinator's record of its consortium contracts: `<dataDir>/chain/deployment.json`. On start the saved
 * deployment is reused when the node still has code at both addresses on the same chain (an embedded anvil
 * restarted from its state file, or any long-lived network); otherwise the contracts are deployed afresh and
 * the file rewritten. Works against any JSON-RPC URL, not only the embedded anvil.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import * as Chain from "@jointly/core/internal/ledger/Chain"
import { jsonRpc as rpc } from "@jointly/core/internal/ledger/Chain"
import { ChainError, toChainError } from "@jointly/core/internal/ledger/ChainError"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import { deploySuite, suiteKeys, type SuiteOptions } from "@jointly/core/internal/ledger/GovernanceLedger"
import type { Deployment } from "@jointly/core/internal/ledger/Ledger"

export const deploymentPathOf = (dataDir: string): string => join(dataDir, "chain", "deployment.json")

interface DeploymentJson {
  readonly chainId: string
  readonly registry: string
  readonly ledger: string
  readonly deployBlock: string
  readonly supervisor: string
  readonly registryTx: string
  readonly ledgerTx: string
  /** Governance contracts; absent in files written before they existed (then extended or redeployed). */
  readonly suite?: Deployment["suite"]
}

const toJson = (d: Deployment): DeploymentJson => ({
  chainId: d.chainId.toString(),
  registry: d.registry,
  ledger: d.ledger,
  deployBlock: d.deployBlock.toString(),
  supervisor: d.supervisor,
  registryTx: d.registryTx,
  ledgerTx: d.ledgerTx,
  ...(d.suite === undefined ? {} : { suite: d.suite })
})

const fromJson = (j: DeploymentJson): Deployment => ({
  ...j,
  chainId: BigInt(j.chainId),
  deployBlock: BigInt(j.deployBlock)
})

export const loadDeployment = async (dataDir: string): Promise<Deployment | undefined> => {
  try {
    return await readDeploymentFile(deploymentPathOf(dataDir))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
}

/** A deployment file wherever it lies (the operator hands it to the coordinator's host and to every member). */
export const readDeploymentFile = async (path: string): Promise<Deployment> => fromJson(JSON.parse(await readFile(path, "utf8")) as DeploymentJson)

export const saveDeployment = async (dataDir: string, deployment: Deployment): Promise<void> => {
  const path = deploymentPathOf(dataDir)
  await mkdir(dirname(path), { recursive: true })
  // Write-then-rename: a crash leaves the old file or the new one, never half of one.
  await writeFile(`${path}.tmp`, JSON.stringify(toJson(deployment), null, 2) + "\n")
  await rename(`${path}.tmp`, path)
}

/**
 * True when the node at rpcUrl holds this deployment: same chain, code at both addresses, and the saved
 * deployment transactions mined there, creating those addresses.
 */
export const isLive = async (rpcUrl: string, d: Deployment): Promise<boolean> => {
  const chainId = BigInt(await rpc<string>(rpcUrl, "eth_chainId", []))
  if (chainId !== d.chainId) return false
  const codes = await Promise.all([d.registry, d.ledger].map((a) => rpc<string>(rpcUrl, "eth_getCode", [a, "latest"])))
  if (codes.some((code) => code === "0x" || code === "")) return false
  const receipts = await Promise.all(
    [d.registryTx, d.ledgerTx].map((h) => rpc<{ contractAddress?: string } | null>(rpcUrl, "eth_getTransactionReceipt", [h]))
  )
  return receipts.every((r, i) => r?.contractAddress?.toLowerCase() === [d.registry, d.ledger][i]!.toLowerCase())
}

export interface EnsureDeployment {
  readonly dataDir: string
  readonly rpcUrl: string
  /** The deployer's key; it is the supervisor unless `supervisor` says otherwise. */
  readonly privateKey: string
  readonly supervisor?: string
  /** Timelock delay and settlement dispute window of a fresh governance set (defaults: 2 and 3 days). */
  readonly suite?: SuiteOptions
}

/** True when every governance contract of the deployment has code on the node. */
const suiteIsLive = async (rpcUrl: string, d: Deployment): Promise<boolean> => {
  // A suite saved by an older generation lacks a contract of today's (the timelock): not live, extend or redeploy.
  if (d.suite === undefined || suiteKeys.some((k) => d.suite![k] === undefined)) return false
  const codes = await Promise.all(suiteKeys.map((k) => rpc<string>(rpcUrl, "eth_getCode", [d.suite![k], "latest"])))
  return codes.every((code) => code !== "0x" && code !== "")
}

const withSuite = async (chain: Chain.ChainClient, privateKey: string, d: Deployment, options: SuiteOptions): Promise<Deployment> =>
  ({ ...d, suite: await deploySuite(chain, chain.signer(privateKey), d, d.supervisor, options) })

/**
 * Reuses the saved deployment when it is still live, else deploys and saves a new one. A live deployment saved
 * before the governance contracts existed is extended with them while the deployer is still its bootstrap admin;
 * when it cannot be (handed over to another timelock, or contracts of an older generation without roles) the
 * whole set is deployed afresh instead.
 */
export const ensureDeployment = async (
  p: EnsureDeployment
): Promise<{ readonly deployment: Deployment; readonly reused: boolean }> => {
  // One chain client for the whole deployment: every contract creation from the key takes its next nonce.
  const chain = await Chain.make({ rpcUrl: p.rpcUrl, confirmations: 1 })
  try {
    const saved = await loadDeployment(p.dataDir)
    if (saved !== undefined && (await isLive(p.rpcUrl, saved))) {
      if (await suiteIsLive(p.rpcUrl, saved)) return { deployment: saved, reused: true }
      const extended = await withSuite(chain, p.privateKey, saved, p.suite ?? {}).catch(() => undefined)
      if (extended !== undefined) {
        await saveDeployment(p.dataDir, extended)
        return { deployment: extended, reused: true }
      }
    }
    const client = await makeEthersLedger({ rpcUrl: p.rpcUrl, chain, privateKey: p.privateKey })
    const deployment = await withSuite(chain, p.privateKey, await client.deploy(p.supervisor === undefined ? {} : { supervisor: p.supervisor }), p.suite ?? {})
    await saveDeployment(p.dataDir, deployment)
    return { deployment, reused: false }
  } catch (e) {
    throw toChainError("ensureDeployment", e)
  } finally {
    await chain.close()
  }
}

export const ensureDeploymentEffect = (p: EnsureDeployment) =>
  Effect.tryPromise({
    try: () => ensureDeployment(p),
    catch: (e) => (e instanceof ChainError ? e : toChainError("ensureDeployment", e))
  })
