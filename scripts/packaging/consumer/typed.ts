// A TypeScript application type-checked (`tsc --noEmit`) against the declarations the tarballs ship: the public
// entries resolve with their types, and misuse is a compile error (each `@ts-expect-error` below fails the
// check if the declarations went missing or degraded to `any`).
import { JointStatistics, Lifecycle, Psi, TaskSpec } from "@jointly/core"
import { Agent, type AgentConfig, ConsentPolicy, DatasetError, Keystore } from "@jointly/participant"
import * as Client from "@jointly/coordinator/client"
import type { Wallet } from "ethers"

export const params: JointStatistics.Params = { columns: ["glucose"], statistics: ["count", "mean"] }
// @ts-expect-error: "median" is not a statistic
export const wrong: JointStatistics.Params = { columns: ["glucose"], statistics: ["median"] }

export const config = (wallet: Wallet): AgentConfig => ({
  coordinatorUrl: "https://coordinator.example",
  wallet,
  datasets: [{ name: "customers", file: "customers.csv", columns: [{ name: "balance", type: "number" }] }],
  policy: (question) => (question.parties >= 3 ? { decision: "approve", reason: "3+ parties" } : { decision: "reject", reason: "too few" })
})

// @ts-expect-error: a consent decision is "approve" or "reject"
export const badPolicy: AgentConfig["policy"] = () => ({ decision: "maybe", reason: "" })

export const start = async (wallet: Wallet) => {
  const agent: Agent.Agent = await Agent.start(config(wallet))
  await agent.connected
  const identity = await Keystore.openPromise({ dataDir: "data", passphrase: process.env.JOINTLY_KEY_PASSPHRASE })
  const address: string = identity.address
  return { agent, address }
}

export const describeError = (error: unknown): string =>
  error instanceof DatasetError ? `${error.reason}: ${error.message}` : String(error)

export const policy = (value: unknown) => ConsentPolicy.decode(value)
export const final = (status: Lifecycle.Status): boolean => Lifecycle.isFinal(status)
export const psiCardinality = (result: Psi.Result): number => result.cardinality ?? 0
export const id = (spec: TaskSpec.TaskSpec): string => TaskSpec.taskId(spec)

export const submit = async (client: Client.Client, draft: Client.TaskDraft) => {
  const { taskId } = await client.submit(draft)
  const outcome: Client.TaskOutcome = await client.watch(taskId)
  // @ts-expect-error: a task's status is one of the lifecycle's literals
  const impossible: typeof outcome.status = "Exploded"
  return { outcome, impossible }
}
