/**
 * `npm run bench -- chain`: gas on the chain, measured from the receipts of real tasks on the embedded chain.
 *
 * - `task_gas` (per kind; FL at 2 and 6 rounds): every transaction the coordinator's notary sent for one task
 *   (creation, consents, transitions, phase commitments, result), summed from their receipts, after a real run
 *   over a local cluster (anvil, coordinator, three participant processes). Baseline: writing every event the
 *   coordinator stored for that task as its own transaction (what notarizing each step one by one would cost),
 *   sent for real to a scratch task ledger on the same chain, each event in its own slot. Ratio = baseline / ours
 *   (bigger is better).
 * - `round_gas`: the gas one more training round adds, (FL 6 rounds - FL 2 rounds) / 4: rounds are O(1) on
 *   chain when it is 0 (the rounds fold into one Merkle root per phase). Its baseline is the same slope for
 *   one-by-one events.
 * - `round_gas` for `modeling.vertical-logistic` likewise: threshold Paillier logistic regression over the
 *   PSI-split bcw columns, 2 and 6 iterations (100 and 300 sample updates in batches of 50).
 * - `settlement_gas`: one settlement's transactions (commit, post of a 2-owner, 2-miner valuation with its
 *   signature, finalize after the dispute window), no baseline.
 * - `refutation_gas`: a member's on-chain refutation of a cooked valuation (reveal the score table, the contract
 *   recomputes the Shapley shares) by owner count, 3 to 10 owners; a block holds 30M gas.
 * Gas does not depend on the machine's speed: these figures are exact for this build, not medians.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { keccak256, toUtf8Bytes, Wallet } from "ethers"
import * as Valuation from "@jointly/core/internal/incentives/Valuation"
import * as VerticalReference from "@jointly/core/internal/protocols/vertical/Reference"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import * as GovernanceLedger from "@jointly/core/internal/ledger/GovernanceLedger"
import { newEventId, reasonHash, type LedgerClient } from "@jointly/core/internal/ledger/Ledger"
import { fundAccounts } from "@jointly/coordinator/internal/chain/Anvil"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { digitsParams, loadDigits, nonIid } from "@jointly/participant/internal/modeling/DigitsFixture"
import { emit, progress } from "./Report.ts"

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const pimaColumns = [
  { name: "pregnant", type: "integer" },
  { name: "glucose", type: "number" },
  { name: "pressure", type: "number" },
  { name: "mass", type: "number" },
  { name: "age", type: "integer" },
  { name: "label", type: "integer" }
] as const
const names = ["north", "south", "east"] as const
const psiFiles = ["a", "b", "c"].map((p) => here(`../query/bcw_vertical_party_${p}_psi.csv`))

const popcount = (mask: number) => mask.toString(2).replaceAll("0", "").length

interface Measured {
  readonly gas: bigint
  readonly writes: number
  readonly events: ReadonlyArray<{ readonly type: string; readonly data: unknown }>
}

/** A scratch task ledger on the same chain, Running, that takes one write per event (the baseline). */
const scratchLedger = async (rpcUrl: string) => {
  const fresh = () => new Wallet(Wallet.createRandom().privateKey)
  const wallets = { supervisor: fresh(), coordinator: fresh(), a: fresh(), b: fresh() }
  await fundAccounts(rpcUrl, Object.values(wallets).map((w) => w.address))
  const open = (w: Wallet, addresses?: Parameters<typeof makeEthersLedger>[0]["addresses"]) => makeEthersLedger({ rpcUrl, privateKey: w.privateKey, confirmations: 1, ...(addresses === undefined ? {} : { addresses }) })
  const supervisor = await open(wallets.supervisor)
  const deployment = await supervisor.deploy()
  const coordinator = await open(wallets.coordinator, deployment)
  /** Registers `w`'s company and has the supervisor audit it; its client stays open. */
  const admit = async (w: Wallet) => {
    const own = await open(w, deployment)
    const { companyId } = await own.register({ name: `bench ${w.address}`, registrationNumber: "1", encPubKey: w.signingKey.compressedPublicKey, dossierHash: keccak256(toUtf8Bytes(w.address)) })
    await supervisor.setState(companyId, "Audited")
    return own
  }
  const members: Array<LedgerClient> = []
  for (const w of [wallets.a, wallets.b]) members.push(await admit(w))
  await supervisor.setCoordinator(wallets.coordinator.address)
  const taskId = keccak256(toUtf8Bytes(`bench ${Date.now()}`))
  const specHash = keccak256(toUtf8Bytes("bench spec"))
  await coordinator.createTask({ eventId: newEventId(), taskId, specHash, kind: "bench.one-by-one", initiator: wallets.a.address, participants: [wallets.a.address, wallets.b.address] })
  await coordinator.transition({ eventId: newEventId(), taskId, to: "AwaitingConsent" })
  for (const m of members) {
    const consent = { taskId, specHash, approve: true, reasonHash: reasonHash() }
    await coordinator.recordConsent({ ...consent, eventId: newEventId(), participant: m.account, signature: await m.signConsent(consent) })
  }
  await coordinator.transition({ eventId: newEventId(), taskId, to: "Scheduled" })
  await coordinator.transition({ eventId: newEventId(), taskId, to: "Running" })
  let n = 0
  return {
    wallets,
    deployment,
    supervisor,
    members,
    /** `n` more audited members (settlement owners must be members); their addresses. */
    addMembers: async (n: number): Promise<Array<string>> => {
      const more = Array.from({ length: n }, fresh)
      await fundAccounts(rpcUrl, more.map((w) => w.address))
      for (const w of more) members.push(await admit(w))
      return more.map((w) => w.address)
    },
    /** Gas of writing each event as its own transaction, each in a fresh slot (`<type>#<n>`). */
    oneByOne: async (events: Measured["events"]): Promise<bigint> => {
      const receipts = await Promise.all(events.map((e) => {
        const phase = `${e.type.slice(0, 20)}#${n++}`
        return coordinator.commitPhase({ eventId: newEventId(), taskId, phase, root: keccak256(toUtf8Bytes(JSON.stringify(e))) })
      }))
      return receipts.reduce((a, r) => a + r.gasUsed, 0n)
    },
    close: async () => {
      for (const c of [supervisor, coordinator, ...members]) await c.close()
    }
  }
}

