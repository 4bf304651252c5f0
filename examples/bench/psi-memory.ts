/**
 * `npm run bench -- psi-memory`: the memory a 2-party PSI takes in real participant processes as the sets grow.
 * A local cluster of two participants, each serving its own CSV of ids (party a `u0…u(n−1)`, party b
 * `u(n/2)…u(3n/2−1)`: n/2 shared), runs `query.psi` with a as the receiver, on the OT engine and on the ECDH
 * ring. Reported: `psi_peak_rss_mb`, the larger peak RSS (VmHWM) of the two participant processes at `big` ids
 * per party, against `small`; ratio small/big (1: memory does not grow with the sets); the same for each role
 * (`psi_peak_rss_receiver_mb`: party a, which writes the output file; `psi_peak_rss_sender_mb`: party b), and
 * `psi_task_wall_ms`, and `psi_wire_sent_mb`: what each party sent the coordinator over its socket during the task at `big`
 * ids (the OT engine's sealed messages cross the coordinator's relay; params: its role and what it received), against
 * `small`. Counted at the coordinator's end of each socket (engine.io packets, text by its UTF-8 bytes, binary by its
 * length), so it needs the coordinator in this process (LocalCluster's default).
 *
 * Sizes: PSI_MEMORY_SMALL / PSI_MEMORY_BIG (default 100k and 10M), PSI_MEMORY_PROTOCOLS (default "ot"; the ECDH
 * ring costs ≈ 200 CPU-s per 1M×1M, ≈ 10× that at 10M; above `bucketIds` its sets go to disk, psi/spec.ts "External"). The participants
 * have data directories, so the OT engine's sets above `bucketIds` go to disk in buckets (psi/spec.ts "Buckets").
 * The load average at the start and end of each run is in the params: on a shared machine it moves wall times.
 * PSI_MEMORY_BUCKET_IDS sets the task's `bucketIds` (the size from which sets go to disk). PSI_MEMORY_TASK_MS (default an hour) bounds each task, PSI_MEMORY_ROUND_MS (default 30 minutes) each of its rounds
 * (reading and spilling the set is one round): 100M ids per party need more than the defaults.
 *
 * PSI_MEMORY_RECORDING_ROUNDS=r (ECDH ring on disk, set PSI_MEMORY_BUCKET_IDS below BIG): instead of the above, the cost of
 * recording the ring's progress (psi/RingProgress.ts) at BIG ids: r rounds on one cluster of the task unrecorded,
 * recorded by the default sparse policy and recorded every unit, in turned orders, after one uncounted warm-up task; `psi_ecdh_recorded_sparse_wall_ms`
 * and `psi_ecdh_recorded_every_wall_ms` against the unrecorded median. PSI_MEMORY_RECORDING_CHUNK sets `chunkSize`
 * (more, smaller units: what a record costs shows). PSI_MEMORY_TIMELINE=1 prints each task's events with their times.
 *
 * PSI_MEMORY_SAMPLE_DIR (debug): every thread of the cluster's processes samples its memory there every
 * PSI_MEMORY_SAMPLE_MS (default 10 000; thread-memory.cjs), and after each task the bench prints, per participant thread, the first, last and largest
 * heapUsed / external / arrayBuffers (MB) — what told the protocol thread's kept replies apart from the engine.
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { DuckDBInstance } from "@duckdb/node-api"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { emit, progress } from "./Report.ts"
import { peakRssOf } from "./sources.ts"

const columns = [{ name: "id", type: "string" }] as const
const taskMs = Number(process.env.PSI_MEMORY_TASK_MS ?? 3_600_000)
const roundMs = Number(process.env.PSI_MEMORY_ROUND_MS ?? 1_800_000)
/** `params.bucketIds` (default the protocol's, 2^18): smaller puts smaller sets on disk. */
const bucketIds = process.env.PSI_MEMORY_BUCKET_IDS === undefined ? undefined : Number(process.env.PSI_MEMORY_BUCKET_IDS)

/** `rows` ids `u<from + i>` as a one-column CSV, by DuckDB. */
const idFile = async (file: string, from: number, rows: number) => {
  const duck = await DuckDBInstance.create(":memory:", { threads: "2" })
  const connection = await duck.connect()
  try {
    await connection.run(`COPY (SELECT 'u' || (i + ${from}) AS id FROM range(${rows}) t(i)) TO '${file}' (HEADER)`)
  } finally {
    connection.closeSync()
    duck.closeSync()
  }
}

