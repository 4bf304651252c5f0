// An application that installed Jointly's packages from their tarballs: plain JavaScript, no TypeScript loader.
// It serves one organisation of a running consortium with an embedded Agent, submits a joint statistics task and
// a PSI as the consortium's analyst through the coordinator's client, and prints both outcomes as one JSON line.
//   node agent.mjs <config.json>
import { readFile } from "node:fs/promises"
import { Agent, DatasetError, Keystore } from "@jointly/participant"
import * as Client from "@jointly/coordinator/client"
import { Redacted } from "effect"
import { Wallet } from "ethers"

const config = JSON.parse(await readFile(process.argv[2], "utf8"))

// Only the public surface resolves: a path into the package's files is refused by its `exports`.
const refused = await import("@jointly/participant/dist/Agent.js").then(() => false, (error) => error.code === "ERR_PACKAGE_PATH_NOT_EXPORTED")

// A typed error from the public surface: a dataset whose declared column is missing stops the agent at start.
const identity = await Keystore.openPromise({ dataDir: config.dataDir, passphrase: config.passphrase })
const wallet = Redacted.value(identity.account)
const badColumn = await Agent.start({
  coordinatorUrl: config.coordinatorUrl,
  wallet,
  datasets: [{ ...config.datasets[0], columns: [{ name: "no_such_column", type: "number" }] }],
  policy: () => ({ decision: "reject", reason: "never asked" })
}).then(
  (agent) => agent.close().then(() => ({ started: true })),
  (error) => ({ instance: error instanceof DatasetError, tag: error?._tag, reason: error?.reason, message: String(error?.message) })
)

const events = []
const agent = await Agent.start({
  coordinatorUrl: config.coordinatorUrl,
  wallet,
  dataDir: config.dataDir,
  datasets: config.datasets,
  policy: (question) =>
    question.initiator.toLowerCase() === config.analyst.toLowerCase()
      ? { decision: "approve", reason: "the consortium's analyst" }
      : { decision: "reject", reason: "unknown initiator" }
})
agent.on((event) => events.push(event.type === "consent" ? `consent:${event.approve}` : event.type))
try {
  await agent.connected
  const analyst = Client.make({ url: config.coordinatorUrl, initiator: new Wallet(config.analystKey) })
  const run = async (draft) => {
    const { taskId } = await analyst.submit(draft)
    const outcome = await analyst.watch(taskId, { timeoutMs: 180_000 })
    return { taskId, status: outcome.status, reason: outcome.reason, result: outcome.result }
  }
  const statistics = await run(config.statistics)
  const psi = await run(config.psi)
  const output = JSON.parse(await readFile(`${config.dataDir}/outputs/${psi.taskId}.json`, "utf8"))
  console.log(JSON.stringify({ refused, badColumn, statistics, psi, psiOutput: output.ids, address: identity.address, events }))
} finally {
  await agent.close()
}
process.exit(0)
