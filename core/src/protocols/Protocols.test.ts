/** The declarations as every host reads them: one decode, typed params, checksummed addresses, typed refusals. */
import { Result, Schema } from "effect"
import { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import { TaskSpec } from "../task/TaskSpec.ts"
import * as Protocols from "./Protocols.ts"

const a = Wallet.createRandom().address
const b = Wallet.createRandom().address
const spec = (kind: string, params: unknown) =>
  Schema.decodeUnknownSync(TaskSpec)({ kind, initiator: a.toLowerCase(), nonce: "n", parties: [{ participant: a.toLowerCase(), dataset: "d" }, { participant: b, dataset: "d" }], params })

describe("Protocols.decodeTask", () => {
  it("names an unknown kind and lists every declared one", () => {
    const decoded = Protocols.decodeTask(spec("query.psy", {}))
    expect(Result.isFailure(decoded) && decoded.failure).toMatchObject({ _tag: "UnknownTaskKind", kind: "query.psy" })
    const known = Result.isFailure(decoded) && decoded.failure._tag === "UnknownTaskKind" ? decoded.failure.known : []
    expect(new Set(known)).toEqual(new Set(Protocols.all.map((p) => p.kind)))
    expect(known).toHaveLength(21)
  })

  it("checksums every address, in the envelope and in the params, so a lower-case spec names the same parties", () => {
    const decoded = Protocols.decodeTaskOrThrow(spec("query.psi", { idColumn: "id", receivers: [a.toLowerCase()], maxIds: 10 }))
    expect(decoded.spec.initiator).toBe(a)
    expect(decoded.parties).toEqual([a, b])
    expect(decoded.params.receivers).toEqual([a])
    expect(decoded.protocol.recipients(decoded.params, decoded)).toEqual([a])
    expect(decoded.protocol.columns(decoded.params, decoded.spec.parties[0])).toEqual(["id"])
  })

  it("refuses an address with a wrong EIP-55 checksum and params that fail the kind's own checks", () => {
    const mixed = a.slice(0, 2) + [...a.slice(2)].map((c) => (/[a-f]/.test(c) ? c.toUpperCase() : /[A-F]/.test(c) ? c.toLowerCase() : c)).join("")
    const badChecksum = Protocols.decodeTask(spec("query.psi", { idColumn: "id", receivers: [mixed], maxIds: 10 }))
    // A mixed-case address that is not the checksummed one fails (unless flipping every letter keeps it valid).
    if (mixed !== a.toLowerCase() && mixed !== a) expect(Result.isFailure(badChecksum) && badChecksum.failure._tag).toBe("InvalidTaskParams")
    const outsider = Protocols.decodeTask(spec("query.psi", { idColumn: "id", receivers: [Wallet.createRandom().address], maxIds: 10 }))
    expect(Result.isFailure(outsider) && outsider.failure).toMatchObject({ _tag: "InvalidTaskParams", kind: "query.psi", problem: expect.stringContaining("receivers") })
  })
})
