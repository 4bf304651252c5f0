/**
 * `npm run bench -- ack-size`: what the hub pays to size a stage request for its acknowledgement wait
 * (coordinator/src/transport/AckTimeout.ts), against what sending it costs anyway in the same run: socket.io's
 * encoding of the same packet (its parser, as the hub's transport runs it). Two large requests: a 16 MiB base64
 * ciphertext and a vector of 1M float64 weights as JSON numbers. Metrics (median of 7, one core):
 *   - `ack_size_estimate_ms`: `AckTimeout.estimatedBytes` (the walk the hub runs), baseline the socket.io encoding,
 *     ratio encoding / estimate (bigger is better);
 *   - `ack_size_stringify_ms`: sizing by `JSON.stringify` instead (what an exact size would cost), same baseline;
 *   - `ack_size_estimate_over_json`: estimated bytes / JSON bytes (≥ 1: the wait is never shortened).
 */
import { randomBytes } from "node:crypto"
import { Encoder } from "socket.io-parser"
import { estimatedBytes } from "@jointly/coordinator/internal/transport/AckTimeout"
import { emit, progress } from "./Report.ts"

const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[xs.length >> 1]!

const timed = (op: () => unknown): number => {
  const started = performance.now()
  op()
  return performance.now() - started
}

export const run = async () => {
  const cases: Record<string, object> = {
    "base64-16MiB": { requestId: "r", payload: { update: randomBytes(12 * 1024 * 1024).toString("base64") } },
    "floats-1M": { requestId: "r", payload: { weights: Array.from({ length: 1_000_000 }, () => Math.random()) } }
  }
  const encoder = new Encoder()
  for (const [name, message] of Object.entries(cases)) {
    progress(`ack-size: ${name}`)
    const encode = [], estimate = [], stringify = []
    for (let i = 0; i < 7; i++) {
      encode.push(timed(() => encoder.encode({ type: 2, nsp: "/participants", data: ["stage.request", message], id: 1 })))
      estimate.push(timed(() => estimatedBytes(message)))
      stringify.push(timed(() => JSON.stringify(message).length))
    }
    const params = { message: name }
    const baseline = "socket.io encoding of the same packet"
    const encodeMs = median(encode)
    emit({ suite: "ack-size", metric: "ack_size_estimate_ms", params, value: median(estimate), baseline, baseline_value: encodeMs, ratio: encodeMs / median(estimate) })
    emit({ suite: "ack-size", metric: "ack_size_stringify_ms", params, value: median(stringify), baseline, baseline_value: encodeMs, ratio: encodeMs / median(stringify) })
    emit({ suite: "ack-size", metric: "ack_size_estimate_over_json", params, value: estimatedBytes(message) / JSON.stringify(message).length })
  }
}
