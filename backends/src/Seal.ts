/**
 * What the node-seal services (SealCkks.ts, SealBfv.ts) share: SEAL objects owned by an Effect scope, and the
 * check of SEAL's serialization header that runs before SEAL parses untrusted bytes (the WASM build aborts
 * instead of throwing on some malformed inputs), and the loading of one SEAL build per service instance.
 */
import { Effect, type Scope } from "effect"
import type { SEALLibrary } from "node-seal/implementation/seal"

/** A SEAL object released with the scope. */
export const own = <A extends { delete: () => void }>(make: () => A | void): Effect.Effect<A, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => make() as A),
    (a) => Effect.sync(() => a.delete())
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

/**
 * A SEAL service's typed-error helpers over its own error class: `error` keeps a thrown value's message, and
 * `checkHeader` refuses bytes whose SEAL header is wrong with the given reason, before SEAL parses them.
 */
export const errorsOf = <R extends string, E>(make: (fields: { readonly reason: R; readonly detail: string }) => E) => {
  const error = (reason: R, detail: unknown): E => make({ reason, detail: detail instanceof Error ? detail.message : String(detail) })
  const checkHeader = (bytes: Uint8Array, what: string, reason: R): Effect.Effect<void, E> => {
    const problem = headerProblem(bytes, what)
    return problem === undefined ? Effect.void : Effect.fail(error(reason, problem))
  }
  return { error, checkHeader }
}

/**
 * One service instance's SEAL build, loaded on first use: `run(fail, body)` runs `body` in a fresh scope; a
 * failure to load and a SEAL exception (node-seal throws: a defect) become `fail(defect)`, and a WASM abort also
 * drops the module and whatever `onDrop` clears (contexts built on it), so the next call loads a fresh one.
 */
export const loader = (load: () => Promise<SEALLibrary>, onDrop: () => void) => {
  let library: Promise<SEALLibrary> | undefined
  return <A, E>(unavailable: (cause: unknown) => E, fail: (defect: unknown) => E, body: (s: SEALLibrary) => Effect.Effect<A, E, Scope.Scope>): Effect.Effect<A, E> =>
    Effect.scoped(
      Effect.flatMap(Effect.tryPromise({ try: () => (library ??= load()), catch: unavailable }), (s) =>
        Effect.catchDefect(body(s), (defect) => {
          if (defect instanceof WebAssembly.RuntimeError) {
            library = undefined
            onDrop()
          }
          return Effect.fail(fail(defect))
        }))
    )
}

/** Whole-content equality of byte strings (a word at a time where both views are aligned). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  let i = 0
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = a.length >>> 2
    const wa = new Uint32Array(a.buffer, a.byteOffset, words)
    const wb = new Uint32Array(b.buffer, b.byteOffset, words)
    for (; i < words; i++) if (wa[i] !== wb[i]) return false
    i = words << 2
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * SEAL objects kept loaded across calls under a key of byte strings compared whole (so a caller only ever gets the
 * object made from exactly its bytes) within one SEAL context. A call holds its entry until its scope closes; an
 * entry is deleted only when no call holds it, oldest unused first, past `capacity`. `clear` forgets every entry
 * without deleting it, for when the module that owned them was dropped.
 */
export const held = <V extends { delete: () => void }>(capacity: number) => {
  const entries: Array<{ readonly context: object; readonly key: ReadonlyArray<Uint8Array>; readonly value: V; users: number }> = []
  const matches = (key: ReadonlyArray<Uint8Array>, other: ReadonlyArray<Uint8Array>) => key.length === other.length && key.every((k, i) => sameBytes(k, other[i]!))
  const acquire = <E, R>(context: object, key: ReadonlyArray<Uint8Array>, load: Effect.Effect<V, E, R>): Effect.Effect<V, E, R | Scope.Scope> =>
    Effect.gen(function*() {
      let entry = entries.find((e) => e.context === context && matches(e.key, key))
      if (entry === undefined) {
        entry = { context, key: key.map((k) => k.slice()), value: yield* load, users: 0 }
        entries.push(entry)
      } else {
        entries.splice(entries.indexOf(entry), 1)
        entries.push(entry) // most recent last
      }
      const mine = entry
      mine.users++
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          mine.users--
          for (let i = 0; entries.length > capacity && i < entries.length;) {
            const e = entries[i]!
            if (e.users > 0) i++
            else {
              entries.splice(i, 1)
              e.value.delete()
            }
          }
        }))
      return mine.value
    })
  return { acquire, clear: () => void (entries.length = 0) }
}
