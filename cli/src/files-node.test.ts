/**
 * `filesNodeOptions`: where `jointly files` keeps its IPFS blocks. A relative `ipfs.directory` (and the
 * `<dataDir>/ipfs` fallback of a config whose node keeps blocks in memory) names a place beside the config file,
 * as every other path of the participant config does — never one under whatever directory the command was run
 * from. Checked for a config as written (relative paths) and as `ParticipantConfig.load` returns it: both give
 * the same absolute directory.
 */
import { mkdtemp, mkdir, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import type { IpfsConfig } from "@jointly/core/internal/artifacts/IpfsConfig"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ParticipantConfig from "@jointly/participant/internal/cli/ParticipantConfig"
import { filesNodeOptions } from "./governance.ts"

describe("filesNodeOptions resolves the node's directory against the config file's folder", () => {
  let root: string
  let configFile: string
  const written = (ipfs: IpfsConfig) => ({ coordinatorUrl: "https://127.0.0.1:1", dataDir: "data", datasets: [], policy: "policy.json", ipfs })

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "jointly-files-node-"))
    await mkdir(join(root, "conf"))
    configFile = join(root, "conf", "participant.json")
  })
  afterAll(async () => {
    await removeDir(root)
  })

  // The config file named relative to the working directory (the test's is the repository, not `root`), as a
  // user types it: the directory must still land beside the file.
  const relativeConfigFile = () => relative(process.cwd(), configFile)

  it("a relative ipfs.directory is beside the config file, loaded or not", async () => {
    const config = written({ directory: "blocks" })
    await writeFile(configFile, JSON.stringify(config))
    expect(filesNodeOptions(relativeConfigFile(), config, {}).directory).toBe(join(root, "conf", "blocks"))
    const loaded = await ParticipantConfig.load(configFile, {})
    expect(filesNodeOptions(configFile, loaded, {}).directory).toBe(join(root, "conf", "blocks"))
  })

  it("a node whose blocks are in memory keeps them in <dataDir>/ipfs, the data dir beside the config file", async () => {
    const config = written({})
    await writeFile(configFile, JSON.stringify(config))
    expect(filesNodeOptions(relativeConfigFile(), config, {}).directory).toBe(join(root, "conf", "data", "ipfs"))
    const loaded = await ParticipantConfig.load(configFile, {})
    expect(filesNodeOptions(configFile, loaded, {}).directory).toBe(join(root, "conf", "data", "ipfs"))
  })

  it("an absolute directory stays as written", () => {
    expect(filesNodeOptions(configFile, written({ directory: join(root, "elsewhere") }), {}).directory).toBe(join(root, "elsewhere"))
  })
})
