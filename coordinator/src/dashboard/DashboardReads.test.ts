/**
 * The dashboard's reads as Effects over a real task store (PGlite) and a chain that fails to answer: the failure
 * paths the API routes keep — an account the chain does not answer for is listed as its own org in state Unknown
 * (the others as the chain says), and verifying an unknown task is UnknownTask before anything reads the chain.
 * The chain here is an explicit stand-in (a ledger whose reads reject); Dashboard.test.ts runs the real one.
 */
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { getAddress } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { UnknownTask } from "@jointly/core/internal/api/Errors"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Sql from "../store/Sql.ts"
import * as TaskStore from "../store/TaskStore.ts"
import * as ChainIndex from "../governance/ChainIndex.ts"
import * as Dashboard from "./Dashboard.ts"

const address = (n: number) => getAddress("0x" + n.toString(16).padStart(40, "0"))
const hash = (n: number) => "0x" + n.toString(16).padStart(64, "0")
const [initiator, answered, silent] = [address(1), address(2), address(3)]
const companyId = hash(0xc0) as `0x${string}`

const spec = {
  kind: "statistics.horizontal",
  initiator,
  nonce: "n",
  parties: [{ participant: answered, dataset: "d" }, { participant: silent, dataset: "d" }],
  params: { columns: ["x"], statistics: ["mean"] }
} as unknown as TaskSpec

describe("dashboard reads", () => {
  let dir: string
  let sql: Sql.Sql
  let store: TaskStore.TaskStoreShape
  const chainReads: Array<string> = []
  const refused = (what: string) => Promise.reject(new Error(`${what}: connection refused`))
  /** The registry answers for `answered` only; every other read of the chain is refused. */
  const ledger: Dashboard.Deps["ledger"] = {
    companyOf: (account) => {
      chainReads.push(`companyOf ${account}`)
      return account === answered
        ? Promise.resolve({ companyId, state: "Audited", pendingJoin: undefined, joinEndorsedBy: undefined, active: true })
        : refused("companyOf")
    },
    getCompany: (id) => {
      chainReads.push(`getCompany ${id}`)
      return Promise.resolve({ companyId: id, name: "North Hospital", registrationNumber: "r", encPubKey: "0x02", dossierHash: hash(0), state: "Audited", registeredAt: 0n, addresses: [answered] })
    },
    taskHistory: (id) => {
      chainReads.push(`taskHistory ${id}`)
      return refused("taskHistory")
    }
  }
  const dashboard = () =>
    Dashboard.make({
      store,
      hub: { online: () => [], isOnline: () => false },
      ledger,
      domain: { name: "Jointly", version: "1", chainId: 31337n, verifyingContract: address(9) },
      index: { members: () => Effect.fail(new ChainIndex.ChainIndexFailed({ operation: "members", detail: "connection refused" })) }
    })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-dashboard-"))
    sql = await Sql.open(join(dir, "db"))
    store = await Effect.runPromise(TaskStore.make(sql))
    await Effect.runPromise(store.insert(hash(1), spec, hash(1), [answered, silent], "test-instance"))
  })
  afterAll(async () => {
    await sql.close()
    await removeDir(dir)
  })

  it("lists an account the chain does not answer for as its own org in state Unknown", async () => {
    const members = await Effect.runPromise(dashboard().members())
    expect(members).toEqual([
      { companyId: null, name: initiator, state: "Unknown", accounts: [{ address: initiator, online: false, tasks: 1 }] },
      { companyId: null, name: silent, state: "Unknown", accounts: [{ address: silent, online: false, tasks: 1 }] },
      { companyId, name: "North Hospital", state: "Audited", accounts: [{ address: answered, online: false, tasks: 1 }] }
    ])
  })

  it("refuses to verify an unknown task with UnknownTask, reading nothing from the chain", async () => {
    chainReads.length = 0
    const error = await Effect.runPromise(Effect.flip(dashboard().verify(hash(99))))
    expect(error).toBeInstanceOf(UnknownTask)
    expect(error.message).toBe(`no task ${hash(99)}`)
    expect(chainReads).toEqual([])
    expect(await Effect.runPromise(store.get(hash(99)))).toBeUndefined()
    expect((await Effect.runPromise(store.list({}))).map((t) => t.id)).toEqual([hash(1)])
  })

  it("fails a verification whose chain history cannot be read with a DashboardReadFailed naming the read", async () => {
    const error = await Effect.runPromise(Effect.flip(dashboard().verify(hash(1))))
    expect(error).toMatchObject({ _tag: "DashboardReadFailed", source: "ledger.taskHistory", detail: "taskHistory: connection refused" })
  })
})
