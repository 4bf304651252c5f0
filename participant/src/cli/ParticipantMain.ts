/**
 * `jointly participant --config <file>`: a participant agent as its own process. Prints one JSON line
 * `{"event":"ready",…}` on stdout once admitted, then its events as JSON lines on stderr; stops on SIGTERM.
 */
import { Effect, Redacted } from "effect"
import * as Agent from "../Agent.ts"
import * as Keystore from "../keystore/Keystore.ts"
import * as ConsentPolicy from "../policy/ConsentPolicy.ts"
import * as ParticipantConfig from "./ParticipantConfig.ts"

export const run = async (configFile: string) => {
  const config = await ParticipantConfig.load(configFile)
  const identity = await Keystore.openPromise({ dataDir: config.dataDir })
  // Batch predictions are written under the data dir (modeling/Compute.ts), also from the worker thread.
  process.env.JOINTLY_DATA_DIR ??= config.dataDir
  const policy = typeof config.policy === "string" ? await ConsentPolicy.loadPromise(config.policy) : config.policy
  const agent = await Agent.start({
    coordinatorUrl: config.coordinatorUrl,
    wallet: Redacted.value(identity.account),
    datasets: config.datasets,
    policy: (question) =>
      Effect.runPromise(ConsentPolicy.decide(policy, question)).then((verdict) => ({
        decision: verdict.decision,
        reason: verdict.reason
      }))
  })
  agent.on((event) => process.stderr.write(JSON.stringify({ at: new Date().toISOString(), participant: agent.address, ...event }) + "\n"))
  // TEST HOOK (integration tests only): die right after answering the named stage, as a crash mid-protocol
  // would. The reply is already handed to the socket when the event fires.
  const testExitAfterStage = process.env.JOINTLY_TEST_EXIT_AFTER_STAGE
  if (testExitAfterStage) {
    agent.on((event) => {
      if (event.type === "stage" && event.ok && event.stage === testExitAfterStage) {
        process.stderr.write(JSON.stringify({ type: "test-exit", stage: event.stage }) + "\n")
        process.exit(75)
      }
    })
  }
  await agent.connected
  process.stdout.write(JSON.stringify({ event: "ready", address: agent.address, datasets: agent.datasets }) + "\n")
  const stop = async () => {
    await agent.close()
    process.exit(0)
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
  return agent
}
