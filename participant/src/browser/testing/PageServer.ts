/**
 * Test and bench helper: serves a browser participant page as a deployment does — the page, the bundle and its
 * WASM from a real HTTP server on its own loopback port, every other path (the coordinator's API and its
 * socket.io endpoint, WebSocket upgrades included) passed through to the coordinator, so the page and the
 * coordinator share one origin without any Chromium flag or request interception. (Intercepted routing cannot
 * answer a Web Worker started by another Web Worker, which is how the protocol worker starts its job pool.)
 *
 * `files(path)` maps a request path to a file or an inline body; undefined passes the request on.
 */
import { readFile } from "node:fs/promises"
import { createServer, request as httpRequest } from "node:http"
import { connect } from "node:net"
import { extname } from "node:path"

export interface PageServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly close: () => Promise<void>
}

export type Answer = { readonly file: string } | { readonly body: string | Uint8Array; readonly type: string }

const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".map": "application/json", ".css": "text/css" }

export const start = async (options: { readonly coordinatorUrl: string; readonly files: (path: string) => Answer | undefined }): Promise<PageServer> => {
  const upstream = new URL(options.coordinatorUrl)
  if (upstream.protocol !== "http:") throw new Error("the page server passes requests on to a plain-http loopback coordinator only")
  const port = Number(upstream.port || 80)
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://page").pathname
    const answer = options.files(path)
    if (answer !== undefined) {
      const body = "file" in answer ? await readFile(answer.file).catch(() => undefined) : answer.body
      if (body === undefined) return void res.writeHead(404).end()
      const type = "file" in answer ? (types[extname(answer.file)] ?? "application/octet-stream") : answer.type
      return void res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body)
    }
    // Host stays the page's: the coordinator sees the origin the page uses.
    const forward = httpRequest({ host: upstream.hostname, port, method: req.method, path: req.url, headers: req.headers }, (answered) => {
      res.writeHead(answered.statusCode ?? 502, answered.headers)
      answered.pipe(res)
    })
    forward.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()))
    req.pipe(forward)
  })
  // A WebSocket upgrade: the request head is replayed to the coordinator, then bytes flow both ways untouched.
  const tunnels = new Set<{ destroy: () => void }>()
  server.on("upgrade", (req, socket, head) => {
    tunnels.add(socket)
    socket.on("close", () => tunnels.delete(socket))
    const upstreamSocket = connect(port, upstream.hostname, () => {
      const headers = Object.entries(req.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v}`]))
      upstreamSocket.write([`${req.method} ${req.url} HTTP/${req.httpVersion}`, ...headers, "", ""].join("\r\n"))
      if (head.length > 0) upstreamSocket.write(head)
      upstreamSocket.pipe(socket)
      socket.pipe(upstreamSocket)
    })
    const end = () => {
      upstreamSocket.destroy()
      socket.destroy()
    }
    upstreamSocket.on("error", end)
    socket.on("error", end)
    upstreamSocket.on("close", end)
    socket.on("close", end)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const tunnel of tunnels) tunnel.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
