/**
 * The transport rule and certificate trust of Endpoint against a real HTTPS server on a loopback port, its
 * certificate from a CA this test makes: trusted with that CA, refused with another CA or Node's default store
 * (UntrustedCertificate naming the host, whichever of fetch or the WebSocket met it), and plain http to a host
 * that is not loopback refused before anything is sent.
 */
import { mkdtempSync } from "node:fs"
import { createServer, type Server } from "node:https"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import * as TestCa from "../testing/TestCa.ts"
import * as Endpoint from "./Endpoint.ts"
import { removeDir } from "../testing/TempDir.ts"

const dir = mkdtempSync(join(tmpdir(), "jointly-endpoint-"))
let server: Server
let url: string
let ca: TestCa.TestCa
let impostor: TestCa.TestCa

beforeAll(async () => {
  ca = TestCa.make(dir, "Endpoint test CA")
  impostor = TestCa.make(mkdtempSync(join(dir, "impostor-")), "Impostor CA")
  const issued = ca.issue("server", ["localhost", "127.0.0.1"])
  server = createServer({ cert: issued.cert, key: issued.key }, (_req, res) => res.end(JSON.stringify({ ok: true })))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve))
  await removeDir(dir)
})

describe("Endpoint", () => {
  it("trusts the configured CA", async () => {
    const endpoint = Endpoint.make(url, { ca: ca.cert })
    expect(await (await endpoint.fetch(`${endpoint.url}/`)).json()).toEqual({ ok: true })
    await endpoint.close()
  })

  it("refuses a certificate from another CA, and from Node's default store, naming the host", async () => {
    for (const trust of [{ ca: impostor.cert }, {}]) {
      const endpoint = Endpoint.make(url, trust)
      const error = await endpoint.fetch(`${endpoint.url}/`).then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(Endpoint.UntrustedCertificate)
      expect(error).toMatchObject({ host: "127.0.0.1", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
      expect((error as Error).message).toContain("the server at 127.0.0.1 presented a certificate that is not trusted here")
      await endpoint.close()
    }
  })

  it("explains a WebSocket's refused certificate the same way", async () => {
    const endpoint = Endpoint.make(url, { ca: impostor.cert })
    const failure = await new Promise<unknown>((resolve) => {
      const socket = new WebSocket(url.replace("https", "wss"), endpoint.socketOptions)
      socket.on("error", resolve)
    })
    expect(endpoint.explain(failure)).toBeInstanceOf(Endpoint.UntrustedCertificate)
  })

  it("refuses plain http to a host that is not loopback unless allowed, and takes it on loopback", () => {
    expect(() => Endpoint.make("http://10.1.2.3:8443")).toThrow(Endpoint.InsecureEndpoint)
    expect(() => Endpoint.make("http://coordinator.example:8443")).toThrow("refusing http://coordinator.example:8443: plain http to coordinator.example")
    expect(Endpoint.make("http://10.1.2.3:8443", { allowInsecure: true }).secure).toBe(false)
    for (const local of ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"]) expect(Endpoint.make(local).url).toBe(local)
    expect(() => Endpoint.make("ftp://x")).toThrow(Endpoint.InsecureEndpoint)
  })
})
