/**
 * `statistics.arithmetic` and `query.similar` over real processes: anvil, the coordinator and three participant
 * processes (LocalCluster) reading CSV files, at production sizes (2048-bit Paillier; BFV N = 8192 at 128 bits).
 *
 *   - arithmetic: a bank's score ÷ a shop's visits per aligned id, delivered to a regulator that holds neither,
 *     and the bank's Σscore − the shop's Σvisits to the bank: equal to the plaintext exactly (reduced fractions,
 *     decimal strings); the coordinator's receipt carries a count and a digest, no value and no id;
 *   - similarity: the shop's 1,797 digits images, a query image at the bank: the K = 10 results equal the
 *     plaintext k-NN on the same pixels, and again after an epoch of the shop's index log (an update, a delete);
 *     a plaintext modulus too small to blind with is refused by the owner;
 *   - originals (§11 item 33): the shop publishes its nearest images' originals on the FileExchange (the `jointly
 *     originals publish` command), their locations committed in the index; the bank buys one result's original
 *     (`jointly originals fetch`) from the shop's IPFS node, bytes equal to the shop's file, the fee moved once from
 *     the bank into the exchange's escrow; records whose location was tampered, is not the shop's entry, not an exchange entry, or whose
 *     block is not the ciphertext on chain are refused before anything is paid; a paid request whose key never
 *     comes is disputed (`jointly files dispute`), upheld by the supervisor (`jointly files arbitrate`), the file is off sale,
 *     and the bank takes its fee back (`jointly files refund`);
 *   - the receipt rule: the recipient holds the output in its own store, the initiator reads the receipt (digests),
 *     an operand holder or the owner asking for the result is refused (403);
 *   - refusals: parameters the kind does not allow (one party on both sides; a 1024-bit key) fail at submission with
 *     a typed InvalidTaskParams naming the field, and no task is created.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Redacted, Scope } from "effect"
import { getBytes, keccak256, toUtf8Bytes } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import { datasetFile } from "@jointly/core/internal/testing/Datasets"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import { makeFileExchangeLedger, type FileExchangeLedger } from "@jointly/core/internal/ledger/FileExchangeLedger"
import { InvalidTaskParams } from "@jointly/core/internal/protocols/Protocols"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Commands from "@jointly/cli/internal/governance"
import * as FileShare from "@jointly/participant/internal/governance/FileShare"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import * as FeatureLogFile from "@jointly/participant/internal/similarity/FeatureLogFile"
import * as Originals from "@jointly/participant/internal/similarity/Originals"
import * as Consortium from "./local/Consortium.ts"
import { revertOf } from "./testing/EvmNode.ts"
import { RequestFailed } from "./client/Client.ts"

const pixels = Array.from({ length: 64 }, (_, i) => `pixel_${Math.floor(i / 8)}_${i % 8}`)

/** Integer columns with overlapping ids in different orders, a zero divisor and negatives (exact results expected). */
const customers = () => {
  const bank = Array.from({ length: 24 }, (_, i) => ({ id: `c${100 + i}`, score: ((i * 37) % 61) - 20 }))
  const shop = Array.from({ length: 24 }, (_, i) => ({ id: `c${108 + i}`, visits: (i * 13) % 17 })).reverse()
  return { bank, shop }
}

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let gallery: { ids: Array<string>; images: Array<Array<number>> }
let query: Array<number>
const data = customers()

