/** `jointly coordinator`: the coordinator as its own process over an existing deployment. */
import { join } from "node:path"
import { loadDeployment } from "../chain/Deployment.ts"
import * as Coordinator from "../Coordinator.ts"
import * as Consortium from "../local/Consortium.ts"
import * as Operator from "../local/Operator.ts"

export const run = async (options: { dataDir: string; rpcUrl: string; port: number }) => {
  const deployment = await loadDeployment(options.dataDir)
  if (!deployment) throw new Error(`no deployment in ${options.dataDir}/chain/deployment.json`)
  const keys = await Operator.load(options.dataDir)
  const ledger = await Consortium.ledgerFor(options.rpcUrl, keys.coordinator, deployment)
  const governance = await Consortium.governanceFor(options.rpcUrl, keys.coordinator, deployment)
  const coordinator = await Coordinator.start({ store: join(options.dataDir, "coordinator", "db"), ledger, governance, port: options.port })
  process.stdout.write(JSON.stringify({ event: "ready", url: coordinator.url }) + "\n")
  const stop = async () => {
    await coordinator.close()
    await governance?.close()
    await ledger.close()
    process.exit(0)
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}
