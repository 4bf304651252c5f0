import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeDir } from "./TempDir.ts"

describe("removeDir", () => {
  const root = mkdtempSync(join(tmpdir(), "jointly-tempdir-"))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it("removes a tree; an absent or undefined directory is nothing to do", async () => {
    const dir = join(root, "tree")
    mkdirSync(join(dir, "a", "b"), { recursive: true })
    writeFileSync(join(dir, "a", "b", "file"), "x")
    await removeDir(dir)
    expect(existsSync(dir)).toBe(false)
    await removeDir(dir)
    await removeDir(undefined)
  })

  it("throws an error that is not a removal race (a path under a file) instead of hiding it", async () => {
    const file = join(root, "file")
    writeFileSync(file, "x")
    await expect(removeDir(join(file, "below"))).rejects.toMatchObject({ code: "ENOTDIR" })
  })
})
