/**
 * Which `jointly` bin a local cluster spawns (`node <cliPath()> …`).
 *
 * Built (an installed package): the built CLI, always. Run from the repository's sources (tests, notebooks):
 * the built CLI as well **when the build is current** — no file under a package's sources newer than that
 * package's last compilation — because a participant process and each of its worker threads then start
 * without tsx transpiling and resolving hundreds of TypeScript modules, most of what a real-process test
 * spends starting up; and the spawned processes run what a partner installs. Otherwise the development bin
 * (`jointly-dev.mjs`, sources through tsx), so an edit is never silently tested against a stale build.
 * The check errs towards sources: a file touched but unchanged also counts as newer.
 */
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** True when this module runs as its TypeScript source (the repository), false when built (an installed package). */
export const fromSources = import.meta.url.endsWith(".ts")
const repository = fileURLToPath(new URL("../../../", import.meta.url))
const bin = (name: string): string => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url))

/** Every package the CLI loads, with the folders its build compiles (TypeScript, AssemblyScript, the addon). */
const packageSources: ReadonlyArray<readonly [pkg: string, folders: ReadonlyArray<string>]> = [
  ["core", ["src"]],
  ["backends", ["src", "native"]],
  ["wasm", ["src", "assembly"]],
  ["participant", ["src"]],
  ["coordinator", ["src"]],
  ["cli", ["src"]]
]

/** Files the packages' builds leave out (tsconfig.build.json's `exclude`): editing them leaves a build current. */
const testOnly = (name: string, isDirectory: boolean): boolean =>
  isDirectory
    ? name === "testing"
    : name.endsWith(".test.ts") || name.startsWith("test-") || name.endsWith("Fixture.ts") || name === "TestSupport.ts" || name === "TestData.ts"

const newestBelow = (folder: string): number => {
  let newest = 0
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    if (testOnly(entry.name, entry.isDirectory())) continue
    const path = join(folder, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestBelow(path) : statSync(path).mtimeMs)
  }
  return newest
}

const lastBuild = (root: string, pkg: string): number | undefined => {
  try {
    return statSync(join(root, pkg, "dist", ".tsbuildinfo")).mtimeMs
  } catch {
    return undefined
  }
}

/** True when every package under `root` (the repository) was compiled after the last change to its sources. */
export const buildIsCurrent = (root: string = repository): boolean =>
  packageSources.every(([pkg, folders]) => {
    const built = lastBuild(root, pkg)
    return built !== undefined && folders.every((folder) => newestBelow(join(root, pkg, folder)) <= built)
  })

/** The path of the `jointly` bin to spawn; see the module's comment for the choice. */
export const cliPath = (): string => bin(!fromSources || buildIsCurrent() ? "jointly.mjs" : "jointly-dev.mjs")
