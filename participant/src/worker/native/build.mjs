/**
 * Compiles ristretto.c into `participant/dist/native/ristretto.node` with the machine's C compiler against
 * Node's own headers (node-api, so one build serves every Node ≥ 18). Run by `npm run build -w participant`.
 * Never fails the build: without a compiler, headers or libsodium the participant keeps the WASM group.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
export const output = resolve(here, "../../../dist/native/ristretto.node")

export const build = () => {
  const headers = [resolve(dirname(process.execPath), "../include/node"), process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, "include/node")]
    .filter((dir) => dir && existsSync(join(dir, "node_api.h")))
  if (headers.length === 0) throw new Error("Node's C headers (node_api.h) were not found")
  mkdirSync(dirname(output), { recursive: true })
  const temporary = `${output}.${process.pid}.tmp`
  try {
    execFileSync(process.env.CC ?? "cc", ["-O2", "-shared", "-fPIC", "-fvisibility=hidden", `-I${headers[0]}`, join(here, "ristretto.c"), "-o", temporary, "-ldl"], { stdio: ["ignore", "ignore", "pipe"] })
    process.dlopen({ exports: {} }, temporary) // loads libsodium: fails here, not in a worker, when it is missing
    renameSync(temporary, output)
  } finally {
    rmSync(temporary, { force: true })
  }
  return output
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.error(`native ristretto255: built ${build()}`)
  } catch (error) {
    console.error(`native ristretto255 not built, the WASM group stays in use: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`)
  }
}
