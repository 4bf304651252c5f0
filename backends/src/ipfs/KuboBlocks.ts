/**
 * `ArtifactBlocks` over a Kubo node reached by its HTTP RPC URL (e.g. `http://127.0.0.1:5001`): for operators
 * who already run IPFS infrastructure. Five documented RPC calls are all it needs (`block/put` with `pin=true`,
 * `block/get`, `block/stat` offline, `pin/add`, `pin/rm`), so it speaks them with `fetch` rather than pulling in
 * `kubo-rpc-client` and its dependency tree. Kubo's RPC is an admin API: keep it on loopback or behind the
 * operator's own authentication (`authorization` is sent as given). Blocks are sealed before they reach here,
 * and `get` re-hashes what Kubo returns like every `ArtifactBlocks`.
 */
import { Effect, Layer } from "effect"
import {
  ArtifactBlocks,
  BlockNotFound,
  BlockStoreFailed,
  checkBlock,
  type Codec,
  type GetOptions,
  parseCid
} from "@jointly/core/internal/artifacts/Blocks"

export interface KuboOptions {
  /** The RPC API's base URL, without `/api/v0`. */
  readonly url: string
  /** An `Authorization` header value for a Kubo behind basic or bearer authentication. */
  readonly authorization?: string
  readonly defaultTimeoutMs?: number
}

export const make = (options: KuboOptions) => {
  const base = new URL("/api/v0/", options.url)
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000
  const call = (operation: string, params: Record<string, string>, timeoutMs: number, body?: FormData) =>
    Effect.tryPromise({
      try: async () => {
        const url = new URL(operation, base)
        for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
        const response = await fetch(url, {
          method: "POST",
          body,
          headers: options.authorization === undefined ? {} : { authorization: options.authorization },
          signal: AbortSignal.timeout(timeoutMs)
        })
        const bytes = new Uint8Array(await response.arrayBuffer())
        return { status: response.status, bytes }
      },
      catch: (cause) => new BlockStoreFailed({ operation, message: `kubo ${operation} at ${options.url}: ${cause instanceof Error ? cause.message : String(cause)}` })
    })
  const ok = (operation: string) => ({ status, bytes }: { status: number; bytes: Uint8Array }) =>
    status === 200
      ? Effect.succeed(bytes)
      : Effect.fail(new BlockStoreFailed({ operation, message: `kubo ${operation} answered ${status}: ${new TextDecoder().decode(bytes).slice(0, 300)}` }))

  const get = (cid: string, get: GetOptions = {}) =>
    Effect.gen(function*() {
      const parsed = yield* parseCid(cid)
      const timeoutMs = get.timeoutMs ?? defaultTimeoutMs
      const answer = yield* call("block/get", { arg: cid, timeout: `${timeoutMs}ms` }, timeoutMs + 5_000).pipe(
        Effect.mapError((e): BlockNotFound | BlockStoreFailed => e.message.includes("TimeoutError") ? new BlockNotFound({ cid, message: e.message }) : e)
      )
      // Kubo answers 500 with "context deadline exceeded" / "block was not found" when nobody had it in time.
      if (answer.status !== 200) {
        const text = new TextDecoder().decode(answer.bytes)
        if (/deadline|not found/i.test(text)) return yield* Effect.fail(new BlockNotFound({ cid, message: `kubo: ${text.slice(0, 300)}` }))
        return yield* ok("block/get")(answer)
      }
      return yield* checkBlock(parsed, answer.bytes)
    })

  return ArtifactBlocks.of({
    node: "kubo",
    put: (bytes: Uint8Array, codec: Codec = "raw") =>
      Effect.gen(function*() {
        const form = new FormData()
        form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), "block")
        const answer = yield* Effect.flatMap(call("block/put", { "cid-codec": codec, mhtype: "sha2-256", pin: "true" }, defaultTimeoutMs, form), ok("block/put"))
        const decoded = yield* Effect.try({
          try: () => JSON.parse(new TextDecoder().decode(answer)) as { Key?: unknown },
          catch: () => new BlockStoreFailed({ operation: "block/put", message: "kubo block/put answered with something that is not JSON" })
        })
        if (typeof decoded.Key !== "string") return yield* Effect.fail(new BlockStoreFailed({ operation: "block/put", message: "kubo block/put answered without a Key" }))
        return decoded.Key
      }),
    get,
    has: (cid) =>
      Effect.flatMap(parseCid(cid), () => Effect.map(call("block/stat", { arg: cid, offline: "true" }, defaultTimeoutMs), ({ status }) => status === 200)),
    pin: (cid, options) =>
      Effect.gen(function*() {
        yield* get(cid, options)
        yield* Effect.flatMap(call("pin/add", { arg: cid }, options?.timeoutMs ?? defaultTimeoutMs), ok("pin/add"))
      }),
    unpin: (cid) =>
      Effect.flatMap(parseCid(cid), () =>
        Effect.flatMap(call("pin/rm", { arg: cid }, defaultTimeoutMs), (answer) =>
          // "not pinned" is the state asked for.
          answer.status === 200 || /not pinned/i.test(new TextDecoder().decode(answer.bytes)) ? Effect.void : Effect.asVoid(ok("pin/rm")(answer)))),
    pinned: (cid) =>
      Effect.flatMap(parseCid(cid), () =>
        Effect.flatMap(call("pin/ls", { arg: cid, type: "recursive" }, defaultTimeoutMs), (answer) =>
          // Kubo answers 500 "… is not pinned" for a block it holds unpinned, or does not hold.
          answer.status === 200 ? Effect.succeed(true) : /not pinned/i.test(new TextDecoder().decode(answer.bytes)) ? Effect.succeed(false) : Effect.as(ok("pin/ls")(answer), false))),
    // Kubo answers one JSON line per block it removed (`{"Key":{"/":cid}}`), or per error (`{"Error":…}`).
    collectGarbage: (gc = {}) =>
      Effect.flatMap(call("repo/gc", {}, gc.timeoutMs ?? 60_000), (answer) =>
        Effect.map(ok("repo/gc")(answer), (bytes) => new TextDecoder().decode(bytes).split("\n").filter((line) => line.includes('"Key"')).length))
  })
}

export const layer = (options: KuboOptions): Layer.Layer<ArtifactBlocks> => Layer.succeed(ArtifactBlocks, make(options))
