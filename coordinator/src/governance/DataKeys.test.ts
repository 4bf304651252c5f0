/**
 * Data keys that follow the grant (PROTOCOLS.md §2.4 steps 1, 3-5) on the real chain: the owner delivers its
 * dataset's DEK by ECIES under the grantee's encryption key as its did:ethr document publishes it, only while the
 * grant is valid, each delivery logged as a use on chain; after expiry nothing is delivered; after a revocation the
 * DEK rotates and the grantee's key no longer opens what the owner releases next.
 */
import { randomUUID } from "node:crypto"
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet, getBytes, hexlify, keccak256, toUtf8Bytes } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import type { GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as DataKeys from "@jointly/participant/internal/governance/DataKeys"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as Consortium from "../local/Consortium.ts"

const freshWallet = () => new Wallet(Wallet.createRandom().privateKey)
const text = (s: string) => new TextEncoder().encode(s)

let dir: string
let cluster: LocalCluster.LocalCluster
const starter = LocalCluster.starter()
let owner: GovernanceLedger
let grantee: GovernanceLedger
let keys: DataKeys.DataKeys
let datasetId: string
const ownerWallet = freshWallet()
const granteeWallet = freshWallet()
// The grantee's encryption key, published in its DID (not its account key).
const granteeEnc = Ecies.generateKeyPair()

const chainNow = async () => BigInt(Number((await jsonRpc<{ timestamp: string }>(cluster.rpcUrl, "eth_getBlockByNumber", ["latest", false])).timestamp))
const grant = async (lifetimeSeconds: bigint) => {
  const { tokenId } = await grantee.requestGrant({ datasetId, purpose: "*", expiry: (await chainNow()) + lifetimeSeconds, maxUses: 10 })
  await owner.decideGrant(tokenId, true, "approved for the test")
  return tokenId
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-datakeys-"))
  cluster = await starter.start({ dataDir: join(dir, "cluster"), parties: [] })
  for (const [wallet, name] of [[ownerWallet, "Owner Hospital"], [granteeWallet, "Grantee Lab"]] as const) {
    await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, { name: `${name} ${randomUUID()}`, wallet, encryptionPublicKey: wallet.signingKey.compressedPublicKey }, true)
  }
  owner = (await Consortium.governanceFor(cluster.rpcUrl, ownerWallet, cluster.deployment))!
  grantee = (await Consortium.governanceFor(cluster.rpcUrl, granteeWallet, cluster.deployment))!
  const registry = cluster.deployment.suite!.didRegistry!
  await DidIdentity.makeController(grantee.chain, grantee.chain.signer(granteeWallet.privateKey), registry).addEncryptionKey(hexlify(granteeEnc.publicKey), 365n * 86_400n)
  const dids = DidIdentity.makeResolver({ chainId: owner.chainId, registry, provider: owner.provider })
  datasetId = (await owner.publishDataset({
    domain: "health",
    name: "screening",
    attrs: JSON.stringify([{ name: "glucose", type: "number" }]),
    size: 768,
    contentHash: keccak256(toUtf8Bytes("screening v1")),
    location: "/owner/health/screening@1",
    policy: "GrantRequired"
  })).datasetId
  keys = DataKeys.make({
    chain: owner,
    ownerKey: Ecies.generateKeyPair(),
    dir: join(dir, "owner-keys"),
    encryptionKeyOf: async (account) => (await dids.resolve(account)).encryptionKeys.at(-1)
  })
}, 300_000)

afterAll(async () => {
  await owner?.close()
  await grantee?.close()
  await starter.stop()
  await removeDir(dir)
})

describe("data keys delivered by ECIES and rotated on revocation", () => {
  it("delivers the DEK to the grantee's DID encryption key and logs the delivery as a use on chain", async () => {
    const tokenId = await grant(3_600n)
    const release = await keys.seal(datasetId, text("glucose: 148, 85, 183"))
    const delivery = await keys.deliver(tokenId)
    const dek = DataKeys.receive(delivery, granteeEnc.secretKey)
    expect(new TextDecoder().decode(DataKeys.openWith(dek, datasetId, release))).toBe("glucose: 148, 85, 183")
    // Only the DID key opens the delivery: not the grantee's account key, not anyone else's.
    expect(() => DataKeys.receive(delivery, getBytes(granteeWallet.privateKey))).toThrow()
    expect((await owner.getGrant(tokenId))!.uses).toBe(1)
  }, 60_000)

  it("refuses to deliver after the grant expired", async () => {
    const tokenId = await grant(120n)
    await keys.deliver(tokenId)
    await jsonRpc(cluster.rpcUrl, "evm_increaseTime", [300])
    await jsonRpc(cluster.rpcUrl, "evm_mine", [])
    await expect(keys.deliver(tokenId)).rejects.toMatchObject({ _tag: "AccessDenied", reason: "Expired" })
    expect((await owner.getGrant(tokenId))!.uses).toBe(1)
  }, 60_000)

  it("after a revocation: no delivery, a new epoch, and the old key opens nothing released after it", async () => {
    const tokenId = await grant(3_600n)
    const before = await keys.seal(datasetId, text("released before the revocation"))
    const dek = DataKeys.receive(await keys.deliver(tokenId), granteeEnc.secretKey)

    const epochBefore = DataKeys.epochOf(before)
    const epochAfter = await keys.revoke(tokenId, "contract ended")
    expect(epochAfter).toBe(epochBefore + 1)
    await expect(keys.deliver(tokenId)).rejects.toMatchObject({ _tag: "AccessDenied", reason: "Revoked" })

    const after = await keys.seal(datasetId, text("released after the revocation"))
    expect(DataKeys.epochOf(after)).toBe(epochAfter)
    expect(() => DataKeys.openWith(dek, datasetId, after)).toThrow(/WrongKey/)
    // What was delivered cannot be recalled: the old release still opens with the old key (why §2.4 rotates).
    expect(new TextDecoder().decode(DataKeys.openWith(dek, datasetId, before))).toBe("released before the revocation")
    // The owner reads every epoch, from its ring on disk.
    expect(new TextDecoder().decode(await keys.open(datasetId, after))).toBe("released after the revocation")
    // A grant approved after the rotation gets the new key, which opens the new release.
    const renewed = await grant(3_600n)
    const newDek = DataKeys.receive(await keys.deliver(renewed), granteeEnc.secretKey)
    expect(new TextDecoder().decode(DataKeys.openWith(newDek, datasetId, after))).toBe("released after the revocation")
  }, 60_000)
})
