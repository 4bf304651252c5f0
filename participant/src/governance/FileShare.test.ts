/**
 * Files shared through IPFS for a fee (PROTOCOLS.md §2.6, §11 item 39) over real parts: an anvil chain with the
 * deployed suite (FileExchange paid in Settlement points), and two embedded Helia nodes on loopback that move the
 * encrypted block over their own libp2p connection. The downloader pays, gets the key from the uploader on
 * chain, fetches by CID and reads the file; the fees land where they should; a member who did not pay holds the
 * same block and reads nothing; a delivery by anyone else, twice, or a fee change outside governance is refused;
 * a requester's dispute goes to the supervisor, and an upheld one takes the file off sale.
 *
 * Escrow (time moved with anvil's evm_increaseTime): a download's fee stays in the exchange until the dispute
 * window after its key's delivery passes — then the uploader withdraws exactly the price, once; an upheld dispute
 * lets the buyer claim exactly its fee back and the uploader never gets it; a rejected one pays the uploader at
 * once; only the supervisor arbitrates. Every balance is read on chain. The window itself changes only through a
 * passed vote (Governance.proposeCall, queued and run by the timelock), and only for requests paid afterwards.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { keccak256, toUtf8Bytes, Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import { ChainError, chainError } from "@jointly/core/internal/ledger/ChainError"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import { cidHashOf, makeFileExchangeLedger, type FileExchangeLedger } from "@jointly/core/internal/ledger/FileExchangeLedger"
import * as GovernanceLedger from "@jointly/core/internal/ledger/GovernanceLedger"
import type { ChainClient } from "@jointly/core/internal/ledger/Chain"
import * as FileExchangeContract from "@jointly/core/internal/ledger/generated/FileExchange"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import { revertOf, startNode, type EvmNode } from "@jointly/coordinator/internal/testing/EvmNode"
import * as FileShare from "./FileShare.ts"

const run = Effect.runPromise

const members = ["uploader", "buyer", "outsider"] as const
type Member = (typeof members)[number]
const uploadFee = 5n
const downloadFee = 40n
/** The exchange's dispute window (seconds after a key's delivery), set at deployment. */
const window = 3_600n

