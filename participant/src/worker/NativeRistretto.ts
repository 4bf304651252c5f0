/**
 * Node-only: the joint-query group kernels (`GroupKernels` in core's joint-query/Compute.ts) on libsodium's
 * native build, through the small node-api addon in ./native (built by `npm run build -w participant`). The same
 * libsodium ristretto255 code as the WASM build, so every output is byte-identical (NativeRistretto.test.ts);
 * measured on this project's 2-core machine under load: see examples/bench/psi.ts and the `psi` bench suite.
 *
 * `install()` is called by the worker job registry (jobs.ts) and by QueryServices.ts on the main thread; when the
 * addon is not built or the system has no libsodium, it leaves the WASM kernels in place and says why.
 * JOINTLY_QUERY_KERNELS=wasm keeps the WASM kernels (the bench's same-run baseline; worker threads inherit it).
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Compute from "@jointly/core/protocols/joint-query/Compute.ts"
import * as Group from "@jointly/core/protocols/joint-query/Group.ts"

interface Addon {
  hashBlind(prefix: Uint8Array, ids: Uint8Array, ends: Uint32Array, scalar: Uint8Array, out: Uint8Array): number
  blind(points: Uint8Array, scalar: Uint8Array, out: Uint8Array): number
  validate(points: Uint8Array): number
}

export const addonPath = fileURLToPath(new URL("../../dist/native/ristretto.node", import.meta.url))

let loaded: { readonly kernels?: Compute.GroupKernels; readonly problem?: string } | undefined

const checkPoints = (points: Uint8Array) => {
  if (points.length % Group.POINT_BYTES !== 0) throw new Group.InvalidPointError(Math.floor(points.length / Group.POINT_BYTES))
}

const make = (addon: Addon): Compute.GroupKernels => ({
  name: "libsodium native",
  ready: async () => {},
  hashBlind: (domain, ids, scalar) => {
    const prefix = new Uint8Array(domain.length + 1) // Hg(id) = from_hash(SHA-512(domain ‖ 0x00 ‖ id)), Group.ts
    prefix.set(domain)
    const out = new Uint8Array(ids.ends.length * Group.POINT_BYTES)
    const failed = addon.hashBlind(prefix, ids.bytes, ids.ends, scalar, out)
    if (failed >= 0) throw new Error(`hash-blind failed at element ${failed} (zero scalar?)`)
    return out
  },
  blind: (points, scalar) => {
    checkPoints(points)
    const out = new Uint8Array(points.length)
    const failed = addon.blind(points, scalar, out)
    if (failed >= 0) throw new Group.InvalidPointError(failed)
    return out
  },
  validate: (points) => {
    checkPoints(points)
    const failed = addon.validate(points)
    if (failed >= 0) throw new Group.InvalidPointError(failed)
  }
})

/** The native kernels, or why there are none (loaded once per thread). */
export const load = (): { readonly kernels?: Compute.GroupKernels; readonly problem?: string } => {
  if (loaded !== undefined) return loaded
  if (!existsSync(addonPath)) return { problem: "addon not built (npm run build -w participant)" }
  try {
    const module = { exports: {} as Addon }
    process.dlopen(module, addonPath)
    loaded = { kernels: make(module.exports) }
  } catch (error) {
    loaded = { problem: error instanceof Error ? error.message : String(error) }
  }
  return loaded
}

/** Makes this thread's joint-query compute native when it can; returns the kernels now in use. */
export const install = (): Compute.GroupKernels => {
  if (process.env.JOINTLY_QUERY_KERNELS === "wasm") return Compute.kernels()
  const { kernels } = load()
  if (kernels !== undefined) Compute.useKernels(kernels)
  return Compute.kernels()
}
