/**
 * Property-based fuzzing (fast-check) of every Schema a message or request body is decoded with at an edge
 * (issue 17): the socket.io wire in both directions, the cluster bridge between coordinator instances, and every
 * HTTP endpoint's payload, path parameters and query, found by reflecting the API declaration (a new endpoint is
 * fuzzed without touching this file). Each Schema gets 10,000 inputs: valid values (derived from the Schema) mutated
 * at a random path — replaced by any JS value, deleted, given an extra key, stringified — and wholly random values.
 *
 * Every input must be answered by the decoder, never thrown at: a failure is a typed SchemaError, a success is a
 * value the Schema itself encodes and decodes back to the same value (so what passed the edge is what the code
 * after it is typed for), and the input is never modified by decoding it.
 */
import { Arbitrary, Cause, Effect, Exit, Schema } from "effect"
import { HttpApi } from "effect/http-api"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Api } from "@jointly/core/internal/api/Api"
import * as M from "@jointly/core/internal/wire/Messages"
import * as Bridge from "../cluster/Bridge.ts"

const RUNS = 10_000

const wire: Record<string, Schema.Top> = {
  TaskOffer: M.TaskOffer,
  TaskConsent: M.TaskConsent,
  AwaitingHuman: M.AwaitingHuman,
  HumanDecision: M.HumanDecision,
  HumanAck: M.HumanAck,
  DashboardSignIn: M.DashboardSignIn,
  DashboardSignInAck: M.DashboardSignInAck,
  StageRequest: M.StageRequest,
  StageReply: M.StageReply,
  TaskEnded: M.TaskEnded,
  WireError: M.WireError,
  HandshakeAuth: M.HandshakeAuth,
  "cluster bridge message": Bridge.Message
}

/** Every endpoint's payload (JSON bodies), path parameters and query Schemas, by endpoint name. */
const http = (): Record<string, Schema.Top> => {
  const out: Record<string, Schema.Top> = {}
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ group, endpoint }) => {
      const name = `${group.identifier}.${endpoint.identifier}`
      for (const [contentType, payload] of endpoint.payload) {
        payload.schemas.forEach((schema, i) => {
          if (payload.encoding._tag !== "Stream") out[`${name} body (${contentType}${i === 0 ? "" : ` #${i}`})`] = schema
        })
      }
      if (endpoint.params !== undefined) out[`${name} path`] = endpoint.params
      if (endpoint.query !== undefined) out[`${name} query`] = endpoint.query
    }
  })
  return out
}

/** Valid encoded inputs of `schema`: derived from it where the derivation can reach them. */
const seedsOf = (schema: Schema.Top): ReadonlyArray<unknown> => {
  const sampled = Effect.runSync(Effect.result(Arbitrary.sampleEffect(Arbitrary.schema(schema as never), { count: 32, size: 8, maxDiscards: 5_000, seed: 17 }))
    .pipe(Effect.catchDefect(() => Effect.succeed(undefined))))
  if (sampled === undefined || sampled._tag === "Failure") return []
  const encode = Schema.encodeUnknownExit(schema as never)
  return sampled.success.flatMap((value) => {
    const encoded = encode(value)
    return Exit.isSuccess(encoded) ? [JSON.parse(JSON.stringify(encoded.value)) as unknown] : []
  })
}

type Path = ReadonlyArray<string | number>

const pathsOf = (value: unknown, at: Path = []): Array<Path> => {
  const here = [at]
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => pathsOf(v, [...at, i]))]
  if (value !== null && typeof value === "object") return [...here, ...Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...at, k]))]
  return here
}

const clone = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)))

/** `value` with the node at `path` replaced (`replace`) or removed (`remove`). */
const edit = (value: unknown, path: Path, change: { readonly replace: unknown } | "remove"): unknown => {
  if (path.length === 0) return change === "remove" ? undefined : change.replace
  const root = clone(value) as Record<string | number, unknown>
  let node = root
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>
  const last = path[path.length - 1]!
  if (change === "remove") {
    if (Array.isArray(node)) node.splice(Number(last), 1)
    else delete node[last]
  } else node[last] = change.replace
  return root
}