const csv = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>) => [header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n"

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-arith-retrieval-"))
  // The digits as the shop's collection (an id per image), and one of them with six pixels redrawn as the bank's query.
  const lines = (await readFile(datasetFile("digits.csv"), "utf8")).trim().split(/\r?\n/)
  const header = lines[0]!.split(",")
  const at = pixels.map((p) => header.indexOf(p))
  const label = header.indexOf("label")
  const rows = lines.slice(1).map((l) => l.split(",").map(Number))
  gallery = { ids: rows.map((_, i) => `img-${String(i).padStart(4, "0")}`), images: rows.map((r) => at.map((k) => r[k]!)) }
  query = [...gallery.images[1234]!]
  for (const [i, v] of [[3, 16], [10, 0], [20, 9], [33, 2], [50, 16], [61, 5]] as const) query[i] = v
  const files = {
    bankCustomers: join(dir, "bank-customers.csv"),
    shopCustomers: join(dir, "shop-customers.csv"),
    gallery: join(dir, "gallery.csv"),
    query: join(dir, "query.csv"),
    notes: join(dir, "notes.csv")
  }
  await writeFile(files.bankCustomers, csv(["id", "score"], data.bank.map((r) => [r.id, r.score])))
  await writeFile(files.shopCustomers, csv(["id", "visits"], data.shop.map((r) => [r.id, r.visits])))
  await writeFile(files.gallery, csv(["id", "label", ...pixels], rows.map((r, i) => [gallery.ids[i]!, r[label]!, ...gallery.images[i]!])))
  await writeFile(files.query, csv(pixels, [query]))
  await writeFile(files.notes, csv(["note"], [["none"]]))
  const ints = (names: ReadonlyArray<string>) => names.map((name) => ({ name, type: "integer" as const }))
  cluster = await starter.start({
    dataDir: join(dir, "cluster"),
    onProgress: (line) => process.env.ARITHMETIC_DEBUG && process.stderr.write(line + "\n"),
    parties: [
      {
        name: "bank",
        datasets: [
          { name: "customers", file: files.bankCustomers, id: "id", columns: [{ name: "id", type: "string" }, ...ints(["score"])] },
          { name: "query", file: files.query, columns: ints(pixels) }
        ]
      },
      {
        name: "shop",
        datasets: [
          { name: "customers", file: files.shopCustomers, id: "id", columns: [{ name: "id", type: "string" }, ...ints(["visits"])] },
          { name: "gallery", file: files.gallery, id: "id", columns: [{ name: "id", type: "string" }, ...ints(["label", ...pixels])] }
        ]
      },
      { name: "regulator", datasets: [{ name: "notes", file: files.notes, columns: [{ name: "note", type: "string" }] }] }
    ] as never
  })
}, 360_000)

const scopes: Array<Scope.Closeable> = []
const closing: Array<() => Promise<void>> = []

afterAll(async () => {
  for (const scope of scopes.reverse()) await Effect.runPromise(Scope.close(scope, Exit.void))
  for (const close of closing) await close()
  await starter.stop()
  if (dir) await removeDir(dir)
})

const party = (name: string) => cluster.party(name)
// The outputs' shapes are the kinds' own (joint-arithmetic and similarity participants): read loosely here.
const outputOf = async (name: string, taskId: string) => (await cluster.outputOf(name, taskId)) as Record<string, any>
const entry = (name: string, dataset: string) => ({ participant: party(name).address, dataset })

/** Submits and waits, like LocalCluster.runTask, for parties that name different datasets. */
const run = async (kind: string, parties: ReadonlyArray<{ participant: string; dataset: string }>, params: Record<string, unknown>) => {
  const id = await cluster.submit({ kind, parties: parties as never, params })
  const detail = await cluster.waitForTask(id, { timeoutMs: 240_000 })
  expect(detail.reason).toBeNull()
  expect(detail.status).toBe("Succeeded")
  return { id, detail, result: detail.result as Record<string, unknown> }
}

/** What a party other than the recipient and the initiator gets when it asks for the result. */
const refusedRead = async (name: string, taskId: string) => {
  const client = cluster.clientFor(await cluster.walletOf(name))
  return client.result(taskId).then(() => undefined, (error: unknown) => error as RequestFailed)
}

/** The file the recipient stores holds the digest the coordinator notarized. */
const expectDigest = (output: Record<string, unknown>, digest: unknown) => {
  expect(output.digest).toBe(digest)
  expect(digest).toMatch(/^0x[0-9a-f]{64}$/)
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? (a < 0n ? -a : a) : gcd(b, a % b))
const fraction = (a: bigint, b: bigint) => {
  const g = gcd(a, b)
  const s = b < 0n ? -1n : 1n
  return `${(s * a) / g}/${(s * b) / g}`
}

