/**
 * A certificate's document on IPFS between two embedded Helia nodes on loopback: the owner seals and puts it, the
 * verifier fetches it by the CID the notarized metadata names, opens it and checks it against the chain's hashes.
 * A block altered on the verifier's disk, a block nobody has, another document's CID, an edited metadata and a
 * verifier who is no reader are each refused with their typed error. (The chain half runs end to end in
 * Governance.test.ts, "e-data certificates".)
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ArtifactBlocksShape, cidOf } from "@jointly/core/internal/artifacts/Blocks"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import * as HeliaBlocks from "./HeliaBlocks.ts"
import * as CertificateFile from "@jointly/core/internal/artifacts/CertificateFile"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

describe("CertificateFile: a certificate's document on IPFS, checked against the chain", () => {
  let scope: Scope.Closeable
  let owner: ArtifactBlocksShape
  let verifier: ArtifactBlocksShape
  const dir = mkdtempSync(join(tmpdir(), "jointly-cert-"))
  const ownerKey = Ecies.generateKeyPair()
  const readerKey = Ecies.generateKeyPair()
  const document = new TextEncoder().encode("Data-sharing agreement between north and south, signed 2026-01-01.\n")
  const salt = randomBytes(32)
  const docHash = CertificateFile.docHashOf(salt, document)
  let cid: string
  let meta: string

  beforeAll(async () => {
    scope = await run(Scope.make())
    const started = await run(Scope.provide(HeliaBlocks.make(), scope))
    owner = started.blocks
    verifier = (await run(Scope.provide(HeliaBlocks.make({ directory: dir, peers: [started.node.addresses[0]!], defaultTimeoutMs: 20_000 }), scope))).blocks
    ;({ cid, meta } = await run(CertificateFile.put({ blocks: owner, document, docHash, name: "agreement.txt", readers: [ownerKey.publicKey, readerKey.publicKey] })))
  }, 60_000)

  afterAll(async () => {
    await run(Scope.close(scope, Exit.void))
    await removeDir(dir)
  })

  const onChain = () => ({ docHash, metaHash: CertificateFile.metaHashOf(meta) })

  it("the verifier fetches the document by the notarized CID, and it equals the original", async () => {
    expect(JSON.parse(meta)).toEqual({ name: "agreement.txt", bytes: document.length, cid })
    expect(await run(owner.has(cid))).toBe(true)
    expect(await run(verifier.has(cid))).toBe(false)
    const fetched = await run(CertificateFile.fetchDocument({ blocks: verifier, cid, meta, salt, onChain: onChain(), readerKey: readerKey.secretKey }))
    expect(Buffer.from(fetched!).equals(Buffer.from(document))).toBe(true)
    // What crossed is sealed: the block holds no part of the document in clear.
    const block = await run(verifier.get(cid))
    expect(Buffer.from(block).includes(Buffer.from(document.subarray(0, 24)))).toBe(false)
  }, 60_000)

  it("refuses another document's CID, an edited metadata and a verifier who is no reader", async () => {
    const other = await run(CertificateFile.put({ blocks: owner, document: new TextEncoder().encode("another agreement"), docHash, name: "agreement.txt", readers: [readerKey.publicKey] }))
    const swapped = await run(Effect.flip(CertificateFile.fetchDocument({ blocks: verifier, cid: other.cid, meta, salt, onChain: onChain(), readerKey: readerKey.secretKey })))
    expect(swapped).toMatchObject({ _tag: "CertificateMismatch", check: "cid" })
    // The other document's metadata is not what the chain notarized.
    const edited = await run(Effect.flip(CertificateFile.fetchDocument({ blocks: verifier, cid: other.cid, meta: other.meta, salt, onChain: onChain(), readerKey: readerKey.secretKey })))
    expect(edited).toMatchObject({ _tag: "CertificateMismatch", check: "meta" })
    // Had the chain notarized it, its content would still not hash to the docHash.
    const wrongDoc = await run(Effect.flip(CertificateFile.fetchDocument({ blocks: verifier, cid: other.cid, meta: other.meta, salt, onChain: { docHash, metaHash: CertificateFile.metaHashOf(other.meta) }, readerKey: readerKey.secretKey })))
    expect(wrongDoc).toMatchObject({ _tag: "CertificateMismatch", check: "document" })
    const stranger = await run(Effect.flip(CertificateFile.fetchDocument({ blocks: verifier, cid, meta, salt, onChain: onChain(), readerKey: Ecies.generateKeyPair().secretKey })))
    expect(stranger).toMatchObject({ _tag: "EnvelopeError", reason: "NotAReader" })
  }, 60_000)

  it("a block nobody has is BlockNotFound, a block altered on disk BlockTampered", async () => {
    const absent = (await cidOf(new TextEncoder().encode("never stored"))).toString()
    const absentMeta = JSON.stringify({ name: "x", bytes: 1, cid: absent })
    const missing = await run(Effect.flip(CertificateFile.fetchDocument({ blocks: verifier, cid: absent, meta: absentMeta, salt, onChain: { docHash, metaHash: CertificateFile.metaHashOf(absentMeta) }, readerKey: readerKey.secretKey, timeoutMs: 1_000 })))
    expect(missing._tag).toBe("BlockNotFound")

    // The verifier keeps the block now; flip a byte of it in its block store.
    await run(verifier.pin(cid))
    const sealed = await run(verifier.get(cid))
    const files = (at: string): Array<string> => readdirSync(at).flatMap((name) => statSync(join(at, name)).isDirectory() ? files(join(at, name)) : [join(at, name)])
    const file = files(join(dir, "blocks")).find((f) => readFileSync(f).equals(Buffer.from(sealed)))!
    const altered = Buffer.from(sealed)
    altered[altered.length - 1]! ^= 1
    writeFileSync(file, altered)
    const tampered = await run(Effect.flip(CertificateFile.fetchDocument({ blocks: verifier, cid, meta, salt, onChain: onChain(), readerKey: readerKey.secretKey })))
    expect(tampered._tag).toBe("BlockTampered")
  }, 60_000)
})
