/**
 * The notary over a real outbox (PGlite) and real EVM nodes, once per node (anvil and Hardhat's EDR node):
 * a task's records land once each, in order, and are final only after the configured confirmations; a notary
 * that crashed between sending and recording adopts the transaction already on chain; a record whose block is
 * reorganised away (evm_snapshot / evm_revert) is sent again and lands exactly once.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { keccak256, SigningKey, toUtf8Bytes, Wallet } from "ethers"
import * as Chain from "@jointly/core/internal/ledger/Chain"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import { fromClient, reasonHash, type Addresses, type LedgerClient } from "@jointly/core/internal/ledger/Ledger"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as Log from "../Log.ts"
import * as Sql from "../store/Sql.ts"
import * as TaskStore from "../store/TaskStore.ts"
import { type Promised, promised } from "../testing/Promised.ts"
import { nodeNames, startNode, type EvmNode } from "../testing/EvmNode.ts"
import * as Notary from "./Notary.ts"

const bytes32 = (label: string) => keccak256(toUtf8Bytes(label))

describe.each(nodeNames)("notary on %s", (nodeName) => {
  let node: EvmNode
  let addresses: Addresses
  let sql: Sql.Sql
  /** The store as the notary sees it, and as this test drives it (awaiting each step). */
  let service: TaskStore.TaskStoreShape
  let store: Promised<TaskStore.TaskStoreShape>
  const dir = mkdtempSync(join(tmpdir(), "jointly-notary-"))
  const keys = { supervisor: Wallet.createRandom().privateKey, coordinator: Wallet.createRandom().privateKey, a: Wallet.createRandom().privateKey, b: Wallet.createRandom().privateKey }
  const orgs = [new Wallet(keys.a), new Wallet(keys.b)]
  const closers: Array<() => Promise<void>> = []

  /** The coordinator's ledger on its own chain client with `confirmations`. */
  const coordinatorLedger = async (confirmations: number): Promise<LedgerClient> => {
    const ledger = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.coordinator, addresses, confirmations })
    closers.push(ledger.close)
    return ledger
  }
  const startNotary = (ledger: LedgerClient) => {
    const notary = Notary.start({ store: service, ledger: fromClient(ledger), log: Log.make("notary", "error"), options: { idleMs: 50 } })
    closers.push(notary.stop)
    return notary
  }
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; !(await check()); i++) {
      if (i > 600) throw new Error(`timed out waiting until ${what}`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  /** A task in the store, taken through its whole life: every step queues its chain record. */
  const storeTask = async (label: string) => {
    const id = bytes32(label)
    const spec = { kind: "statistics.horizontal", initiator: orgs[0]!.address, nonce: label, parties: orgs.map((o) => ({ participant: o.address, dataset: "d" })), params: {} } as unknown as TaskSpec
    const claim = await store.insert(id, spec, id, orgs.map((o) => o.address), "test-instance")
    await store.transition(claim, "Submitted", "AwaitingConsent", { reasonHash: reasonHash() })
    for (const org of orgs) {
      const consent = { taskId: id, specHash: id, approve: true, reasonHash: reasonHash() }
      const signature = await signers[org.address]!.signConsent(consent)
      await store.recordConsent(claim, { participant: org.address, approve: true, reason: "", signature }, reasonHash())
    }
    await store.transition(claim, "AwaitingConsent", "Scheduled", { reasonHash: reasonHash() })
    await store.transition(claim, "Scheduled", "Running", { reasonHash: reasonHash() })
    await store.commitPhase(claim, "stats.totals", bytes32(`${label} root`))
    await store.succeed(claim, { ok: true }, bytes32(`${label} result`), reasonHash())
    return id
  }

  /** Each org's own ledger client, to sign its consents. */
  let signers: Record<string, LedgerClient>

  beforeAll(async () => {
    node = await startNode(nodeName)
    await node.fund(Object.values(keys).map((k) => new Wallet(k).address))
    const supervisor = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.supervisor, confirmations: 1 })
    closers.push(supervisor.close)
    addresses = await supervisor.deploy()
    await supervisor.setCoordinator(new Wallet(keys.coordinator).address)
    signers = {}
    for (const org of orgs) {
      const own = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: org.privateKey, addresses, confirmations: 1 })
      closers.push(own.close)
      const { companyId } = await own.register({ name: `Org ${org.address}`, registrationNumber: org.address, encPubKey: SigningKey.computePublicKey(Wallet.createRandom().signingKey.publicKey, true), dossierHash: bytes32(org.address) })
      await supervisor.setState(companyId, "Audited")
      signers[org.address] = own
    }
    sql = await Sql.open(join(dir, "db"))
    service = await Effect.runPromise(TaskStore.make(sql))
    store = promised(service)
  })

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await sql?.close()
    await node?.stop()
    await removeDir(dir)
  })

  it("records every step once, in order, and calls them final only after the confirmations", async () => {
    const ledger = await coordinatorLedger(2)
    const id = await storeTask("task-final")
    const notary = startNotary(ledger)
    const outbox = () => store.outbox(id)
    // Each record's block is followed by the next one's, so all become final but the last: no block follows it.
    await until("all records but the last are final", async () => {
      const rows = await outbox()
      return rows.at(-1)!.status === "sent" && rows.slice(0, -1).every((o) => o.status === "confirmed")
    })
    await new Promise((r) => setTimeout(r, 300))
    expect((await outbox()).at(-1)!.status).toBe("sent")
    await node.mine()
    await notary.drained()
    const done = await outbox()
    expect(done.every((o) => o.status === "confirmed" && o.blockHash !== null)).toBe(true)

    const history = await ledger.taskHistory(id)
    expect(history.map((h) => h.eventId)).toEqual(done.map((o) => o.eventId))
    expect(history.map((h) => h.txHash)).toEqual(done.map((o) => o.txHash))
    expect((await ledger.getTask(id))?.status).toBe("Succeeded")
    await notary.stop()
  })

  it("adopts the transaction already on chain after a crash between sending and recording it", async () => {
    const ledger = await coordinatorLedger(1)
    const id = await storeTask("task-crash")
    const first = startNotary(ledger)
    await first.drained()
    await first.stop()
    const before = await store.outbox(id)
    // As if the process died after the chain took the last two records but before the store said so.
    await sql.query(`update outbox set status = 'pending', tx_hash = null, block_number = null where task_id = $1 and id >= $2`, [id, before.at(-2)!.id])
    const second = startNotary(ledger)
    await second.drained()
    await second.stop()
    const after = await store.outbox(id)
    expect(after.map((o) => [o.status, o.txHash])).toEqual(before.map((o) => ["confirmed", o.txHash]))
    expect((await ledger.taskHistory(id)).map((h) => h.eventId)).toEqual(after.map((o) => o.eventId))
  })

  it("sends a record again when its block leaves the chain, and it lands exactly once", async () => {
    const ledger = await coordinatorLedger(3)
    const id = bytes32("task-reorg")
    const snapshot = await node.snapshot()
    const spec = { kind: "statistics.horizontal", initiator: orgs[0]!.address, nonce: "reorg", parties: orgs.map((o) => ({ participant: o.address, dataset: "d" })), params: {} } as unknown as TaskSpec
    await store.insert(id, spec, id, orgs.map((o) => o.address), "test-instance")
    const notary = startNotary(ledger)
    await until("the record is mined", async () => (await store.outbox(id))[0]!.status === "sent")
    const [{ eventId, txHash: firstTx }] = (await store.outbox(id)) as [TaskStore.OutboxRow]
    expect(await ledger.isRecorded(eventId)).toBe(true)
    expect(await ledger.inclusion(firstTx!)).toMatchObject({ _tag: "Included", final: false })

    // The block under the record is dropped while the notary runs, as a reorganisation would drop it.
    await node.revert(snapshot)
    await until("the record is mined again", async () => {
      const [row] = await store.outbox(id)
      return row!.status === "sent" && row!.attempts >= 2
    })
    await node.mine(2)
    await notary.drained()
    await notary.stop()

    const [row] = await store.outbox(id)
    expect(row).toMatchObject({ status: "confirmed", eventId })
    expect(row!.lastError).toContain("left the canonical chain")
    // Same nonce, fees and data: the resend may be byte for byte the first transaction, mined again.
    expect(await ledger.inclusion(row!.txHash!)).toMatchObject({ _tag: "Included", final: true, blockHash: row!.blockHash })
    expect(await ledger.isRecorded(eventId)).toBe(true)
    const history = await ledger.taskHistory(id)
    expect(history.filter((h) => h.eventId === eventId).map((h) => h.txHash)).toEqual([row!.txHash])
  })

  it("shares one chain client between the task ledger and other views of the same key", async () => {
    const chain = await Chain.make({ rpcUrl: node.rpcUrl, confirmations: 1 })
    closers.push(chain.close)
    const one = await makeEthersLedger({ rpcUrl: node.rpcUrl, chain, privateKey: keys.coordinator, addresses })
    const two = await makeEthersLedger({ rpcUrl: node.rpcUrl, chain, privateKey: keys.coordinator, addresses })
    expect(one.chain).toBe(two.chain)
    // Both views write at once through one nonce manager: no conflict, both land.
    const results = await Promise.all([one, two].map((l, i) => l.createTask({
      eventId: bytes32(`shared ${i}`),
      taskId: bytes32(`shared task ${i}`),
      specHash: bytes32("spec"),
      kind: "statistics.horizontal",
      initiator: orgs[0]!.address,
      participants: orgs.map((o) => o.address)
    })))
    expect(results.map((r) => r.applied)).toEqual([true, true])
    await one.close() // a shared client outlives the views
    expect(await two.isRecorded(bytes32("shared 0"))).toBe(true)
  })
})
