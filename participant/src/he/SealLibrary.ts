/**
 * One node-seal 6.0.3 module per thread (DESIGN.md §6), shared by the CKKS (`SealCkks.ts`) and BFV
 * (`SealBfv.ts`) services, and the rules both follow (STYLE.md):
 *   - every SEAL object is created inside an Effect scope and `.delete()`d when the scope closes (`own`);
 *   - untrusted bytes are checked against SEAL's 16-byte header before SEAL parses them (`headerProblem`): the
 *     WASM build aborts instead of throwing on some malformed inputs;
 *   - an aborted module is dropped, with every cache built on it (`onDrop`), so the next call loads a fresh one.
 */
import { Effect, Scope } from "effect"
import SEAL from "node-seal/throws_wasm_node_es.js"
import type { SEALLibrary } from "node-seal/implementation/seal"

let library: Promise<SEALLibrary> | undefined
const dropHooks = new Set<() => void>()

export const load = (): Promise<SEALLibrary> => (library ??= SEAL())

/** Registers what must go with an aborted module (contexts and other objects cached across calls). */
export const onDrop = (hook: () => void): void => void dropHooks.add(hook)

const drop = () => {
  library = undefined
  for (const hook of dropHooks) hook()
}

/** A SEAL object released with the scope. */
export const own = <A extends { delete: () => void }>(make: () => A | void): Effect.Effect<A, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => make() as A),
    (a) => Effect.sync(() => a.delete())
  )

/**
 * Runs `body` with the library in a fresh scope. A failure to load becomes `fail("Unavailable", …)`, a SEAL
 * exception (a defect: node-seal throws) `fail("Defect", …)`; a WASM abort also drops the module.
 */
export const run = <A, E>(
  fail: (kind: "Unavailable" | "Defect", detail: unknown) => E,
  body: (s: SEALLibrary) => Effect.Effect<A, E, Scope.Scope>
): Effect.Effect<A, E> =>
  Effect.scoped(
    Effect.flatMap(Effect.tryPromise({ try: load, catch: (e) => fail("Unavailable", e) }), (s) =>
      Effect.catchDefect(body(s), (defect) => {
        if (defect instanceof WebAssembly.RuntimeError) drop()
        return Effect.fail(fail("Defect", defect))
      }))
  )

/**
 * What is wrong with bytes that claim to be SEAL-serialized, or undefined. SEAL's SEALHeader: u16 magic 0xA15E,
 * u8 header size 0x10, u8 major 4 … u8 minor, u8 compression (0 none, 1 zlib, 2 zstd), u16 reserved, u64 total size.
 */
export const headerProblem = (bytes: Uint8Array, what: string): string | undefined => {
  if (bytes.length < 16) return `${what}: ${bytes.length} bytes is shorter than SEAL's header`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint16(0, true) !== 0xa15e || bytes[2] !== 0x10) return `${what}: not SEAL-serialized bytes`
  if (bytes[4]! > 2) return `${what}: unknown compression mode ${bytes[4]}`
  if (view.getBigUint64(8, true) !== BigInt(bytes.length)) return `${what}: header declares ${view.getBigUint64(8, true)} bytes, got ${bytes.length}`
  return undefined
}

export type { SEALLibrary }
