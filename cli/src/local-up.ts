/**
 * `jointly local up`: the cluster of `run --local` (chain, coordinator, one participant process per party),
 * kept running until Ctrl-C so the dashboard can be opened and tasks submitted with `jointly task submit`.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type * as Log from "@jointly/coordinator/internal/Log"
import * as LocalCluster from "./local/LocalCluster.ts"
import * as ProgressBar from "@jointly/coordinator/internal/cli/ProgressBar"
import { checkTask, loadTask, partiesOf } from "./run-local.ts"

export const up = async (options: { task: string; parties: ReadonlyArray<string>; json: boolean; dataDir?: string; logLevel: Log.Level }) => {
  const say = ProgressBar.make(process.stderr, { lines: !options.json }).line
  const task = await loadTask(options.task)
  const parties = partiesOf(task, options.parties)
  checkTask(task, parties.map((p) => p.name))
  const dataDir = options.dataDir ? resolve(options.dataDir) : await mkdtemp(join(tmpdir(), "jointly-local-"))
  const cluster = await LocalCluster.start({ dataDir, parties, logLevel: options.logLevel, onProgress: say })
  const ready = {
    event: "ready",
    coordinatorUrl: cluster.coordinatorUrl,
    dashboardUrl: `${cluster.coordinatorUrl}/`,
    openapiUrl: `${cluster.coordinatorUrl}/api/openapi.json`,
    dataDir,
    analyst: cluster.keys.analyst.address,
    analystKeyFile: join(dataDir, "operator", "keys.json"),
    parties: Object.fromEntries(cluster.parties.map((p) => [p.name, p.address]))
  }
  if (options.json) process.stdout.write(JSON.stringify(ready) + "\n")
  else {
    process.stdout.write([
      `dashboard    ${ready.dashboardUrl}`,
      `API          ${ready.coordinatorUrl}/api (OpenAPI: ${ready.openapiUrl})`,
      `chain        ${cluster.rpcUrl}`,
      ...cluster.parties.map((p) => `party        ${p.name} ${p.address}`),
      `analyst      ${ready.analyst} (key: "analyst" in ${ready.analystKeyFile})`,
      "",
      "Submit a task as the local analyst (parties by address, see examples/):",
      `  export JOINTLY_ANALYST_KEY=$(node -p 'require(process.argv[1]).analyst' ${ready.analystKeyFile})`,
      `  jointly task submit <spec.json> --coordinator ${ready.coordinatorUrl} --key-env JOINTLY_ANALYST_KEY --watch`,
      "Every command signs in to the coordinator with that key (Sign-In with Ethereum); the dashboard signs in with a browser wallet.",
      "",
      "Ctrl-C stops everything."
    ].join("\n") + "\n")
  }
  await new Promise<void>((done) => {
    process.once("SIGINT", done)
    process.once("SIGTERM", done)
  })
  say("stopping")
  await cluster.stop()
  if (!options.dataDir) await rm(dataDir, { recursive: true, force: true })
}
