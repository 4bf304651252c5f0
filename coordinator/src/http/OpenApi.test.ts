/**
 * The OpenAPI document against the server it describes: every route `Api.ts` answers is documented (and every
 * documented operation answered), and for each request body the document and the server give the same verdict
 * on the same bodies — the document is validated as served, through Effect's JSON Schema reader, not through
 * the Schemas it was generated from.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { Readable } from "node:stream"
import { getBytes, Wallet } from "ethers"
import { type JsonSchema, Schema, SchemaRepresentation } from "effect"
import { describe, expect, it } from "vitest"
import { taskId, type TaskSpec } from "@jointly/core/task/TaskSpec.ts"
import * as Dashboard from "../dashboard/Dashboard.ts"
import * as Api from "./Api.ts"
import * as OpenApi from "./OpenApi.ts"

const examplePath = (e: OpenApi.Endpoint) => e.path.replace(/\{(\w+)\}/g, (_m, n: string) => e.params![n]!.example)

/** The API over stub services that accept anything well-formed, so only body decoding can refuse. */
const api = Api.make({
  store: { get: async (id: string) => ({ id, status: "Submitted" }) },
  scheduler: { submit: async () => `0x${"ab".repeat(32)}`, cancel: async () => "Cancelled" },
  models: { predict: async () => [] },
  artifacts: { put: async () => "bafkrei" },
  routes: Dashboard.make({ humans: { decide: async () => ({ ok: true }) } } as never).routes
} as never)

const call = async (method: string, path: string, body?: unknown) => {
  const req = Object.assign(Readable.from(body === undefined ? [] : [Buffer.from(JSON.stringify(body))]), { method, url: path }) as unknown as IncomingMessage
  let status = 0
  let text = ""
  const res = { writeHead: (s: number) => void (status = s), end: (t: string) => void (text = t) } as unknown as ServerResponse
  await api(req, res)
  return { status, body: JSON.parse(text) as Record<string, unknown> }
}

const served = async () => (await call("GET", "/api/openapi.json")).body as {
  paths: Record<string, Record<string, { requestBody?: { content: { "application/json": { schema: JsonSchema.JsonSchema } } } }>>
  components: { schemas: JsonSchema.Definitions }
}

/** A validator built from the served document alone (its refs rewritten to the JSON Schema `$defs` form). */
const validator = (schema: JsonSchema.JsonSchema, components: JsonSchema.Definitions) => {
  const rewrite = <T>(x: T): T => JSON.parse(JSON.stringify(x).replaceAll("#/components/schemas/", "#/$defs/"))
  const decoder = SchemaRepresentation.fromJsonSchemaDocument({ dialect: "draft-2020-12", schema: rewrite(schema), definitions: rewrite(components) }, { patterns: "apply" })
  return (u: unknown) => Schema.decodeUnknownExit(decoder as Schema.Codec<unknown, unknown>)(u)._tag === "Success"
}

describe("OpenAPI document", () => {
  it("documents every route the server answers, and the server answers every documented operation", async () => {
    const endpoints = Object.values(OpenApi.endpoints) as ReadonlyArray<OpenApi.Endpoint>
    for (const route of api.routes) {
      const documented = endpoints.filter((e) => e.method === route.method && route.pattern.test(examplePath(e)))
      expect(documented, `${route.method} ${route.pattern} is not in the document`).toHaveLength(1)
    }
    for (const e of endpoints) {
      expect(api.routes.some((r) => r.method === e.method && r.pattern.test(examplePath(e))), `${e.method} ${e.path} is not served`).toBe(true)
      for (const [name, p] of Object.entries(e.params ?? {})) expect(Schema.is(p.schema as Schema.Codec<unknown, unknown>)(p.example), `${e.path} {${name}}`).toBe(true)
    }
    const doc = await served()
    expect(Object.values(doc.paths).flatMap((ops) => Object.keys(ops))).toHaveLength(endpoints.length)
    expect(OpenApi.operationFor("POST", `/api/tasks/0x${"ab".repeat(32)}/cancel`)).toEqual({ name: "cancelTask", params: { id: `0x${"ab".repeat(32)}` } })
    expect(OpenApi.operationFor("GET", "/api/tasks/not-an-id")).toBeUndefined()
  })

  it("accepts exactly the request bodies the server accepts", async () => {
    const wallet = Wallet.createRandom()
    const spec = {
      kind: "statistics.horizontal",
      initiator: wallet.address,
      nonce: "n1",
      parties: [{ participant: Wallet.createRandom().address, dataset: "pima" }, { participant: Wallet.createRandom().address, dataset: "pima" }],
      params: { columns: ["glucose"], statistics: ["mean"] }
    } as unknown as TaskSpec
    const signature = await wallet.signMessage(getBytes(taskId(spec)))
    const bodies: Record<string, ReadonlyArray<[unknown, boolean]>> = {
      submitTask: [
        [{ spec, signature }, true],
        [{ spec: { ...spec, name: null, roundTimeoutMs: 5000 }, signature }, true],
        [{ spec }, false],
        [{ spec, signature: "zz" }, false],
        [{ spec: { ...spec, initiator: "0x1234" }, signature }, false],
        [{ spec: { ...spec, parties: [] }, signature }, false],
        [{ spec: { ...spec, consentTimeoutMs: 0 }, signature }, false],
        [{ spec: { ...spec, consentTimeoutMs: 1.5 }, signature }, false],
        [{ spec: { ...spec, kind: 7 }, signature }, false]
      ],
      cancelTask: [[{}, true], [{ reason: "done" }, true], [{ reason: null }, true], [{ reason: 3 }, false]],
      predict: [[{ rows: [[1, 2.5]] }, true], [{ rows: [{ glucose: 120 }] }, true], [{ rows: "x" }, false], [{ rows: [["a"]] }, false], [{}, false]],
      decideConsent: [[{ approve: true, reason: "ok", mac: "0xabcd" }, true], [{ approve: "yes", reason: "ok", mac: "0xabcd" }, false], [{ approve: true, reason: "ok", mac: "abcd" }, false], [{ approve: false, reason: "r".repeat(1001), mac: "0x" }, false]],
      putArtifact: [[{ codec: "raw", base64: "AAEC" }, true], [{ codec: "zip", base64: "AAEC" }, false], [{ codec: "json", base64: "A".repeat(700_001) }, false]]
    }
    const doc = await served()
    const withBody = Object.entries(OpenApi.endpoints).filter(([, e]) => "body" in e)
    expect(withBody.map(([name]) => name).sort()).toEqual(Object.keys(bodies).sort())
    for (const [name, e] of withBody) {
      const schema = doc.paths[e.path]![e.method.toLowerCase()]!.requestBody!.content["application/json"].schema
      const documentAccepts = validator(schema, doc.components.schemas)
      const path = examplePath(e as OpenApi.Endpoint)
      for (const [body, valid] of bodies[name]!) {
        const response = await call(e.method, path, body)
        const serverAccepts = response.status < 400
        expect({ name, body: JSON.stringify(body).slice(-90), server: serverAccepts, document: documentAccepts(body) })
          .toEqual({ name, body: JSON.stringify(body).slice(-90), server: valid, document: valid })
      }
    }
  })
})