/** Hostile leaves: odd numbers, huge and control-laden strings, prototype keys, deep nesting, any JS value. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true }),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, Number.MAX_SAFE_INTEGER + 2, 1e308, "", "0x", "0x" + "g".repeat(64), "\u0000", "__proto__", null, undefined),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.integer({ min: 1, max: 20_000 }).map((n) => "a".repeat(n)),
  fc.constant(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}')),
  fc.integer({ min: 1, max: 300 }).map((depth) => {
    let v: unknown = 1
    for (let i = 0; i < depth; i++) v = [v]
    return v
  })
)

const inputs = (seeds: ReadonlyArray<unknown>): fc.Arbitrary<unknown> => {
  const random = fc.oneof(hostile, fc.jsonValue())
  if (seeds.length === 0) return random
  const seed = fc.constantFrom(...seeds)
  const mutated = seed.chain((s) => {
    const paths = pathsOf(s)
    const at = fc.constantFrom(...paths)
    // An extra key goes into an object (the root when there is no other).
    const objectPaths = paths.filter((p) => {
      const node = p.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], s)
      return node !== null && typeof node === "object" && !Array.isArray(node)
    })
    const objects = objectPaths.length > 0 ? fc.constantFrom(...objectPaths) : fc.constant<Path>([])
    return fc.oneof(
      { weight: 4, arbitrary: fc.tuple(at, hostile).map(([p, v]) => edit(s, p, { replace: v })) },
      { weight: 2, arbitrary: at.map((p) => edit(s, p, "remove")) },
      { weight: 1, arbitrary: fc.tuple(objects, fc.string({ maxLength: 12 }), hostile).map(([p, k, v]) => edit(s, [...p, k], { replace: v })) },
      { weight: 1, arbitrary: fc.tuple(at, fc.jsonValue()).map(([p, v]) => edit(s, p, { replace: v })) },
      { weight: 1, arbitrary: fc.constant(JSON.stringify(s)) }
    )
  })
  return fc.oneof({ weight: 1, arbitrary: seed }, { weight: 6, arbitrary: mutated }, { weight: 2, arbitrary: random })
}

/** A fingerprint of the input, to see that decoding left it as it was (undefined for what JSON cannot hold). */
const fingerprint = (value: unknown): string | undefined => {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))
  } catch {
    return undefined
  }
}

const fuzz = (name: string, schema: Schema.Top) =>
  it(`${name}: ${RUNS} inputs, each decoded to a value or a typed SchemaError`, () => {
    type Coder = (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>
    const decode = Schema.decodeUnknownExit(schema as never) as Coder
    const encode = Schema.encodeUnknownExit(schema as never) as Coder
    const seeds = seedsOf(schema)
    let accepted = 0
    fc.assert(
      fc.property(inputs(seeds), (input) => {
        const before = fingerprint(input)
        const exit = decode(input)
        if (before !== undefined) expect(fingerprint(input)).toBe(before)
        if (Exit.isFailure(exit)) {
          expect(Cause.hasDies(exit.cause), String(Cause.squash(exit.cause))).toBe(false)
          expect(Schema.isSchemaError(Cause.squash(exit.cause))).toBe(true)
          return
        }
        accepted++
        const encoded = encode(exit.value)
        if (!Exit.isSuccess(encoded)) throw new Error(`a decoded value does not encode: ${String(encoded.cause)}`)
        const again = decode(encoded.value)
        if (!Exit.isSuccess(again)) throw new Error(`an encoded value does not decode again: ${String(again.cause)}`)
        expect(again.value).toEqual(exit.value)
      }),
      { numRuns: RUNS, seed: 1717, endOnFailure: true }
    )
    // The valid seeds pass (when the Schema could be sampled): the fuzzer mutates real messages, not noise.
    if (seeds.length > 0) expect(accepted).toBeGreaterThan(0)
  }, 120_000)

describe("wire and cluster Schemas under fuzzing", () => {
  for (const [name, schema] of Object.entries(wire)) fuzz(name, schema)
})

describe("HTTP request Schemas under fuzzing (every endpoint, by reflection)", () => {
  const schemas = http()
  it("finds the API's bodies, path parameters and queries", () => {
    expect(Object.keys(schemas).filter((k) => k.includes(" body")).length).toBeGreaterThanOrEqual(8)
  })
  for (const [name, schema] of Object.entries(schemas)) fuzz(name, schema)
})