describe("FileShare: encrypted files on IPFS with upload and download fees", () => {
  let node: EvmNode
  const dirs: Array<string> = []
  const scopes: Array<Scope.Closeable> = []
  const keys = Object.fromEntries(["supervisor", ...members].map((n) => [n, Wallet.createRandom().privateKey])) as Record<"supervisor" | Member, string>
  const enc = Object.fromEntries(members.map((m) => [m, Ecies.generateKeyPair()])) as Record<Member, Ecies.KeyPair>
  const ledgers = {} as Record<Member, FileExchangeLedger>
  const shares = {} as Record<Member, FileShare.FileShare>
  const nodes = {} as Record<Member, { blocks: ArtifactBlocksShape }>
  let supervisor: GovernanceLedger.GovernanceLedger
  let arbiter: FileExchangeLedger
  let timelock: string
  let exchange: { files: string; settlement: string }
  /** The chain client of the account that deployed the suite (the supervisor), which handed the exchange to the timelock. */
  let deployer: ChainClient
  const close: Array<() => Promise<void>> = []

  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "jointly-files-"))
    dirs.push(dir)
    return dir
  }
  const helia = async (options: HeliaBlocks.HeliaOptions = {}) => {
    const scope = await Effect.runPromise(Scope.make())
    scopes.push(scope)
    return Effect.runPromise(Scope.provide(HeliaBlocks.make(options), scope))
  }

  beforeAll(async () => {
    node = await startNode("anvil")
    await node.fund(Object.values(keys).map((k) => new Wallet(k).address))
    const admin = await makeEthersLedger({ rpcUrl: node.rpcUrl, privateKey: keys.supervisor })
    deployer = admin.chain
    close.push(admin.close)
    const deployment = await admin.deploy()
    for (const m of members) {
      const own = await makeEthersLedger({ rpcUrl: node.rpcUrl, chain: admin.chain, privateKey: keys[m], addresses: deployment })
      const { companyId } = await own.register({ name: m, registrationNumber: `${m}-1`, encPubKey: enc[m].publicKey, dossierHash: keccak256(toUtf8Bytes(m)) })
      await admin.setState(companyId, "Audited")
      await own.close()
    }
    const suite = await GovernanceLedger.deploySuite(admin.chain, admin.chain.signer(keys.supervisor), deployment, admin.account, { uploadFeePoints: uploadFee, fileDisputeWindowSeconds: window })
    timelock = suite.timelock
    const addresses = { ...suite, registry: deployment.registry, ledger: deployment.ledger }
    supervisor = await GovernanceLedger.makeGovernanceLedger({ rpcUrl: node.rpcUrl, chain: admin.chain, privateKey: keys.supervisor, addresses })
    close.push(supervisor.close)
    for (const m of members) await supervisor.mintPoints(new Wallet(keys[m]).address, 1_000n)

    const owner = await helia()
    const loopback = owner.node.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!
    Object.assign(nodes, { uploader: owner, buyer: await helia({ peers: [loopback] }), outsider: await helia({ peers: [loopback] }) })
    exchange = { files: suite.files!, settlement: suite.settlement }
    for (const m of members) {
      ledgers[m] = await makeFileExchangeLedger({ rpcUrl: node.rpcUrl, chain: admin.chain, privateKey: keys[m], addresses: exchange })
      shares[m] = FileShare.make({ ledger: ledgers[m], blocks: nodes[m].blocks, key: enc[m], dir: tempDir(), encryptionKeyOf: (account) => supervisor.encryptionKeyOf(account) })
    }
    arbiter = await makeFileExchangeLedger({ rpcUrl: node.rpcUrl, chain: admin.chain, privateKey: keys.supervisor, addresses: exchange })
  }, 120_000)

  afterAll(async () => {
    for (const scope of scopes.reverse()) await Effect.runPromise(Scope.close(scope, Exit.void))
    for (const c of close) await c()
    await node?.stop()
    for (const dir of dirs) await removeDir(dir)
  })

  const points = (m: Member | string) => supervisor.points(m in keys ? new Wallet(keys[m as Member]).address : m)
  const balances = async () => ({ uploader: await points("uploader"), buyer: await points("buyer"), escrow: await points(exchange.files) })

  it("a paid download reads the file; the fees go to the treasury and into escrow; the unpaid read nothing", async () => {
    const file = new TextEncoder().encode(`customer_id,spend\n${Array.from({ length: 500 }, (_, i) => `c${i},${(i * 37) % 1000}`).join("\n")}\n`)
    const before = { uploader: await points("uploader"), buyer: await points("buyer"), treasury: await points(timelock), escrow: await points(exchange.files) }

    const shared = await run(shares.uploader.share(file, { name: "spend.csv", downloadFee }))
    expect(await points("uploader")).toBe(before.uploader - uploadFee)
    expect(await points(timelock)).toBe(before.treasury + uploadFee)
    // The chain names the file by its CID and ciphertext hash only.
    expect(await ledgers.buyer.file(shared.cidHash)).toMatchObject({ uploader: ledgers.uploader.account, downloadFee })

    // The buyer pays; the uploader's participant answers on chain; the buyer fetches the block by CID from the
    // uploader's node and opens it.
    const answering = (async () => {
      for (let i = 0; i < 100; i++) {
        const answered = await run(shares.uploader.serve())
        if (answered.length > 0) return answered
        await new Promise((r) => setTimeout(r, 200))
      }
      return []
    })()
    const got = await run(shares.buyer.download(shared.cid, { pollMs: 200, waitMs: 30_000 }))
    expect(await answering).toEqual([got.requestId])
    expect(Buffer.from(got.file).equals(Buffer.from(file))).toBe(true)
    expect(got.description).toEqual({ name: "spend.csv", bytes: file.length, sha256: shared.description.sha256 })
    // The fee left the buyer for the exchange's escrow, not (yet) for the uploader.
    expect(await points("buyer")).toBe(before.buyer - downloadFee)
    expect(await points(exchange.files)).toBe(before.escrow + downloadFee)
    expect(await points("uploader")).toBe(before.uploader - uploadFee)
    expect(await ledgers.buyer.request(got.requestId)).toMatchObject({ status: "Delivered", escrow: "Held", amount: downloadFee, window })
    expect((await ledgers.buyer.escrow(got.requestId))?.state).toBe("InWindow")

    // The outsider fetches the same block from IPFS by the CID on chain: it is the recorded ciphertext, with
    // nothing of the file readable in it, and the key delivered to the buyer does not open for the outsider.
    const block = await Effect.runPromise(nodes.outsider.blocks.get(shared.cid))
    expect(keccak256(block)).toBe((await ledgers.outsider.file(shared.cidHash))!.ctHash)
    expect(Buffer.from(block).includes(Buffer.from("customer_id"))).toBe(false)
    const delivered = (await ledgers.outsider.deliveredKey(got.requestId))!
    expect(() => Ecies.decrypt(enc.outsider.secretKey, delivered, new Uint8Array(64))).toThrow(/AuthenticationFailed|InvalidKey/)
    // Nothing is left to serve: every request is answered once.
    expect(await run(shares.uploader.serve())).toEqual([])
    expect(await revertOf(ledgers.uploader.deliverKey(got.requestId, new Uint8Array([1, 2, 3])))).toBe("AlreadyDelivered")
  }, 120_000)

  it("refuses a delivery by anyone but the uploader, a second upload of a CID, and a fee change outside governance", async () => {
    const shared = await run(shares.uploader.share(new TextEncoder().encode("one more file"), { name: "more.txt", downloadFee: 0n }))
    const { requestId, fee } = await ledgers.outsider.requestDownload(shared.cidHash)
    expect(fee).toBe(0n)
    expect(await revertOf(ledgers.buyer.deliverKey(requestId, new Uint8Array([1])))).toBe("NotUploader")
    // A requester whose key cannot be found is skipped, reported, and left pending; a later call answers it.
    const blind = FileShare.make({ ledger: ledgers.uploader, blocks: nodes.uploader.blocks, key: enc.uploader, dir: tempDir(), encryptionKeyOf: async () => undefined })
    const skipped: Array<string> = []
    expect(await run(blind.serve((id, error) => skipped.push(`${id}:${error.reason}`)))).toEqual([])
    expect(skipped).toEqual([`${requestId}:NoEncryptionKey`])
    // Still waiting on the next poll, though that poll reads only blocks after the request's.
    expect(await run(blind.serve((id, error) => skipped.push(`${id}:${error.reason}`)))).toEqual([])
    expect(skipped).toEqual([`${requestId}:NoEncryptionKey`, `${requestId}:NoEncryptionKey`])
    expect((await ledgers.outsider.request(requestId))?.status).toBe("Paid")
    // The first test's server, polling on from where it stopped, sees the new request and answers it; the blind
    // one then finds it answered and lets it go.
    expect(await run(shares.uploader.serve())).toEqual([requestId])
    expect(await run(blind.serve((id, error) => skipped.push(`${id}:${error.reason}`)))).toEqual([])
    expect(skipped).toHaveLength(2)
    expect(await revertOf(ledgers.buyer.upload(shared.cid, keccak256("0x01"), keccak256("0x02"), 0n))).toBe("AlreadyUploaded")
    expect(await revertOf(ledgers.buyer.requestDownload(cidHashOf("bafy-not-there")))).toBe("UnknownFile")
    // The upload fee is the timelock's to set (a passed vote), not the supervisor's nor a member's.
    expect(await revertOf(ledgers.uploader.setUploadFee(0n))).toBe("AccessControlUnauthorizedAccount")
    expect(await ledgers.buyer.uploadFee()).toBe(uploadFee)
    // So is the dispute window: not even the deployer changes the terms of later purchases.
    const shorten = FileExchangeContract.contractInterface.encodeFunctionData("setDisputeWindow", [0n])
    expect(await revertOf(deployer.send(deployer.signer(keys.supervisor), { to: exchange.files, data: shorten }, "test.setDisputeWindow"))).toBe("AccessControlUnauthorizedAccount")
    expect(await ledgers.buyer.disputeWindow()).toBe(window)
    // Over one block's worth: refused before anything is paid or stored.
    const paid = await supervisor.points(ledgers.uploader.account)
    expect(await run(Effect.flip(shares.uploader.share(new Uint8Array(FileShare.MAX_FILE_BYTES + 1), { name: "big.bin", downloadFee: 0n })))).toMatchObject({ _tag: "FileShareError", reason: "TooLarge" })
    expect(await supervisor.points(ledgers.uploader.account)).toBe(paid)
  }, 60_000)

  it("fails in the error channel with what went wrong: a file not on the exchange before paying, the chain's own error while waiting for the key", async () => {
    const before = await balances()
    expect(await run(Effect.flip(shares.buyer.download("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", { pollMs: 200, waitMs: 1_000 })))).toMatchObject({ _tag: "FileShareError", reason: "UnknownFile" })
    expect(await balances()).toEqual(before)
    // The buyer's exchange view, its node gone while the key is awaited (after the fee was paid): the failure is the
    // chain's typed ChainError naming the read, not retried as a key still on its way, nor an untyped rejection.
    const shared = await run(shares.uploader.share(new TextEncoder().encode("a file bought while the node goes away"), { name: "away.txt", downloadFee: 0n }))
    const away: FileExchangeLedger = { ...ledgers.buyer, deliveredKey: async () => { throw chainError("deliveredKey", { _tag: "Unreachable" }, "deliveredKey: the node did not answer") } }
    const stranded = FileShare.make({ ledger: away, blocks: nodes.buyer.blocks, key: enc.buyer, dir: tempDir(), encryptionKeyOf: (account) => supervisor.encryptionKeyOf(account) })
    const error = await run(Effect.flip(stranded.download(shared.cid, { pollMs: 200, waitMs: 30_000 })))
    expect(error).toBeInstanceOf(ChainError)
    expect(error).toMatchObject({ _tag: "ChainError", operation: "deliveredKey", reason: { _tag: "Unreachable" } })
    // The request was paid: the uploader answers it (and nothing else is left waiting for the next tests).
    expect(await run(shares.uploader.serve())).toHaveLength(1)
  }, 60_000)

  it("takes a requester's dispute to the supervisor (PROTOCOLS §8 step 5): upheld, the file is withdrawn from sale", async () => {
    const shared = await run(shares.uploader.share(new TextEncoder().encode("a file whose key never comes"), { name: "silent.txt", downloadFee: 0n }))
    const { requestId } = await ledgers.buyer.requestDownload(shared.cidHash)
    // No key is served. Only the requester disputes its request, once; a member cannot arbitrate.
    expect(await revertOf(ledgers.outsider.dispute(requestId, "not my request"))).toBe("NotRequester")
    await ledgers.buyer.dispute(requestId, `KeyNotDelivered: no key for request ${requestId}`)
    expect(await ledgers.buyer.disputeOf(requestId)).toBe("Open")
    expect(await revertOf(ledgers.buyer.dispute(requestId, "again"))).toBe("AlreadyDisputed")
    expect(await revertOf(ledgers.uploader.resolveDispute(requestId, false, "my file is fine"))).toBe("NotSupervisor")
    expect(await ledgers.outsider.withdrawn(shared.cidHash)).toBe(false)
    await arbiter.resolveDispute(requestId, true, "no key was delivered for a paid request")
    expect(await ledgers.buyer.disputeOf(requestId)).toBe("Upheld")
    expect(await ledgers.outsider.withdrawn(shared.cidHash)).toBe(true)
    // Refunded, the requester does not get the key afterwards: the contract refuses it and the server drops it.
    expect(await revertOf(ledgers.uploader.deliverKey(requestId, new Uint8Array([1])))).toBe("DisputeUpheld")
    expect(await run(shares.uploader.serve())).toEqual([])
    // Off sale: nobody pays for it again; the dispute is closed.
    expect(await revertOf(ledgers.outsider.requestDownload(shared.cidHash))).toBe("Withdrawn")
    expect(await revertOf(arbiter.resolveDispute(requestId, false, "twice"))).toBe("NotDisputed")
  }, 60_000)

  /** A file on sale at `downloadFee`, bought by the buyer and its key delivered: the dispute window runs. */
  const bought = async (name: string) => {
    const shared = await run(shares.uploader.share(new TextEncoder().encode(`the contents of ${name}`), { name, downloadFee }))
    const before = await balances()
    const { requestId } = await ledgers.buyer.requestDownload(shared.cidHash)
    expect(await balances()).toEqual({ uploader: before.uploader, buyer: before.buyer - downloadFee, escrow: before.escrow + downloadFee })
    // Nothing to withdraw before the key is delivered.
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("NotDelivered")
    expect((await ledgers.uploader.escrow(requestId))?.state).toBe("AwaitingKey")
    expect(await run(shares.uploader.serve())).toEqual([requestId])
    return { requestId, before }
  }

  it("escrow: the uploader withdraws exactly the price once the window after delivery passed, and only once", async () => {
    expect(await ledgers.buyer.disputeWindow()).toBe(window)
    const { requestId, before } = await bought("escrowed.txt")
    const { request } = (await ledgers.uploader.escrow(requestId))!
    // Inside the window: the uploader's withdrawal is refused, the buyer has no refund, nobody else takes the fee.
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("WindowOpen")
    expect(await revertOf(ledgers.buyer.claimRefund(requestId))).toBe("NotUpheld")
    expect(await revertOf(ledgers.outsider.withdrawPayment(requestId))).toBe("NotUploader")
    expect(await revertOf(ledgers.buyer.withdrawPayment(requestId))).toBe("NotUploader")
    expect(await balances()).toEqual({ ...before, buyer: before.buyer - downloadFee, escrow: before.escrow + downloadFee })

    await node.later(Number(request.deadline - (await ledgers.uploader.escrow(requestId))!.now) + 1)
    expect((await ledgers.uploader.escrow(requestId))?.state).toBe("Withdrawable")
    // Past the window: the buyer can no longer dispute.
    expect(await revertOf(ledgers.buyer.dispute(requestId, "too late"))).toBe("WindowClosed")
    const paid = await ledgers.uploader.withdrawPayment(requestId)
    expect(paid.amount).toBe(downloadFee)
    expect(await balances()).toEqual({ uploader: before.uploader + downloadFee, buyer: before.buyer - downloadFee, escrow: before.escrow })
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("AlreadySettled")
    expect(await revertOf(ledgers.buyer.claimRefund(requestId))).toBe("AlreadySettled")
    expect((await ledgers.buyer.escrow(requestId))?.state).toBe("Released")
    expect(await balances()).toEqual({ uploader: before.uploader + downloadFee, buyer: before.buyer - downloadFee, escrow: before.escrow })
  }, 60_000)

  it("escrow: an upheld dispute refunds the buyer exactly and the uploader never gets the fee; only the supervisor arbitrates", async () => {
    const { requestId, before } = await bought("disputed.txt")
    await ledgers.buyer.dispute(requestId, "DescriptionMismatch: the file does not match its description")
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("DisputeOpen")
    expect(await revertOf(ledgers.buyer.claimRefund(requestId))).toBe("NotUpheld")
    // Neither party nor another member arbitrates.
    for (const m of members) expect(await revertOf(ledgers[m].resolveDispute(requestId, m === "buyer", "my own verdict"))).toBe("NotSupervisor")
    expect(await ledgers.buyer.disputeOf(requestId)).toBe("Open")
    await arbiter.resolveDispute(requestId, true, "the delivered file does not match its description")
    expect((await ledgers.buyer.escrow(requestId))?.state).toBe("Refundable")
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("DisputeUpheld")
    // Still refused once the window has long passed.
    await node.later(Number(window) + 1)
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("DisputeUpheld")
    expect(await revertOf(ledgers.outsider.claimRefund(requestId))).toBe("NotRequester")
    expect(await revertOf(ledgers.uploader.claimRefund(requestId))).toBe("NotRequester")
    const refund = await ledgers.buyer.claimRefund(requestId)
    expect(refund.amount).toBe(downloadFee)
    expect(await balances()).toEqual(before)
    expect(await revertOf(ledgers.buyer.claimRefund(requestId))).toBe("AlreadySettled")
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("AlreadySettled")
    expect((await ledgers.buyer.escrow(requestId))?.state).toBe("Refunded")
    expect(await balances()).toEqual(before)
  }, 60_000)

  it("escrow: a rejected dispute pays the uploader at once, inside the window", async () => {
    const { requestId, before } = await bought("contested.txt")
    await ledgers.buyer.dispute(requestId, "I did not like it")
    await arbiter.resolveDispute(requestId, false, "the file matches its description")
    expect(await revertOf(arbiter.resolveDispute(requestId, true, "twice"))).toBe("NotDisputed")
    expect(await revertOf(ledgers.buyer.claimRefund(requestId))).toBe("NotUpheld")
    expect((await ledgers.uploader.escrow(requestId))?.state).toBe("Withdrawable")
    expect((await ledgers.uploader.withdrawPayment(requestId)).amount).toBe(downloadFee)
    expect(await balances()).toEqual({ uploader: before.uploader + downloadFee, buyer: before.buyer - downloadFee, escrow: before.escrow })
    expect(await revertOf(ledgers.uploader.withdrawPayment(requestId))).toBe("AlreadySettled")
  }, 60_000)

  it("a passed vote sets the dispute window through the timelock: requests paid afterwards carry it, an earlier one keeps its own", async () => {
    const earlier = await bought("before-the-vote.txt")
    const voters = Object.fromEntries(await Promise.all(members.map(async (m) =>
      [m, await GovernanceLedger.makeGovernanceLedger({ rpcUrl: node.rpcUrl, chain: deployer, privateKey: keys[m], addresses: supervisor.addresses })] as const
    ))) as Record<Member, GovernanceLedger.GovernanceLedger>
    const now = async () => BigInt((await deployer.provider.getBlock("latest"))!.timestamp)
    const longer = window * 3n
    const data = FileExchangeContract.contractInterface.encodeFunctionData("setDisputeWindow", [longer]) as `0x${string}`
    const proposal = await voters.uploader.proposeCall({ target: exchange.files, data, deadline: (await now()) + 100n })
    for (const m of members) await voters[m].vote(proposal.id, true)
    await node.later(120)
    const executed = await voters.buyer.execute(proposal.id)
    expect(executed.passed).toBe(true)
    // Queued on the timelock: the window is unchanged until its delay has passed and the call runs.
    expect(await revertOf(voters.outsider.executeQueued(proposal.id))).toBe("TimelockNotReady")
    expect(await ledgers.buyer.disputeWindow()).toBe(window)
    await node.later((await supervisor.timelockDelay()) + 10n)
    await voters.outsider.executeQueued(proposal.id)
    expect(await ledgers.buyer.disputeWindow()).toBe(longer)

    const after = await bought("after-the-vote.txt")
    expect((await ledgers.buyer.request(after.requestId))?.window).toBe(longer)
    expect((await ledgers.buyer.request(earlier.requestId))?.window).toBe(window)
    // Past the old window the later request is still in its own: the uploader waits, the buyer may still dispute.
    await node.later(window + 10n)
    expect((await ledgers.uploader.escrow(after.requestId))?.state).toBe("InWindow")
    expect(await revertOf(ledgers.uploader.withdrawPayment(after.requestId))).toBe("WindowOpen")
    const { request, now: at } = (await ledgers.uploader.escrow(after.requestId))!
    await node.later(Number(request.deadline - at) + 1)
    expect((await ledgers.uploader.withdrawPayment(after.requestId)).amount).toBe(downloadFee)
    // The earlier request's window (the old one) long passed: it pays out as it always would have.
    expect((await ledgers.uploader.withdrawPayment(earlier.requestId)).amount).toBe(downloadFee)
    for (const m of members) await voters[m].close()
  }, 60_000)
})
