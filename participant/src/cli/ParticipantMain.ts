/**
 * `jointly participant --config <file>`: a participant agent as its own process. Prints one JSON line
 * `{"event":"ready",…}` on stdout once admitted, then its events as JSON lines on stderr; stops on SIGTERM.
 */
import { Effect, Redacted } from "effect"
import * as Agent from "../Agent.ts"
import * as CsvDataset from "../datasets/CsvDataset.ts"
import * as Keystore from "../keystore/Keystore.ts"
import * as ConsentPolicy from "../policy/ConsentPolicy.ts"
import * as ParticipantConfig from "./ParticipantConfig.ts"

export const run = async (configFile: string) => {
  const config = await ParticipantConfig.load(configFile)
  const identity = await Keystore.openPromise({ dataDir: config.dataDir })
  // Every dataset is loaded and checked before connecting: a bad file stops here, naming file, row and column.
  const datasets = await Promise.all(config.datasets.map((spec) => CsvDataset.loadPromise(spec)))
  const policy = typeof config.policy === "string" ? await ConsentPolicy.loadPromise(config.policy) : config.policy
  const agent = await Agent.start({
    coordinatorUrl: config.coordinatorUrl,
    wallet: Redacted.value(identity.account),
    datasets,
    policy: (question) =>
      Effect.runPromise(ConsentPolicy.decide(policy, question)).then((verdict) => ({
        decision: verdict.decision,
        reason: verdict.reason
      }))
  })
  agent.on((event) => process.stderr.write(JSON.stringify({ at: new Date().toISOString(), participant: agent.address, ...event }) + "\n"))
  await agent.connected
  process.stdout.write(JSON.stringify({ event: "ready", address: agent.address, datasets: datasets.map((d) => ({ name: d.name, rows: d.rowCount, contentHash: d.contentHash })) }) + "\n")
  const stop = async () => {
    await agent.close()
    process.exit(0)
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
  return agent
}
