/**
 * `jointly chain risk` as a user runs it (the CLI in its own process): Nakamoto's published tables (2008, §11)
 * for q = 0.1 and q = 0.3 — the curves of the authorization-contract source's Fig. 5 — come back from --json and
 * from the text output, with the confirmations for a risk below 0.1%; bad flags exit 2 with a usage error that
 * names the flag.
 */
import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import * as LocalCluster from "./local/LocalCluster.ts"

const jointly = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [LocalCluster.cliPath(), ...args], { env: { ...process.env, JOINTLY_LOG: "error" }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

// Nakamoto, "Bitcoin: A Peer-to-Peer Electronic Cash System" (2008), §11, 7 decimals.
const nakamotoQ01 = [1.0, 0.2045873, 0.0509779, 0.0131722, 0.0034552, 0.0009137, 0.0002428, 0.0000647, 0.0000173, 0.0000046, 0.0000012]
const nakamotoQ03 = new Map([[0, 1.0], [5, 0.1773523], [10, 0.0416605], [15, 0.0101008], [20, 0.0024804], [25, 0.0006132], [30, 0.0001522], [35, 0.0000379], [40, 0.0000095], [45, 0.0000024], [50, 0.0000006]])

const round7 = (x: number) => Math.round(x * 1e7) / 1e7

describe("jointly chain risk", () => {
  it("prints Nakamoto's q = 0.1 table as text, one line per z, and the confirmations for P < 0.1%", async () => {
    const { code, stdout } = await jointly(["chain", "risk", "--q", "0.1", "--z", "10"])
    expect(code).toBe(0)
    const rows = [...stdout.matchAll(/z = +(\d+) +P = ([0-9.]+)/gu)].map((m) => [Number(m[1]), Number(m[2])])
    expect(rows).toEqual(nakamotoQ01.map((p, z) => [z, p]))
    expect(stdout).toContain("P < 0.1% from z = 5 confirmations")
  }, 60_000)

  it("returns Nakamoto's q = 0.3 table for z = 0…50 as JSON", async () => {
    const { code, stdout } = await jointly(["chain", "risk", "--q", "0.3", "--z", "50", "--json"])
    expect(code).toBe(0)
    const risk = JSON.parse(stdout) as { q: number; z: number; probability: number; curve: Array<{ z: number; probability: number }>; confirmationsForOneInAThousand: number }
    expect([risk.q, risk.z, risk.curve.length]).toEqual([0.3, 50, 51])
    for (const [z, expected] of nakamotoQ03) expect(round7(risk.curve[z]!.probability), `z = ${z}`).toBe(expected)
    expect(round7(risk.probability)).toBe(0.0000006)
    expect(risk.confirmationsForOneInAThousand).toBe(24)
  }, 60_000)

  it("refuses a share outside [0, 1] or a fractional z with a usage error naming the flag", async () => {
    for (const [args, flag] of [[["--q", "1.5", "--z", "3"], "--q"], [["--q", "0.1", "--z", "2.5"], "--z"], [["--q", "0.1"], "--z"]] as const) {
      const { code, stdout } = await jointly(["chain", "risk", ...args, "--json"])
      expect(code, args.join(" ")).toBe(2)
      const { error } = JSON.parse(stdout) as { error: { code: string; message: string } }
      expect(error.code).toBe("Usage")
      expect(error.message).toContain(flag)
    }
  }, 60_000)
})
