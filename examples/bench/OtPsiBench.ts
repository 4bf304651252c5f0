/**
 * The OT-based PSI (core/src/protocols/joint-query/ot-psi, KKRT) in the `psi` suite: each party on its own worker
 * thread (participant/src/worker/OtPsiThreads.ts), joined by a MessageChannel, node:crypto AES — two cores, one
 * per party, as two machines would run it minus the network. The ids are those of the ECDH runs
 * (`patient-0…n−1` against `patient-n/2…3n/2−1`), and the ECDH figures of the same run are the baseline.
 *
 * - `ot_psi_wall_s`: wall time of one session (hellos, base OTs, matrix, values; ids already in each thread),
 *   baseline: the ECDH-PSI of psi.ts at the same size in the same run, ratio = ECDH / OT.
 *   `params.cpu_s` is the process CPU time of the session (both threads); `params.load_avg_1m` the machine's load
 *   when it ended (on a shared 2-core machine, wall time stretches with it; CPU time much less).
 * - `ot_psi_bytes_sent_mb`: what each party put on its link (`params.role`), MB = 10^6 bytes; the goal is ≤ 100.
 * - `psi_peer_wall_s`: at `PSI_BENCH_PEER_SIZE` ids per side (default 10 000), OpenMined's @openmined/psi.js (the
 *   PSI library published for JavaScript: P-256 ECDH in WASM, one thread; server setup, client request, server
 *   response and client intersection, each message serialized as it would cross the wire) on the same ids, as the
 *   baseline of the OT engine (`params.protocol: "ot"`) and of the ECDH path when it ran that size
 *   (`params.protocol: "ecdh"`); ratio = psi.js / ours.
 */
import { loadavg } from "node:os"
import * as OtPsiThreads from "@jointly/participant/internal/worker/OtPsiThreads"
import { emit, progress } from "./Report.ts"

const MB = 1e6

const options = (n: number) => ({ context: new TextEncoder().encode(`jointly/bench/ot-psi/${n}`), maxPeerElements: 2 * n + 1000 })

const session = async (pair: OtPsiThreads.Pair, n: number) => {
  await pair.load({ prefix: "patient-", from: 0, count: n }, { prefix: "patient-", from: n / 2, count: n })
  const cpu = process.cpuUsage()
  const result = await pair.run(options(n))
  const used = process.cpuUsage(cpu)
  if (result.receiver.indices.length !== n / 2) throw new Error(`OT-PSI found ${result.receiver.indices.length} shared ids, expected ${n / 2}`)
  return { ...result, cpuSeconds: (used.user + used.system) / 1e6 }
}

/** psi.js on `n` ids per side: seconds, intersection checked. */
const psiJsSeconds = async (n: number) => {
  const { default: load } = await import("@openmined/psi.js")
  const psi = await load()
  if (psi.server === undefined || psi.client === undefined) throw new Error("@openmined/psi.js loaded without its server and client")
  const server = psi.server.createWithNewKey(true)
  const client = psi.client.createWithNewKey(true)
  const serverIds = Array.from({ length: n }, (_, i) => `patient-${n / 2 + i}`)
  const clientIds = Array.from({ length: n }, (_, i) => `patient-${i}`)
  try {
    const start = performance.now()
    const setup = psi.serverSetup.deserializeBinary(server.createSetupMessage(0, clientIds.length, serverIds, psi.dataStructure.Raw).serializeBinary())
    const request = psi.request.deserializeBinary(client.createRequest(clientIds).serializeBinary())
    const response = psi.response.deserializeBinary(server.processRequest(request).serializeBinary())
    const found = client.getIntersection(setup, response)
    const seconds = (performance.now() - start) / 1000
    if (found.length !== n / 2) throw new Error(`psi.js found ${found.length} shared ids, expected ${n / 2}`)
    return seconds
  } finally {
    server.delete()
    client.delete()
  }
}

/** Runs the OT engine at `sizes` (and the peer comparison), against `ecdh` (size → ECDH seconds of this run). */
export const run = async (sizes: ReadonlyArray<number>, ecdh: ReadonlyMap<number, number>, ecdhLabel: string) => {
  const peerSize = Number(process.env.PSI_BENCH_PEER_SIZE ?? 10_000)
  const pair = await OtPsiThreads.open()
  const measured = new Map<number, number>()
  try {
    await session(pair, 2000) // warm-up: thread start, libsodium WASM, JIT
    for (const n of sizes) {
      progress(`psi: OT-based (KKRT), 2 parties × ${n} ids, one worker thread each`)
      const { receiver, sender, seconds, cpuSeconds } = await session(pair, n)
      measured.set(n, seconds)
      const params = {
        parties: 2, items_per_side: n, protocol: "ot", threads: 2, aes: receiver.stats.aes, cpu_s: Number(cpuSeconds.toFixed(2)),
        partitions: receiver.stats.partitions, value_bytes: receiver.stats.valueBytes, path: "two worker threads, MessageChannel",
        load_avg_1m: Number(loadavg()[0]!.toFixed(1))
      }
      const baseline = ecdh.get(n)
      emit(baseline === undefined
        ? { suite: "psi", metric: "ot_psi_wall_s", params, value: seconds }
        : { suite: "psi", metric: "ot_psi_wall_s", params, value: seconds, baseline: `${ecdhLabel}, same ids, same run`, baseline_value: baseline, ratio: baseline / seconds })
      for (const [role, stats] of [["receiver", receiver.stats], ["sender", sender.stats]] as const) {
        emit({ suite: "psi", metric: "ot_psi_bytes_sent_mb", params: { items_per_side: n, role, messages: stats.messagesSent, goal_mb: 100 }, value: stats.bytesSent / MB })
      }
    }
    if (peerSize > 0) {
      const ours = measured.get(peerSize) ?? (progress(`psi: OT-based at the peer size ${peerSize}`), (await session(pair, peerSize)).seconds)
      progress(`psi: @openmined/psi.js, ${peerSize} ids per side (P-256 ECDH, WASM, one thread)`)
      const peer = await psiJsSeconds(peerSize)
      const label = "@openmined/psi.js 2.0.6 (P-256 ECDH, WASM, 1 thread), same ids, same run"
      emit({ suite: "psi", metric: "psi_peer_wall_s", params: { items_per_side: peerSize, protocol: "ot" }, value: ours, baseline: label, baseline_value: peer, ratio: peer / ours })
      const ecdhAtPeer = ecdh.get(peerSize)
      if (ecdhAtPeer !== undefined) {
        emit({ suite: "psi", metric: "psi_peer_wall_s", params: { items_per_side: peerSize, protocol: "ecdh" }, value: ecdhAtPeer, baseline: label, baseline_value: peer, ratio: peer / ecdhAtPeer })
      }
    }
  } finally {
    await pair.close()
  }
}
