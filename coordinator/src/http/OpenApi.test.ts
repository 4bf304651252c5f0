/**
 * The OpenAPI document against the server it describes. Both come from one declaration (core/src/api/Api.ts);
 * this test holds them together from the outside: the document served at `GET /api/openapi.json` names every
 * declared route with its access rule and security, and for each request body the document (read back through
 * Effect's JSON Schema reader, not the Schemas it was generated from) and the server give the same verdict.
 * The server runs on a real node:http port over stub parts that accept anything well formed, so only decoding
 * can refuse; callers sign in for real (EIP-4361).
 */
import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { getBytes, Wallet } from "ethers"
import { type JsonSchema, Schema, SchemaRepresentation } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { routes } from "@jointly/core/internal/api/Api"
import * as ApiClient from "@jointly/core/internal/api/Client"
import { taskId, type TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import * as Rejections from "../limits/Rejections.ts"
import * as Roles from "./Roles.ts"
import * as Server from "./Server.ts"
import * as Sessions from "./Sessions.ts"

type Doc = {
  paths: Record<string, Record<string, { security?: unknown; "x-jointly-access"?: string; requestBody?: { content: { "application/json": { schema: JsonSchema.JsonSchema } } } }>>
  components: { schemas: JsonSchema.Definitions }
}

const server = createServer()
let url: string
let token: string
let attached: { close: () => Promise<void> }
const member = Wallet.createRandom()

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const stub = new Proxy({}, { get: () => async () => undefined }) as never
  attached = Server.attach({
    server,
    store: { get: (id: string) => Effect.succeed({ id, status: "Submitted", spec: {} }), openCount: () => Effect.succeed(0) } as never,
    scheduler: { submit: () => Effect.succeed(`0x${"ab".repeat(32)}`), cancel: () => Effect.succeed("Cancelled") } as never,
    models: { predict: () => Effect.succeed([]), get: () => Effect.succeed({ id: "m", format: "linear", taskId: null, createdAt: "", artifact: {} }) } as never,
    artifacts: { putOwned: () => Effect.succeed("bafkrei") } as never,
    parts: {
      chain: { chainId: "31337", coordinator: member.address, registry: member.address, ledger: member.address },
      socketNonce: () => ({ nonce: "0x00", expiresAt: 0 }),
      sessions: Sessions.make({ expected: () => ({ domain: new URL(url).host, uri: url, chainId: 31337 }) }),
      roles: Roles.make({ orgOf: () => Effect.succeed({ state: "Audited", name: "ACME" }), isSupervisor: () => Effect.succeed(false), isOperator: () => Effect.succeed(false) }),
      policy: { authorize: () => Effect.succeed(undefined), modelGrant: () => Effect.undefined, countUse: () => Effect.void, predictions: () => Effect.succeed([]) },
      dashboard: stub,
      humans: { decide: () => Effect.void, list: () => [] } as never,
      relaySignIn: async () => undefined,
      bus: { publish: () => {}, subscribe: () => () => {} },
      rejections: Rejections.make()
    }
  })
  const client = ApiClient.make({ url, signer: member })
  await client.signIn()
  token = client.token()!
})

afterAll(async () => {
  await attached.close()
  await new Promise((r) => server.close(r))
})

const served = async () => (await (await fetch(`${url}/api/openapi.json`)).json()) as Doc
const template = (path: string) => path.replace(/:(\w+)/g, "{$1}")

/** A validator built from the served document alone (its refs rewritten to the JSON Schema `$defs` form). */
const validator = (schema: JsonSchema.JsonSchema, components: JsonSchema.Definitions) => {
  const rewrite = <T>(x: T): T => JSON.parse(JSON.stringify(x).replaceAll("#/components/schemas/", "#/$defs/"))
  const decoder = SchemaRepresentation.fromJsonSchemaDocument({ dialect: "draft-2020-12", schema: rewrite(schema), definitions: rewrite(components) }, { patterns: "apply" })
  return (u: unknown) => Schema.decodeUnknownExit(decoder as Schema.Codec<unknown, unknown>)(u)._tag === "Success"
}