describe("statistics.arithmetic over real processes (2048-bit Paillier)", () => {
  it("score ÷ visits per aligned id reaches the regulator alone, equal to the plaintext fractions", async () => {
    const params = {
      operation: "divide",
      left: { party: party("bank").address, column: "score" },
      right: { party: party("shop").address, column: "visits" },
      recipient: party("regulator").address,
      over: "per-id",
      idColumn: "id",
      maxIds: 100
    }
    const { id, result } = await run("statistics.arithmetic", [entry("bank", "customers"), entry("shop", "customers"), entry("regulator", "notes")], params)
    const visits = new Map(data.shop.map((r) => [r.id, r.visits]))
    const shared = data.bank.filter((r) => visits.has(r.id))
    const zeros = shared.filter((r) => visits.get(r.id) === 0).length
    expect(zeros).toBeGreaterThan(0)
    expect(result).toMatchObject({ kind: "statistics.arithmetic", count: shared.length, divisionsByZero: zeros, recipient: party("regulator").address })

    const output = await outputOf("regulator", id)
    expectDigest(output, result.digest)
    const got = new Map((output.results as Array<{ id: string; exact: string | null; divisionByZero?: true }>).map((r) => [r.id, r]))
    expect([...got.keys()].sort()).toEqual(shared.map((r) => r.id).sort())
    for (const r of shared) {
      const y = visits.get(r.id)!
      if (y === 0) expect(got.get(r.id)!.divisionByZero).toBe(true)
      else expect(got.get(r.id)!.exact, r.id).toBe(fraction(BigInt(r.score), BigInt(y)))
    }

    // The receipt holds no value and no id; the operand holders may not read even that.
    const receipt = JSON.stringify(result)
    for (const r of shared.slice(0, 8)) expect(receipt).not.toContain(`"${r.id}"`)
    for (const name of ["bank", "shop"]) {
      const refused = await refusedRead(name, id)
      expect(refused, name).toBeInstanceOf(RequestFailed)
      expect(refused!.status).toBe(403)
    }
  }, 300_000)

  it("Σscore − Σvisits over totals reaches the bank, exactly", async () => {
    const params = {
      operation: "subtract",
      left: { party: party("bank").address, column: "score" },
      right: { party: party("shop").address, column: "visits" },
      recipient: party("bank").address,
      over: "totals"
    }
    const { id, result } = await run("statistics.arithmetic", [entry("bank", "customers"), entry("shop", "customers")], params)
    const expected = data.bank.reduce((s, r) => s + r.score, 0) - data.shop.reduce((s, r) => s + r.visits, 0)
    const output = await outputOf("bank", id)
    expectDigest(output, result.digest)
    expect(output.result.exact).toBe(String(expected))
    expect(output.result.value).toBe(expected)
    const refused = await refusedRead("shop", id)
    expect(refused!.status).toBe(403)
  }, 300_000)

  it("refuses parameters the kind does not allow at submission, naming the field, and creates no task", async () => {
    const before = (await cluster.client.list()).length
    const base = { operation: "multiply", recipient: party("bank").address, over: "totals" }
    const sameParty = { ...base, left: { party: party("bank").address, column: "score" }, right: { party: party("bank").address, column: "score" } }
    const smallKey = { ...base, left: { party: party("bank").address, column: "score" }, right: { party: party("shop").address, column: "visits" }, keyBits: 1024 }
    for (const [params, field] of [[sameParty, "right.party"], [smallKey, "keyBits"]] as const) {
      // The client decodes the spec by the kind's declaration (as the coordinator does) before signing anything.
      const error = await cluster.submit({ kind: "statistics.arithmetic", parties: [entry("bank", "customers"), entry("shop", "customers")] as never, params })
        .then(() => undefined, (e: unknown) => e as InvalidTaskParams)
      expect(error, field).toBeInstanceOf(InvalidTaskParams)
      expect(error!.message).toContain(field)
    }
    expect((await cluster.client.list()).length).toBe(before)
  }, 60_000)
})

