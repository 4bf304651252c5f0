/** `jointly coordinator`: the coordinator as its own process over an existing deployment. */
import { join } from "node:path"
import { loadDeployment } from "../chain/Deployment.ts"
import * as Coordinator from "../Coordinator.ts"
import * as Consortium from "../local/Consortium.ts"
import * as Operator from "../local/Operator.ts"

export const run = async (options: { dataDir: string; rpcUrl: string; port: number; confirmations?: number; maxFeePerGasWei?: bigint }) => {
  const deployment = await loadDeployment(options.dataDir)
  if (!deployment) throw new Error(`no deployment in ${options.dataDir}/chain/deployment.json`)
  const keys = await Operator.load(options.dataDir)
  // One chain client for the task ledger and the governance views of the coordinator's key.
  const chain = await Consortium.connect(options.rpcUrl, {
    embedded: false,
    ...(options.confirmations === undefined ? {} : { confirmations: options.confirmations }),
    ...(options.maxFeePerGasWei === undefined ? {} : { maxFeePerGasWei: options.maxFeePerGasWei })
  })
  const ledger = await Consortium.ledgerFor(chain, keys.coordinator, deployment)
  const governance = await Consortium.governanceFor(chain, keys.coordinator, deployment)
  const coordinator = await Coordinator.start({ store: join(options.dataDir, "coordinator", "db"), ledger, governance, port: options.port })
  process.stdout.write(JSON.stringify({ event: "ready", url: coordinator.url }) + "\n")
  const stop = async () => {
    await coordinator.close()
    await governance?.close()
    await ledger.close()
    await chain.close()
    process.exit(0)
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}