describe("OpenAPI document", () => {
  it("documents every declared route once, with its access rule, and bearer security exactly on the guarded ones", async () => {
    const doc = await served()
    const declared = routes()
    expect(Object.values(doc.paths).flatMap((ops) => Object.keys(ops))).toHaveLength(declared.length)
    for (const r of declared) {
      const op = doc.paths[template(r.path)]?.[r.method.toLowerCase()]
      expect(op, `${r.method} ${r.path} is not in the document`).toBeDefined()
      expect(op!["x-jointly-access"]).toBe(r.rule!._tag)
      expect(op!.security, `${r.method} ${r.path} security`).toEqual(r.guarded ? [{ bearer: [] }] : [])
    }
  })

  it("accepts exactly the request bodies the server accepts", async () => {
    const wallet = Wallet.createRandom()
    const spec = {
      kind: "statistics.horizontal",
      initiator: member.address,
      nonce: "n1",
      parties: [{ participant: wallet.address, dataset: "pima" }, { participant: Wallet.createRandom().address, dataset: "pima" }],
      params: { columns: ["glucose"], statistics: ["mean"] }
    } as unknown as TaskSpec
    const signature = await member.signMessage(getBytes(taskId(spec)))
    const id = `0x${"ab".repeat(32)}`
    const bodies: Record<string, { readonly path: string; readonly cases: ReadonlyArray<[unknown, boolean]> }> = {
      "auth.challenge": { path: "/api/auth/challenge", cases: [[{ address: wallet.address }, true], [{ address: "0x12" }, false], [{}, false]] },
      "auth.signIn": { path: "/api/auth/sign-in", cases: [[{ message: 7, signature: "0x00" }, false], [{ message: "m" }, false], [{ message: "m".repeat(4001), signature: "0x00" }, false]] },
      "auth.tokenSignIn": {
        path: "/api/auth/token-sign-in",
        cases: [[{ message: "m", mac: "0xabcd" }, true], [{ message: "m", mac: "abcd" }, false], [{ mac: "0xabcd" }, false], [{ message: "m".repeat(4001), mac: "0x00" }, false]]
      },
      "tasks.submit": {
        path: "/api/tasks",
        cases: [
          [{ spec, signature }, true],
          [{ spec: { ...spec, name: null, roundTimeoutMs: 5000 }, signature }, true],
          [{ spec: { ...spec, roundTimeoutMs: 5000, recipients: [wallet.address] }, signature }, true],
          [{ spec: { ...spec, recipients: [] }, signature }, false],
          [{ spec }, false],
          [{ spec, signature: "zz" }, false],
          [{ spec: { ...spec, initiator: "0x1234" }, signature }, false],
          [{ spec: { ...spec, parties: [] }, signature }, false],
          [{ spec: { ...spec, consentTimeoutMs: 0 }, signature }, false],
          [{ spec: { ...spec, consentTimeoutMs: 1.5 }, signature }, false],
          [{ spec: { ...spec, kind: 7 }, signature }, false]
        ]
      },
      "tasks.cancel": { path: `/api/tasks/${id}/cancel`, cases: [[{}, true], [{ reason: "done" }, true], [{ reason: null }, true], [{ reason: 3 }, false]] },
      "models.predict": {
        path: `/api/models/0x${"cd".repeat(32)}/predict`,
        cases: [[{ rows: [[1, 2.5]] }, true], [{ rows: [{ glucose: 120 }] }, true], [{ rows: "x" }, false], [{ rows: [["a"]] }, false], [{}, false]]
      },
      "governance.decideConsent": {
        path: `/api/consents/${id}/${wallet.address}`,
        cases: [[{ approve: true, reason: "ok", mac: "0xabcd" }, true], [{ approve: "yes", reason: "ok", mac: "0xabcd" }, false], [{ approve: true, reason: "ok", mac: "abcd" }, false], [{ approve: false, reason: "r".repeat(1001), mac: "0x" }, false]]
      },
      "artifacts.put": { path: "/api/artifacts", cases: [[{ codec: "raw", base64: "AAEC" }, true], [{ codec: "zip", base64: "AAEC" }, false], [{ codec: "json", base64: "A".repeat(700_001) }, false]] }
    }
    const doc = await served()
    const withBody = routes().filter((r) => doc.paths[template(r.path)]![r.method.toLowerCase()]!.requestBody !== undefined)
    expect(withBody.map((r) => `${r.group}.${r.name}`).sort()).toEqual(Object.keys(bodies).sort())
    for (const r of withBody) {
      const schema = doc.paths[template(r.path)]![r.method.toLowerCase()]!.requestBody!.content["application/json"].schema
      const documentAccepts = validator(schema, doc.components.schemas)
      const { path, cases } = bodies[`${r.group}.${r.name}`]!
      for (const [body, valid] of cases) {
        const response = await fetch(`${url}${path}`, { method: r.method, headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) })
        const answer = (await response.json()) as { _tag?: string }
        // The server refuses a body it cannot decode with Malformed (400); anything else got past decoding.
        const serverAccepts = !(response.status === 400 && answer._tag === "Malformed")
        expect({ name: r.name, body: JSON.stringify(body).slice(-90), server: serverAccepts, document: documentAccepts(body) })
          .toEqual({ name: r.name, body: JSON.stringify(body).slice(-90), server: valid, document: valid })
      }
    }
  })
})
