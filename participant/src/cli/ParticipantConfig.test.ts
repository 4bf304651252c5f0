import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pinRetryOf } from "@jointly/core/internal/artifacts/IpfsConfig"
import * as ParticipantConfig from "./ParticipantConfig.ts"

let dir: string
const write = async (name: string, ipfs: unknown) => {
  const file = join(dir, name)
  await writeFile(file, JSON.stringify({ coordinatorUrl: "http://127.0.0.1:1", dataDir: "data", datasets: [], policy: "policy.json", ipfs }))
  return file
}

describe("participant.json's ipfs section", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-participant-config-"))
  })
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it("decodes the pin retry settings the agent's Pinner uses, and refuses ones out of bounds naming the field", async () => {
    const config = await ParticipantConfig.load(await write("ok.json", { directory: "ipfs", pinRetry: { initialMs: 250, maxDelayMs: 5_000, attempts: 3 } }))
    expect(pinRetryOf(config.ipfs)).toEqual({ initialMs: 250, maxDelayMs: 5_000, attempts: 3 })
    expect(pinRetryOf((await ParticipantConfig.load(await write("none.json", {}))).ipfs)).toBeUndefined()
    expect(pinRetryOf((await ParticipantConfig.load(await write("off.json", "off"))).ipfs)).toBeUndefined()
    await expect(ParticipantConfig.load(await write("zero.json", { pinRetry: { attempts: 0 } }))).rejects.toThrow(/attempts/)
    await expect(ParticipantConfig.load(await write("half.json", { pinRetry: { initialMs: 1.5 } }))).rejects.toThrow(/initialMs/)
  })
})
