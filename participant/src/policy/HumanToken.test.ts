import { describe, expect, it } from "vitest"
import * as HumanToken from "./HumanToken.ts"

const answer = {
  taskId: "0x" + "ab".repeat(32),
  participant: "0x8ba1f109551bD432803012645Ac136ddd64DBA72",
  approve: true,
  reason: "reviewed by the data steward"
}

describe("HumanToken", () => {
  it("accepts the MAC of exactly this decision under the participant's token", () => {
    const token = HumanToken.generate()
    expect(HumanToken.verify(token, answer, HumanToken.mac(token, answer))).toBe(true)
    // The address's case does not matter (the dashboard and the agent may spell it differently).
    expect(HumanToken.verify(token, { ...answer, participant: answer.participant.toLowerCase() }, HumanToken.mac(token, answer))).toBe(true)
  })

  it("refuses a flipped answer, another task, another reason, another participant or another token", () => {
    const token = HumanToken.generate()
    const mac = HumanToken.mac(token, answer)
    expect(HumanToken.verify(token, { ...answer, approve: false }, mac)).toBe(false)
    expect(HumanToken.verify(token, { ...answer, taskId: "0x" + "cd".repeat(32) }, mac)).toBe(false)
    expect(HumanToken.verify(token, { ...answer, reason: "something else" }, mac)).toBe(false)
    expect(HumanToken.verify(token, { ...answer, participant: "0x" + "11".repeat(20) }, mac)).toBe(false)
    expect(HumanToken.verify(HumanToken.generate(), answer, mac)).toBe(false)
    expect(HumanToken.verify(token, answer, "0xzz")).toBe(false)
  })

  it("matches the HMAC-SHA256 WebCrypto computes in the dashboard", async () => {
    const token = "dashboard-token"
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(token), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
    const web = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(HumanToken.message(answer))))
    expect(HumanToken.mac(token, answer)).toBe("0x" + Buffer.from(web).toString("hex"))
  })
})
