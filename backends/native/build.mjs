/**
 * Compiles ristretto.c, x25519.c, bignum.c, ifma.c, prg.c and napi_args.c into `backends/dist/native/groups.node` with the machine's C compiler
 * against Node's own node-api headers (one build serves every Node ≥ 18); libsodium and OpenSSL are resolved at
 * load time, never linked. Run by `npm run build -w backends` and, where the package is installed from the registry
 * or a tarball, by its `install` script (the binary depends on the platform, so the package ships the C sources,
 * not a build). Never fails the build or the install: without a compiler, headers, or both libsodium and OpenSSL's
 * symbols, the Node backends keep the WASM groups.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
export const output = resolve(here, "../dist/native/groups.node")

export const build = () => {
  const headers = [resolve(dirname(process.execPath), "../include/node"), process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, "include/node")]
    .filter((dir) => dir && existsSync(join(dir, "node_api.h")))
  if (headers.length === 0) throw new Error("Node's C headers (node_api.h) were not found")
  mkdirSync(dirname(output), { recursive: true })
  const temporary = `${output}.${process.pid}.tmp`
  try {
    execFileSync(process.env.CC ?? "cc", ["-O2", "-shared", "-fPIC", "-fvisibility=hidden", `-I${headers[0]}`, join(here, "ristretto.c"), join(here, "x25519.c"), join(here, "bignum.c"), join(here, "ifma.c"), join(here, "prg.c"), join(here, "napi_args.c"), "-o", temporary, "-ldl"], { stdio: ["ignore", "ignore", "pipe"] })
    process.dlopen({ exports: {} }, temporary) // resolves libsodium / OpenSSL: fails here, not in a worker, when both are missing
    renameSync(temporary, output)
  } finally {
    rmSync(temporary, { force: true })
  }
  return output
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.error(`native joint-query groups: built ${build()}`)
  } catch (error) {
    console.error(`native joint-query groups not built, the WASM groups stay in use: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`)
  }
}