describe("query.similar over real processes (digits, 1,797 images, BFV)", () => {
  const params = () => ({
    querier: party("bank").address,
    owner: party("shop").address,
    features: pixels,
    featureMax: 16,
    idColumn: "id",
    labelColumn: "label",
    k: 10
  })
  const parties = () => [entry("bank", "query"), entry("shop", "gallery")]
  const downloadFee = 3n
  /** An image's original as the shop keeps it: an 8×8 grey-level PGM of its pixels. */
  const originalOf = (image: ReadonlyArray<number>) => new TextEncoder().encode(`P2\n8 8\n16\n${Array.from({ length: 8 }, (_, r) => image.slice(r * 8, r * 8 + 8).join(" ")).join("\n")}\n`)
  const passphraseOf = async (name: string) => (await readFile(join(party(name).dataDir, "passphrase"), "utf8")).trim()
  /** The party's config with an IPFS node on disk in its data dir: what `jointly originals` shares and fetches through. */
  const ipfsConfigOf = async (name: string) => {
    const file = join(party(name).dataDir, "participant-originals.json")
    const config = JSON.parse(await readFile(join(party(name).dataDir, "participant.json"), "utf8"))
    await writeFile(file, JSON.stringify({ ...config, ipfs: { directory: join(party(name).dataDir, "originals-ipfs") } }))
    return file
  }
  /** A party as a FileExchange member in this process: its keystore's keys, an embedded IPFS node, its FileShare. */
  const memberOf = async (name: string, supervisor: { encryptionKeyOf: (account: string) => Promise<string | undefined> }, ipfs: HeliaBlocks.HeliaOptions = {}) => {
    const identity = await Keystore.openPromise({ dataDir: party(name).dataDir, passphrase: await passphraseOf(name) })
    const privateKey = Redacted.value(identity.account).privateKey
    const suite = cluster.deployment.suite!
    const ledger: FileExchangeLedger = await makeFileExchangeLedger({ rpcUrl: cluster.rpcUrl, privateKey, addresses: { files: suite.files!, settlement: suite.settlement } })
    closing.push(ledger.close)
    const scope = await Effect.runPromise(Scope.make())
    scopes.push(scope)
    const node = await Effect.runPromise(Scope.provide(HeliaBlocks.make(ipfs), scope))
    const key = { secretKey: Redacted.value(identity.encryptionSecretKey), publicKey: getBytes(identity.encryptionPublicKey) }
    const share = FileShare.make({ ledger, blocks: node.blocks, key, dir: join(party(name).dataDir, "file-keys"), encryptionKeyOf: (account) => supervisor.encryptionKeyOf(account) })
    return { privateKey, ledger, node, share, exchange: { share, chainId: ledger.chainId, address: ledger.address } }
  }
  type Member = Awaited<ReturnType<typeof memberOf>>
  /** What the first test leaves for the originals test: the run whose K have originals on the exchange. */
  let withOriginals: { taskId: string; ids: ReadonlyArray<string>; images: ReadonlyArray<ReadonlyArray<number> | undefined>; shop: Member; bank: Member; supervisor: NonNullable<Awaited<ReturnType<typeof Consortium.governanceFor>>> } | undefined
  /** The plaintext k-NN over `images` (ties by row): the ids the encrypted search must return. */
  const nearest = (images: ReadonlyArray<ReadonlyArray<number> | undefined>) =>
    images
      .flatMap((img, row) => (img === undefined ? [] : [{ row, distance: img.reduce((s, v, i) => s + (v - query[i]!) ** 2, 0) }]))
      .sort((a, b) => a.distance - b.distance || a.row - b.row)
      .slice(0, 10)
      .map((e) => gallery.ids[e.row]!)

  it("the querier's K = 10 equal the plaintext nearest neighbours; the owner cannot read the result; a new epoch is found", async () => {
    const { id, result } = await run("query.similar", parties(), params())
    const expected = nearest(gallery.images)
    const output = await outputOf("bank", id)
    expectDigest(output, result.digest)
    expect(new Set((output.results as Array<{ id: string }>).map((r) => r.id))).toEqual(new Set(expected))
    expect(result).toMatchObject({ kind: "query.similar", k: 10, index: { epoch: 0, size: gallery.ids.length, dimension: 64 } })
    // The receipt: rounds, the index commitment and the digest; no id of the collection.
    const receipt = JSON.stringify(result)
    for (const e of expected) expect(receipt).not.toContain(e)
    expect((result.index as { root: string }).root).toBe(output.index.root)
    const refused = await refusedRead("shop", id)
    expect(refused).toBeInstanceOf(RequestFailed)
    expect(refused!.status).toBe(403)

    // Epoch 2 in the shop's index log (below): image 5 now holds the query itself, the nearest image is deleted.
    const deleted = expected[0]!
    const images: Array<ReadonlyArray<number> | undefined> = [...gallery.images]
    images[5] = query
    images[gallery.ids.indexOf(deleted)] = undefined
    const coming = nearest(images)

    // Epoch 1: the shop publishes the originals of seven of the coming K on the FileExchange, their locations
    // committed in its index (`jointly originals publish`).
    const supervisor = (await Consortium.governanceFor(cluster.rpcUrl, cluster.keys.supervisor, cluster.deployment))!
    closing.push(supervisor.close)
    for (const [name, points] of [["shop", 100n], ["bank", 100n], ["regulator", 10n]] as const) await supervisor.mintPoints(party(name).address, points)
    const originalsDir = join(dir, "originals")
    await mkdir(originalsDir)
    for (const id of coming.slice(0, 7)) await writeFile(join(originalsDir, `${id}.pgm`), originalOf(images[gallery.ids.indexOf(id)]!))
    const published = await Commands.originals({ action: "publish", arg: originalsDir, dataset: "gallery", fee: String(downloadFee), config: await ipfsConfigOf("shop"), passphrase: await passphraseOf("shop"), print: false })
    expect(published).toMatchObject({ event: "published", dataset: "gallery", epoch: 1 })
    expect((published.originals as Array<{ id: string }>).map((p) => p.id)).toEqual([...coming.slice(0, 7)].sort())

    // The other three get locations no fee may be paid for: a web address, another member's file on the exchange,
    // and a shop entry whose ciphertext hash on chain is not its block's (the block is on the bank's own node).
    const shop = await memberOf("shop", supervisor, { directory: join(party("shop").dataDir, "originals-ipfs") })
    const bank = await memberOf("bank", supervisor, { peers: [shop.node.node.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!] })
    const regulator = await memberOf("regulator", supervisor)
    const location = (m: Member, cid: string) => Originals.locationOf({ chainId: m.ledger.chainId, exchange: m.ledger.address, cid })
    const foreign = await Effect.runPromise(regulator.share.share(new TextEncoder().encode("the regulator's own file"), { name: "notes.txt", downloadFee }))
    const lyingCid = await Effect.runPromise(bank.node.blocks.put(new TextEncoder().encode("a block the shop misrecords")))
    await shop.ledger.upload(lyingCid, keccak256(toUtf8Bytes("not this block")), keccak256(toUtf8Bytes("no description")), downloadFee)
    await FeatureLogFile.append(party("shop").dataDir, "gallery", [
      { op: "update", id: gallery.ids[5]!, features: [...query], label: "updated" },
      { op: "delete", id: deleted },
      { op: "update", id: coming[7]!, location: `https://images.example/shop/${coming[7]}.pgm` },
      { op: "update", id: coming[8]!, location: location(regulator, foreign.cid) },
      { op: "update", id: coming[9]!, location: location(shop, lyingCid) }
    ])
    const second = await run("query.similar", parties(), params())
    const after = await outputOf("bank", second.id)
    const ids = new Set((after.results as Array<{ id: string }>).map((r) => r.id))
    expect(ids).toEqual(new Set(nearest(images)))
    expect(ids.has(gallery.ids[5]!)).toBe(true)
    expect(ids.has(deleted)).toBe(false)
    expect(second.result).toMatchObject({ index: { epoch: 2, size: gallery.ids.length - 1 } })
    expect((second.result.index as { root: string }).root).not.toBe((result.index as { root: string }).root)
    // Each record comes with the location the shop committed.
    const published7 = new Map((published.originals as Array<{ id: string; location: string }>).map((p) => [p.id, p.location]))
    for (const r of after.results as Array<{ id: string; location?: string }>) {
      if (published7.has(r.id)) expect(r.location, r.id).toBe(published7.get(r.id))
    }
    withOriginals = { taskId: second.id, ids: coming, images, shop, bank, supervisor }
  }, 480_000)

  it("buys one result's original through the FileExchange, checked end to end, the fee paid once; refuses before paying a tampered, foreign or misrecorded location; disputes an unanswered paid request and takes its fee back", async () => {
    const { taskId, ids, images, shop, bank, supervisor } = withOriginals!
    const output = await outputOf("bank", taskId)
    const taskLedger = await makeEthersLedger({ rpcUrl: cluster.rpcUrl, privateKey: bank.privateKey, addresses: { registry: cluster.deployment.registry, ledger: cluster.deployment.ledger, deployBlock: cluster.deployment.deployBlock } })
    closing.push(taskLedger.close)
    const points = async () => ({ bank: await supervisor.points(party("bank").address), shop: await supervisor.points(party("shop").address) })
    const before = await points()
    // The refusal in the error channel: an OriginalError naming the record (any other failure fails the test).
    const refusal = async (out: unknown, id: string) => {
      const error = await Effect.runPromise(Effect.flip(Originals.fetch(bank.exchange, taskLedger, out, id, { pollMs: 200, waitMs: 2_000 })))
      if (error._tag !== "OriginalError") throw error
      return error
    }

    // The bank's output edited after the task: one record given another record's (real, the shop's) location.
    const tampered = structuredClone(output)
    const record = (out: Record<string, any>, id: string) => (out.results as Array<{ id: string; location?: string }>).find((r) => r.id === id)!
    record(tampered, ids[1]!).location = record(output, ids[2]!).location
    expect(await refusal(tampered, ids[1]!)).toMatchObject({ _tag: "OriginalError", reason: "NotCommitted", record: ids[1] })
    // The same checks as an audit (a supervisor shown the output): every record a leaf under the root on chain,
    // the output the one committed; in the edited output, that one record and the digest are not.
    const honest = await Effect.runPromise(Originals.audit(taskLedger, output))
    expect(honest.index).toMatchObject({ ok: true, onChain: output.index.root })
    expect(honest.digest).toMatchObject({ ok: true, onChain: output.digest })
    expect(honest.records.map((r) => r.committed)).toEqual(Array(10).fill(true))
    const edited = await Effect.runPromise(Originals.audit(taskLedger, tampered))
    expect(edited.records.filter((r) => !r.committed).map((r) => r.id)).toEqual([ids[1]])
    expect(edited.digest.ok).toBe(false)
    expect(await refusal(output, ids[7]!)).toMatchObject({ _tag: "OriginalError", reason: "NotAnExchangeLocation", record: ids[7] })
    expect(await refusal(output, ids[8]!)).toMatchObject({ _tag: "OriginalError", reason: "NotOwnersFile", record: ids[8] })
    expect(await refusal(output, ids[9]!)).toMatchObject({ _tag: "OriginalError", reason: "CiphertextMismatch", record: ids[9] })
    expect(await points()).toEqual(before)

    // `jointly originals fetch` as the bank, from the shop's node, while the shop answers paid requests.
    const peer = shop.node.node.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!
    let serving = true
    const answering = (async () => {
      const answered: Array<string> = []
      while (serving) {
        answered.push(...(await Effect.runPromise(shop.share.serve())))
        await new Promise((r) => setTimeout(r, 200))
      }
      return answered
    })()
    const target = join(dir, "original.pgm")
    const chosen = ids[2]!
    try {
      const fetched = await Commands.originals({ action: "fetch", arg: taskId, record: chosen, out: target, config: await ipfsConfigOf("bank"), passphrase: await passphraseOf("bank"), ipfsPeer: peer, waitSeconds: 60, print: false })
      expect(fetched).toMatchObject({ event: "fetched", record: chosen, location: record(output, chosen).location, root: output.index.root, fee: downloadFee })
    } finally {
      serving = false
    }
    expect(await answering).toHaveLength(1)
    expect(Buffer.from(await readFile(target)).equals(Buffer.from(originalOf(images[gallery.ids.indexOf(chosen)]!)))).toBe(true)
    // The fee is in the exchange's escrow until the dispute window after delivery passes: the shop is not paid yet.
    expect(await points()).toEqual({ bank: before.bank - downloadFee, shop: before.shop })

    // Paid, but the shop answers nothing (its server is stopped): the key never comes, and the error names the
    // request. The bank disputes it (`jointly files dispute`); the supervisor upholds; the file is off sale, so the
    // next attempt is refused before paying.
    const unanswered = await refusal(output, ids[3]!)
    expect(unanswered).toMatchObject({ _tag: "OriginalError", reason: "KeyNotDelivered", record: ids[3] })
    expect(unanswered!.requestId).toMatch(/^0x[0-9a-f]{64}$/)
    expect(await points()).toEqual({ bank: before.bank - 2n * downloadFee, shop: before.shop })
    await Commands.files({ action: "dispute", arg: unanswered!.requestId, reason: unanswered!.message, config: await ipfsConfigOf("bank"), passphrase: await passphraseOf("bank") })
    expect(await bank.ledger.disputeOf(unanswered!.requestId!)).toBe("Open")
    // A member cannot arbitrate; the supervisor does (`jointly files arbitrate`, with the operator's keys).
    expect(await revertOf(shop.ledger.resolveDispute(unanswered!.requestId!, false, "my key was on its way"))).toBe("NotSupervisor")
    const verdict = await Commands.filesArbitrate({ id: unanswered!.requestId, verdict: "uphold", reason: "the shop delivered no key for a paid request", dataDir: join(dir, "cluster"), rpcUrl: cluster.rpcUrl, print: false })
    expect(verdict).toMatchObject({ event: "arbitrated", upheld: true, dispute: "Upheld" })
    expect(await refusal(output, ids[3]!)).toMatchObject({ _tag: "OriginalError", reason: "Withdrawn", record: ids[3] })
    expect(await points()).toEqual({ bank: before.bank - 2n * downloadFee, shop: before.shop })
    // Upheld: the bank takes its fee back from escrow (`jointly files refund`), once; the shop never gets it.
    await Commands.files({ action: "refund", arg: unanswered!.requestId, config: await ipfsConfigOf("bank"), passphrase: await passphraseOf("bank") })
    expect(await points()).toEqual({ bank: before.bank - downloadFee, shop: before.shop })
    expect(await revertOf(bank.ledger.claimRefund(unanswered!.requestId!))).toBe("AlreadySettled")
    expect(await revertOf(shop.ledger.withdrawPayment(unanswered!.requestId!))).toBe("AlreadySettled")
  }, 180_000)

  it("the owner refuses a plaintext modulus that leaves too little blinding room; the querier stores nothing", async () => {
    const id = await cluster.submit({ kind: "query.similar", parties: parties() as never, params: { ...params(), bfv: { polyModulusDegree: 8192, plainModulusBits: 36 } } })
    const detail = await cluster.waitForTask(id, { timeoutMs: 240_000 })
    expect(detail.status).toBe("Failed")
    expect(detail.reason).toContain("WeakParameters")
    await expect(outputOf("bank", id)).rejects.toThrow(/ENOENT/)
  }, 300_000)
})
