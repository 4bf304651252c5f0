/**
 * `jointly chain` starts the embedded chain on its own (state kept in the data directory);
 * `jointly deploy` deploys the consortium contracts to any JSON-RPC endpoint with the operator's supervisor key
 * and grants the coordinator account its role. On the embedded chain the accounts are minted their gas money; on
 * any other network the operator funds the supervisor account, which tops up the coordinator's by a transfer.
 */
import { startAnvil } from "../chain/Anvil.ts"
import * as Consortium from "../local/Consortium.ts"
import * as Operator from "../local/Operator.ts"

export const startChain = async (options: { dataDir: string; host?: string; port: number }) => {
  const anvil = await startAnvil({ dataDir: options.dataDir, port: options.port, ...(options.host === undefined ? {} : { host: options.host }) })
  process.stdout.write(JSON.stringify({ event: "ready", rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, statePath: anvil.statePath }) + "\n")
  const stop = async () => {
    await anvil.stop()
    process.exit(0)
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}

export const deploy = async (options: { dataDir: string; rpcUrl: string; embedded: boolean; maxFeePerGasWei?: bigint }) => {
  const keys = await Operator.load(options.dataDir)
  const chain = await Consortium.connect(options.rpcUrl, { embedded: options.embedded, ...(options.maxFeePerGasWei === undefined ? {} : { maxFeePerGasWei: options.maxFeePerGasWei }) })
  const { deployment, supervisorLedger } = await Consortium.deploy(options.dataDir, chain, keys.supervisor, keys.coordinator, options.embedded)
  await supervisorLedger.close()
  await chain.close()
  process.stdout.write(JSON.stringify({
    event: "deployed",
    chainId: deployment.chainId.toString(),
    registry: deployment.registry,
    ledger: deployment.ledger,
    supervisor: keys.supervisor.address,
    coordinator: keys.coordinator.address
  }) + "\n")
}
