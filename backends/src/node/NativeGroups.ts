/**
 * The joint-query group kernels (`GroupKernels` in core's joint-query/Compute.ts) on native code, through the
 * small node-api addon in ../native (built by `npm run build -w backends`):
 *   - x25519: OpenSSL's X25519 through its public EVP API, resolved from the `node` process itself (x25519.c);
 *   - ristretto255: libsodium's shared library, the same code as its WASM build (ristretto.c).
 * Both are byte-identical to the WASM kernels of Group.ts (the group conformance suite); speed: `npm run bench
 * -- psi`.
 *
 * The Node backends (NodeBackends.ts) compose these where `load()` found them; a group whose library is missing
 * (or an addon that is not built) keeps its WASM kernels, and `load()` says why.
 */
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import * as Group from "@jointly/core/internal/protocols/joint-query/Group"
import * as NativeAddon from "./NativeAddon.ts"

type HashBlind = (prefix: Uint8Array, ids: Uint8Array, ends: Uint32Array, scalar: Uint8Array, out: Uint8Array) => number
type Blind = (points: Uint8Array, scalar: Uint8Array, out: Uint8Array) => number

interface Addon {
  hashBlind?: HashBlind
  blind?: Blind
  validate?: (points: Uint8Array) => number
  x25519HashBlind?: HashBlind
  x25519Blind?: Blind
  ristretto255Problem?: string
  x25519Problem?: string
}

export const addonPath = NativeAddon.addonPath

export interface Loaded {
  readonly kernels: Partial<Record<Group.GroupName, Compute.GroupKernels>>
  /** Why a group has no native kernels. */
  readonly problems: Partial<Record<Group.GroupName, string>>
}

// Built once per thread from the addon NativeAddon opened.
let loaded: Loaded | undefined

const checkPoints = (group: Group.GroupName, points: Uint8Array) => {
  if (points.length % Group.POINT_BYTES !== 0) throw new Group.InvalidPointError(Math.floor(points.length / Group.POINT_BYTES), group)
}

/** Kernels over the addon's two batch entry points of one group (the chunk loops run in C). */
const make = (group: Group.GroupName, name: string, hashBlind: HashBlind, blind: Blind, validate: (points: Uint8Array) => void): Compute.GroupKernels => ({
  group,
  name,
  ready: async () => {},
  hashBlind: (domain, ids, scalar) => {
    const prefix = new Uint8Array(domain.length + 1) // Hg(id) hashes domain ‖ 0x00 ‖ id, Group.ts
    prefix.set(domain)
    const out = new Uint8Array(ids.ends.length * Group.POINT_BYTES)
    const failed = hashBlind(prefix, ids.bytes, ids.ends, scalar, out)
    if (failed >= 0) throw new Error(`hash-blind failed at element ${failed} (zero scalar or small-order hash)`)
    return out
  },
  blind: (points, scalar) => {
    checkPoints(group, points)
    const out = new Uint8Array(points.length)
    const failed = blind(points, scalar, out)
    if (failed >= 0) throw new Group.InvalidPointError(failed, group)
    return out
  },
  validate
})

/** The native kernels of each group that has them, and why the others do not (loaded once per thread). */
export const load = (): Loaded => {
  if (loaded !== undefined) return loaded
  const opened = NativeAddon.open()
  if (opened.problem !== undefined) return { kernels: {}, problems: { x25519: opened.problem, ristretto255: opened.problem } }
  const addon = opened.exports as Addon
  const kernels: Loaded["kernels"] = {}
  if (addon.x25519HashBlind && addon.x25519Blind) {
    // Validation is byte comparisons only (canonical, not small-order): Group.ts' own code, no WASM involved.
    kernels.x25519 = make("x25519", "OpenSSL native", addon.x25519HashBlind, addon.x25519Blind, Group.x25519.validate)
  }
  if (addon.hashBlind && addon.blind && addon.validate) {
    const validate = addon.validate
    kernels.ristretto255 = make("ristretto255", "libsodium native", addon.hashBlind, addon.blind, (points) => {
      checkPoints("ristretto255", points)
      const failed = validate(points)
      if (failed >= 0) throw new Group.InvalidPointError(failed, "ristretto255")
    })
  }
  const problems: Loaded["problems"] = {}
  if (addon.x25519Problem) problems.x25519 = addon.x25519Problem
  if (addon.ristretto255Problem) problems.ristretto255 = addon.ristretto255Problem
  loaded = { kernels, problems }
  return loaded
}