export const run = async () => {
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-chain-"))
  const digits = loadDigits()
  const verticalTables = await Promise.all(psiFiles.map(async (f) => VerticalReference.parseCsv(await readFile(f, "utf8"))))
  const shards = nonIid(digits, 3).shards
  await mkdir(join(dir, "csv"))
  const digitFiles = await Promise.all(shards.map(async (rows, i) => {
    const f = join(dir, "csv", `digits-${i}.csv`)
    await writeFile(f, [digits.header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n")
    return f
  }))
  progress("chain: starting a local cluster (anvil, coordinator, 3 participant processes)")
  const cluster = await LocalCluster.start({
    dataDir: join(dir, "cluster"),
    parties: names.map((name, i) => ({
      name,
      datasets: [
        { name: "pima", file: here(`../demo/pima-${name}.csv`), columns: pimaColumns as never },
        { name: "bcw", file: psiFiles[i]!, columns: [{ name: "id", type: "string" }] as never },
        { name: "bcw-vertical", file: psiFiles[i]!, columns: verticalTables[i]!.columns.map((c) => ({ name: c, type: c === "id" ? "string" : "integer" })) as never },
        { name: "digits", file: digitFiles[i]!, columns: digits.header.map((name) => ({ name, type: "integer" as const })) as never }
      ]
    }))
  })
  const scratch = await scratchLedger(cluster.rpcUrl)
  try {
    const receiptGas = async (txHash: string) => BigInt((await jsonRpc<{ gasUsed: string }>(cluster.rpcUrl, "eth_getTransactionReceipt", [txHash])).gasUsed)
    const runTask = async (label: string, kind: string, dataset: string, params: unknown): Promise<Measured> => {
      progress(`chain: ${label}`)
      const id = await cluster.submit({ kind, parties: cluster.parties.map((p) => ({ participant: p.address, dataset })) as never, params, roundTimeoutMs: 120_000 } as never)
      const detail = await cluster.waitForTask(id, { timeoutMs: 600_000 })
      if (detail.status !== "Succeeded") throw new Error(`bench task ${label} ended ${detail.status}: ${detail.reason}`)
      const hashes = [...new Set(detail.chain.flatMap((c) => (c.txHash === null ? [] : [c.txHash])))]
      const gas = (await Promise.all(hashes.map(receiptGas))).reduce((a, b) => a + b, 0n)
      return { gas, writes: detail.chain.length, events: detail.events }
    }
    const report = async (kind: string, m: Measured, extra: Record<string, string | number> = {}) => {
      const baseline = await scratch.oneByOne(m.events)
      emit({
        suite: "chain",
        metric: "task_gas",
        params: { kind, parties: 3, writes: m.writes, events: m.events.length, ...extra },
        value: Number(m.gas),
        baseline: "every stored event as its own transaction",
        baseline_value: Number(baseline),
        ratio: Number(baseline) / Number(m.gas)
      })
      return baseline
    }

    const stats = await runTask("statistics.horizontal", "statistics.horizontal", "pima", { columns: ["glucose", "mass", "age"], statistics: ["count", "sum", "mean", "variance"] })
    await report("statistics.horizontal", stats)
    const psi = await runTask("query.psi", "query.psi", "bcw", { idColumn: "id", maxIds: 100_000, receivers: [cluster.parties[0]!.address, cluster.parties[2]!.address] })
    await report("query.psi", psi)
    /**
     * Gas per training round (`unit`): the task at 2 and at 6 rounds, reported each against its one-by-one
     * baseline, and the slope between them. Zero gas per round has no finite ratio; the one-by-one slope is then
     * a line of its own.
     */
    const perRound = async (kind: string, unit: "rounds" | "iterations", run: (n: number) => Promise<Measured>) => {
      const [low, high] = [2, 6]
      const measured = []
      for (const n of [low, high]) {
        const m = await run(n)
        measured.push({ gas: m.gas, writes: m.writes, baseline: await report(kind, m, { [unit]: n }) })
      }
      const ours = Number(measured[1]!.gas - measured[0]!.gas) / (high - low)
      const oneByOne = Number(measured[1]!.baseline - measured[0]!.baseline) / (high - low)
      // With as many writes at 6 rounds as at 2, a few gas of difference is calldata (zero bytes of hashes cost
      // less), not a round's cost: no ratio then.
      const writesPerRound = (measured[1]!.writes - measured[0]!.writes) / (high - low)
      const params = { kind, parties: 3, [unit]: `${low} to ${high}`, writes_per_round: writesPerRound }
      const constant = writesPerRound === 0
      emit({ suite: "chain", metric: "round_gas", params, value: ours, ...(constant ? {} : { baseline: `one-by-one events per ${unit.slice(0, -1)}`, baseline_value: oneByOne, ratio: oneByOne / ours }) })
      if (constant) emit({ suite: "chain", metric: "round_gas_one_by_one", params, value: oneByOne })
    }
    await perRound("modeling.horizontal-fl", "rounds", (rounds) =>
      runTask(`modeling.horizontal-fl, ${rounds} rounds`, "modeling.horizontal-fl", "digits", digitsParams(digits.header, { rounds, localEpochs: 1 })))
    // Vertical logistic regression (threshold Paillier, 2048-bit keys), iterations of 50 samples.
    await perRound("modeling.vertical-logistic", "iterations", (iterations) =>
      runTask(`modeling.vertical-logistic, ${iterations} iterations`, "modeling.vertical-logistic", "bcw-vertical", VerticalReference.trainParams(
        cluster.parties.map((p, i) => ({ address: p.address, table: verticalTables[i]! })),
        { keyBits: 2048, updates: iterations * 50, batchSize: 50 }
      )))

    // One settlement on the scratch deployment, its members as owners and two PoW miners.
    progress("chain: a settlement")
    const suite = await GovernanceLedger.deploySuite(scratch.supervisor.chain, scratch.supervisor.chain.signer(scratch.wallets.supervisor.privateKey), scratch.deployment, scratch.wallets.supervisor.address, { disputeWindowSeconds: 60n })
    const view = (w: Wallet) => GovernanceLedger.makeGovernanceLedger({ rpcUrl: cluster.rpcUrl, privateKey: w.privateKey, addresses: { ...suite, registry: scratch.deployment.registry } })
    const [sup, payer] = await Promise.all([view(scratch.wallets.supervisor), view(scratch.wallets.a)])
    try {
      await sup.mintPoints(payer.account, 1_000_000n)
      const settlementId = keccak256(toUtf8Bytes(`bench settlement ${Date.now()}`))
      const testSetHash = keccak256(toUtf8Bytes("test set"))
      const commit = await payer.commitTestSet(settlementId, testSetHash, keccak256(toUtf8Bytes("recipe")))
      const v: Valuation.Valuation = {
        settlementId,
        period: 1n,
        streams: [Valuation.stream({ price: 1_000n, uses: 100n, thirdParty: payer.account, owners: [scratch.wallets.a.address, scratch.wallets.b.address], miners: 2, scores: [0n, 800n, 600n, 900n], salt: keccak256(toUtf8Bytes("salt")) })],
        miners: { rule: "PoW", accounts: [Wallet.createRandom().address, Wallet.createRandom().address], weights: [30n, 10n], rounds: 0, health: [] },
        testSetHash,
        modelHashes: [keccak256(toUtf8Bytes("model"))]
      }
      const posted = await payer.postValuation(v, await payer.signValuation(v))
      await jsonRpc(cluster.rpcUrl, "evm_increaseTime", [61])
      await jsonRpc(cluster.rpcUrl, "evm_mine", [])
      const finalized = await payer.finalizeSettlement(v)
      for (const [step, gas] of [["commit", commit.gasUsed], ["post", posted.gasUsed], ["finalize", finalized.gasUsed]] as const) {
        emit({ suite: "chain", metric: "settlement_gas", params: { step, owners: 2, miners: 2, streams: 1, rule: "PoW" }, value: Number(gas) })
      }

      // A refutation: a member reveals a stream's score table and the contract recomputes Thm. 1 itself
      // (O(N·2^N) over 2^N scores of calldata). Gas by owner count, up to the contract's limit of 10.
      const disputer = await view(scratch.wallets.b)
      const owners = await scratch.addMembers(10)
      try {
        for (const n of [3, 5, 8, 10]) {
          progress(`chain: a refutation over ${n} owners`)
          const id = keccak256(toUtf8Bytes(`bench refutation ${n} ${Date.now()}`))
          await payer.commitTestSet(id, testSetHash, keccak256(toUtf8Bytes("recipe")))
          // Scores grow with the coalition, so every owner's share is positive and one point can move.
          const scores = Array.from({ length: 1 << n }, (_, mask) => (mask === 0 ? 0n : BigInt(100 * popcount(mask) + (mask % 7))))
          const salt = keccak256(toUtf8Bytes(`salt ${n}`))
          const honest = Valuation.stream({ price: 1_000n, uses: 1n, thirdParty: payer.account, owners: owners.slice(0, n), miners: 0, scores, salt })
          const cooked = { ...honest, ownerShares: honest.ownerShares.map((x, i) => (i === 0 ? x + 1n : i === 1 ? x - 1n : x)) }
          const valuation: Valuation.Valuation = { settlementId: id, period: 1n, streams: [cooked], miners: Valuation.noMiners, testSetHash, modelHashes: [] }
          await sup.mintPoints(payer.account, 1_000n)
          await payer.postValuation(valuation, await payer.signValuation(valuation))
          const refuted = await disputer.disputeWithScores(valuation, 0, salt, scores).catch((error: Error) => error)
          if (refuted instanceof Error) {
            progress(`chain: the refutation over ${n} owners does not go through: ${refuted.message.split("\n")[0]}`)
            break
          }
          emit({ suite: "chain", metric: "refutation_gas", params: { owners: n, scores: 1 << n }, value: Number(refuted.gasUsed) })
        }
      } finally {
        await disputer.close()
      }
    } finally {
      await sup.close()
      await payer.close()
    }
  } finally {
    await scratch.close()
    await cluster.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
