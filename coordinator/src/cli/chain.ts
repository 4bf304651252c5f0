/**
 * `jointly chain` starts the embedded chain on its own (state kept in the data directory);
 * `jointly deploy` deploys the consortium contracts to any JSON-RPC endpoint with the operator's supervisor key
 * and grants the coordinator account its role. On a consortium network the operator funds those accounts.
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

export const deploy = async (options: { dataDir: string; rpcUrl: string; embedded: boolean }) => {
  const keys = await Operator.load(options.dataDir)
  const { deployment, supervisorLedger } = await Consortium.deploy(options.dataDir, options.rpcUrl, keys.supervisor, keys.coordinator, options.embedded)
  await supervisorLedger.close()
  process.stdout.write(JSON.stringify({
    event: "deployed",
    chainId: deployment.chainId.toString(),
    registry: deployment.registry,
    ledger: deployment.ledger,
    supervisor: keys.supervisor.address,
    coordinator: keys.coordinator.address
  }) + "\n")
}
