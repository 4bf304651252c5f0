/**
 * Hidden query over InMemoryHost: the querier fetches bcw party b's rows for a list of ids (some absent); the
 * records found equal a plaintext lookup, the provider's side of the transcript holds only blinded points and
 * sealed boxes, and a query list above the provider's cap is refused.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as InMemoryHost from "../../../testing/InMemoryHost.ts"
import { csvTable, exampleFile, outputs, party, table } from "../TestData.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import type * as Spec from "./spec.ts"

const provider = csvTable("bcw-b", exampleFile("bcw_vertical_party_b_psi.csv"))
const columns = ["marginal_adhesion", "bare_nuclei"] as const

const run = async (queries: ReadonlyArray<string>, maxQueries = 100) => {
  const wallets = [InMemoryHost.randomWallet(), InMemoryHost.randomWallet()]
  const params: Spec.Params = { provider: wallets[0]!.address, querier: wallets[1]!.address, idColumn: "id", columns: [...columns], maxQueries, chunkSize: 128 }
  const label = `querier-${Math.random()}`
  const host = InMemoryHost.make([
    party(`provider-${Math.random()}`, provider, Participant.handlers("ids", params), { wallet: wallets[0]! }),
    party(label, table("q", { id: [...queries] }), Participant.handlers("ids", params), { wallet: wallets[1]! })
  ])
  const result = await Effect.runPromise(Effect.result(host.run((session) => Coordinator.run(session, params, { timeoutMs: 60_000 }))))
  return { host, result, output: [...outputs.get(label)!.values()][0] as { found: Array<{ id: string; row: Record<string, number> }>; missing: Array<string> } | undefined }
}

describe("hidden query (OPRF keyword PIR) over InMemoryHost", () => {
  it("returns exactly the provider's rows for the ids it holds and reports the others missing", async () => {
    const ids = provider.strings("id")
    const wanted = [ids[5]!, ids[300]!, "no-such-id", ids[579]!, ids[5]!]
    const { result, output, host } = await run(wanted)
    expect(result._tag).toBe("Success")
    const byId = new Map(ids.map((id, row) => [id, row] as const).reverse())
    expect(output!.found).toEqual([ids[5]!, ids[300]!, ids[579]!].map((id) => ({
      id,
      row: Object.fromEntries(columns.map((c) => [c, provider.numeric(c)[byId.get(id)!]]))
    })))
    expect(output!.missing).toEqual(["no-such-id"])
    expect((result as { success: Spec.Result }).success.queries).toBe(4)
    const seen = host.transcript.map((t) => t.json).join("\n")
    for (const id of wanted) expect(seen.includes(id)).toBe(false)
  }, 60_000)

  it("refuses more queries than maxQueries", async () => {
    const { result } = await run(["1", "2", "3"], 2)
    expect(result._tag).toBe("Failure")
    expect((result as { failure: { code: string } }).failure.code).toBe("TooManyQueries")
  }, 30_000)
})