/** Turns thread sampling on for the processes spawned from here on, into a fresh folder under `root`. */
const sampleThreads = async (root: string, label: string) => {
  const dir = join(root, label)
  await mkdir(dir, { recursive: true })
  process.env.THREAD_MEMORY_DIR = dir
  process.env.THREAD_MEMORY_MS = process.env.PSI_MEMORY_SAMPLE_MS ?? "10000"
  const preload = `--require ${fileURLToPath(new URL("./thread-memory.cjs", import.meta.url))}`
  if (!(process.env.NODE_OPTIONS ?? "").includes(preload)) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} ${preload}`.trim()
  return dir
}

interface Sample { readonly thread: number; readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number }

/** Per thread of process `pid`: first → last (largest) of each sampled figure. */
const threadSummary = async (dir: string, pid: number) => {
  const lines: Array<string> = []
  for (const file of (await readdir(dir)).filter((f) => f.startsWith(`${pid}-`)).sort()) {
    const samples = (await readFile(join(dir, file), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Sample)
    if (samples.length === 0) continue
    const span = (key: "heapUsed" | "external" | "arrayBuffers") =>
      `${key} ${samples[0]![key]}→${samples.at(-1)![key]} (max ${Math.max(...samples.map((s) => s[key]))})`
    lines.push(`thread ${samples[0]!.thread}, ${samples.length} samples: ${span("heapUsed")}, ${span("external")}, ${span("arrayBuffers")} MB`)
  }
  return lines
}

/** Bytes each party's socket carried (to the coordinator, from it), from when it is called: engine.io packets as they cross. */
const wireTally = (cluster: LocalCluster.LocalCluster) => {
  const coordinator = cluster.coordinator()
  if (coordinator === undefined) throw new Error("psi-memory counts the wire at the coordinator: it must run in this process")
  const tally = new Map<string, { sent: number; received: number }>(cluster.parties.map((p) => [p.address.toLowerCase(), { sent: 0, received: 0 }]))
  const size = (data: unknown) => (typeof data === "string" ? Buffer.byteLength(data) : ArrayBuffer.isView(data) || data instanceof ArrayBuffer ? data.byteLength : 0)
  const listeners: Array<() => void> = []
  for (const socket of coordinator.hub.io.of("/participants").sockets.values()) {
    const count = tally.get(String(socket.data.account).toLowerCase())
    if (count === undefined) continue
    const inbound = (packet: { data?: unknown }) => void (count.sent += size(packet.data))
    const outbound = (packet: { data?: unknown }) => void (count.received += size(packet.data))
    socket.conn.on("packet", inbound)
    socket.conn.on("packetCreate", outbound)
    listeners.push(() => {
      socket.conn.off("packet", inbound)
      socket.conn.off("packetCreate", outbound)
    })
  }
  return {
    /** Stops counting; MB each party (by name) sent and received. */
    stop: () => {
      for (const off of listeners) off()
      return new Map(cluster.parties.map((p) => {
        const count = tally.get(p.address.toLowerCase())!
        return [p.name, { sentMb: count.sent / 1e6, receivedMb: count.received / 1e6 }] as const
      }))
    }
  }
}

/** A local cluster of parties a and b over `n` ids each (a: u0…u(n−1), b: u(n/2)…u(3n/2−1)), for `body`. */
const withCluster = async <A>(dir: string, n: number, label: string, body: (cluster: LocalCluster.LocalCluster) => Promise<A>) => {
  const files = { a: join(dir, `a-${n}.csv`), b: join(dir, `b-${n}.csv`) }
  progress(`psi-memory: generating 2 × ${n} ids`)
  await idFile(files.a, 0, n)
  await idFile(files.b, Math.floor(n / 2), n)
  const cluster = await LocalCluster.start({
    dataDir: join(dir, `cluster-${label}-${n}`),
    parties: (["a", "b"] as const).map((name) => ({ name, datasets: [{ name: "ids", file: files[name], columns }] as never })),
    startTimeoutMs: 600_000
  })
  try {
    return await body(cluster)
  } finally {
    await cluster.stop()
    await rm(files.a, { force: true })
    await rm(files.b, { force: true })
  }
}

/** One `query.psi` over the cluster's `n` ids per party, checked against the planted |∩|: its wall time and load. */
const submitPsi = async (cluster: LocalCluster.LocalCluster, n: number, protocol: "ot" | "ecdh", extra: Record<string, number> = {}) => {
  const loadBefore = loadavg()[0]!
  const started = performance.now()
  const id = await cluster.submit({
    kind: "query.psi",
    parties: cluster.parties.map((p) => ({ participant: p.address, dataset: "ids" })) as never,
    params: { idColumn: "id", receivers: [cluster.party("a").address], maxIds: n, protocol, ...(bucketIds !== undefined && { bucketIds }), ...extra },
    roundTimeoutMs: roundMs
  } as never)
  const detail = await cluster.waitForTask(id, { timeoutMs: taskMs })
  const wall = performance.now() - started
  if (detail.status !== "Succeeded") throw new Error(`${protocol} PSI over ${n} ids ended ${detail.status}: ${detail.reason}`)
  const cardinality = (detail.result as { cardinality?: number }).cardinality
  if (cardinality !== n - Math.floor(n / 2)) throw new Error(`${protocol} PSI over ${n} ids: |∩| = ${cardinality}, expected ${n - Math.floor(n / 2)}`)
  if (process.env.PSI_MEMORY_TIMELINE === "1") {
    const t0 = Date.parse(detail.events[0]!.at)
    for (const e of detail.events) progress(`psi-memory: +${Date.parse(e.at) - t0} ms ${e.type} ${JSON.stringify(e.data).slice(0, 120)}`)
  }
  return { wall, cardinality, load: `${loadBefore.toFixed(1)}→${loadavg()[0]!.toFixed(1)}` }
}

const psiTask = async (dir: string, n: number, protocol: "ot" | "ecdh") => {
  const sampleRoot = process.env.PSI_MEMORY_SAMPLE_DIR
  const samples = sampleRoot === undefined || sampleRoot === "" ? undefined : await sampleThreads(sampleRoot, `${protocol}-${n}-${Date.now()}`)
  return withCluster(dir, n, protocol, async (cluster) => {
    progress(`psi-memory: ${protocol} PSI over ${n} ids per party`)
    const wire = wireTally(cluster)
    const { wall, cardinality, load } = await submitPsi(cluster, n, protocol)
    const traffic = wire.stop()
    const [receiver, sender] = await peakRssOf(cluster)
    const rss = Math.max(receiver!, sender!)
    const a = traffic.get("a")!
    const b = traffic.get("b")!
    progress(`psi-memory: ${protocol} ${n}: |∩| ${cardinality}, ${(wall / 1000).toFixed(1)} s, peak RSS receiver ${receiver!.toFixed(0)} MB, sender ${sender!.toFixed(0)} MB, sent receiver ${a.sentMb.toFixed(1)} MB, sender ${b.sentMb.toFixed(1)} MB`)
    if (samples !== undefined) {
      for (const party of cluster.parties) {
        for (const line of await threadSummary(samples, party.process.pid!)) progress(`psi-memory: ${party.name} ${line}`)
      }
    }
    return { wall, rss, receiver: receiver!, sender: sender!, load, wire: { receiver: a, sender: b } }
  })
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2
}

/**
 * The cost of recording the ECDH ring on disk (psi/RingProgress.ts): on one cluster, `pairs` rounds of the same task
 * unrecorded (`checkpointUnits: 0`, the baseline), recorded with the default sparse policy, and recorded every unit
 * (`checkpointUnits: 1`), the order turned each round so that a drift of the machine's load falls on every variant.
 * Reported: the median wall time of each recorded variant against the unrecorded median (ratio = unrecorded /
 * recorded: 1 is free), and the records each took.
 */
const recording = async (dir: string, n: number, pairs: number, chunkSize: number | undefined) =>
  withCluster(dir, n, "recording", async (cluster) => {
    const chunk: Record<string, number> = chunkSize === undefined ? {} : { chunkSize }
    const variants: Record<"off" | "sparse" | "every", Record<string, number>> = { off: { ...chunk, checkpointUnits: 0 }, sparse: chunk, every: { ...chunk, checkpointUnits: 1 } }
    const walls = { off: [] as Array<number>, sparse: [] as Array<number>, every: [] as Array<number> }
    const loads: Array<string> = []
    // One task first, not counted: the first on a cluster also pays its processes' cold start (module compilation).
    progress(`psi-memory: ecdh ${n}, warm-up: ${((await submitPsi(cluster, n, "ecdh", variants.off)).wall / 1000).toFixed(1)} s`)
    for (let round = 0; round < pairs; round++) {
      const order = (["off", "sparse", "every"] as const).slice()
      for (let k = 0; k < round % 3; k++) order.push(order.shift()!)
      for (const variant of order) {
        const { wall, load } = await submitPsi(cluster, n, "ecdh", variants[variant])
        walls[variant].push(wall)
        loads.push(load)
        progress(`psi-memory: ecdh ${n}, records ${variant}: ${(wall / 1000).toFixed(1)} s (load ${load})`)
      }
    }
    const units = Math.ceil(n / (chunkSize ?? 65_536))
    const params = { protocol: "ecdh", ids_per_party: n, parties: 2, units, rounds: pairs, load_average: loads.join(" "), ...(bucketIds !== undefined && { bucket_ids: bucketIds }) }
    const baseline = median(walls.off)
    for (const variant of ["sparse", "every"] as const) {
      emit({ suite: "psi-memory", metric: `psi_ecdh_recorded_${variant}_wall_ms`, params, value: median(walls[variant]), baseline: "the same task unrecorded (checkpointUnits 0), same cluster, alternating", baseline_value: baseline, ratio: baseline / median(walls[variant]) })
    }
  })

export const run = async () => {
  const small = Number(process.env.PSI_MEMORY_SMALL ?? 100_000)
  const big = Number(process.env.PSI_MEMORY_BIG ?? 10_000_000)
  const protocols = (process.env.PSI_MEMORY_PROTOCOLS ?? "ot").split(",") as Array<"ot" | "ecdh">
  const dir = await mkdtemp(join(tmpdir(), "jointly-bench-psi-memory-"))
  try {
    const pairs = Number(process.env.PSI_MEMORY_RECORDING_ROUNDS ?? 0)
    if (pairs > 0) {
      const chunk = process.env.PSI_MEMORY_RECORDING_CHUNK
      await recording(dir, big, pairs, chunk === undefined ? undefined : Number(chunk))
      return
    }
    for (const protocol of protocols) {
      const smallRun = await psiTask(dir, small, protocol)
      const bigRun = await psiTask(dir, big, protocol)
      const params = { protocol, ids_per_party: big, parties: 2, source: "csv", participants: "processes", load_average: bigRun.load, baseline_load_average: smallRun.load, ...(bucketIds !== undefined && { bucket_ids: bucketIds }) }
      emit({ suite: "psi-memory", metric: "psi_peak_rss_mb", params, value: bigRun.rss, baseline: `same task over ${small} ids per party`, baseline_value: smallRun.rss, ratio: smallRun.rss / bigRun.rss })
      for (const role of ["receiver", "sender"] as const) {
        emit({ suite: "psi-memory", metric: `psi_peak_rss_${role}_mb`, params, value: bigRun[role], baseline: `same task over ${small} ids per party`, baseline_value: smallRun[role], ratio: smallRun[role] / bigRun[role] })
      }
      emit({ suite: "psi-memory", metric: "psi_task_wall_ms", params, value: bigRun.wall, baseline: `same task over ${small} ids per party`, baseline_value: smallRun.wall, ratio: smallRun.wall / bigRun.wall })
      for (const role of ["receiver", "sender"] as const) {
        const wire = bigRun.wire[role]
        // Bigger is not better here: the ratio only shows how the bytes grow with the sets.
        emit({ suite: "psi-memory", metric: "psi_wire_sent_mb", params: { ...params, role, received_mb: Number(wire.receivedMb.toFixed(2)) }, value: wire.sentMb, baseline: `same task over ${small} ids per party`, baseline_value: smallRun.wire[role].sentMb, ratio: smallRun.wire[role].sentMb / wire.sentMb })
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
