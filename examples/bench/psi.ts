/**
 * `npm run bench -- psi`: 2-party ECDH-PSI (core/src/protocols/joint-query/psi) at 10k, 100k and 1M ids per
 * side (half shared), through the protocol's own code path: both roles in one process over InMemoryHost (every
 * message Schema-encoded, JSON round-tripped and end-to-end sealed), the group work on the participant's worker
 * pool (participant/src/host/QueryServices.ts, one pool of `workers` threads shared by both roles, which is what
 * two parties on this one machine would share anyway). Real processes add socket.io transfer of the same
 * messages; the 1M case is measured in one process, as the task allows.
 *
 * The group is the PSI default, x25519 (`PSI_BENCH_GROUP=ristretto255` to change it); its kernels are the Node
 * backends' native ones (`@jointly/backends`, node/NativeGroups.ts: OpenSSL's X25519, libsodium's ristretto255;
 * built here when `npm run build` has not built them) unless they cannot load; `params.group` and
 * `params.kernels` say which ran.
 *
 * - `psi_wall_s`: wall time of the whole protocol (keys → blinding → relay → matching → output); at the first
 *   size only, baseline: the same protocol and group with libsodium's WASM kernels (the browser path), same run.
 *   `params.cpu_s` is the process CPU time of that run (all threads): the cost to compare when the machine is busy.
 * - `psi_items_per_s`: ids of both sides per second; at the first size only, baseline: the same ECDH-PSI
 *   arithmetic (hash to group, two blindings per id) with @noble/curves' pure-JS ristretto255 on one thread,
 *   measured in the same run on 1 000 ids per side. Larger sizes carry no baseline: none is extrapolated.
 * - `psi_group_wall_s`: at one size (`PSI_BENCH_RATIO_SIZE`, default 100 000 or the largest size below it), the
 *   bench group's wall time against the other group's, both native, same run, same pool.
 *
 * `PSI_BENCH_SIZES=10000,100000` overrides the sizes.
 *
 * Then the OT-based PSI at the same sizes, each party on its own thread, against these ECDH figures, and the
 * @openmined/psi.js peer on the same ids (OtPsiBench.ts; `PSI_BENCH_PEER_SIZE`, default 10 000, 0 to skip).
 */
import { availableParallelism } from "node:os"
import { ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js"
import { Context, Effect, Layer } from "effect"
import { LocalData, type TabularData } from "@jointly/core/internal/data/Tabular"
import { TaskOutput } from "@jointly/core/internal/data/TaskOutput"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import { QueryCompute } from "@jointly/core/internal/protocols/joint-query/Compute"
import * as Group from "@jointly/core/internal/protocols/joint-query/Group"
import * as PsiCoordinator from "@jointly/core/internal/protocols/joint-query/psi/coordinator"
import * as PsiParticipant from "@jointly/core/internal/protocols/joint-query/psi/participant"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-query/psi/spec"
import type { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import * as Backends from "@jointly/backends/internal/Backends"
import { build } from "../../backends/native/build.mjs"
import * as NativeGroups from "@jointly/backends/internal/node/NativeGroups"
import * as NodeBackends from "@jointly/backends/node"
import { poolCompute } from "@jointly/participant/internal/host/QueryServices"
import * as OtPsiBench from "./OtPsiBench.ts"
import { emit, progress } from "./Report.ts"

/** A pool-backed QueryCompute whose threads, this one included, compose the Node backends of `choice`. */
const openCompute = async (workers: number, choice: Backends.Choice) => {
  const backends = await Backends.build(NodeBackends.layer(choice))
  const compute = poolCompute({ size: workers, groups: Context.get(backends.context, Compute.Groups), backends: choice })
  return { backends, compute, close: () => compute.close().then(backends.close) }
}
type Opened = Awaited<ReturnType<typeof openCompute>>

const ids = (from: number, n: number): TabularData => {
  const column = Array.from({ length: n }, (_, i) => `patient-${from + i}`)
  return { name: "ids", rowCount: n, columnNames: ["id"], isNumeric: () => false, numeric: () => { throw new Error("no numeric column") }, strings: () => column }
}

const runPsi = async (n: number, { backends, compute }: Opened, group: Group.GroupName) => {
  const wallets = [InMemoryHost.randomWallet(), InMemoryHost.randomWallet()]
  const params: Params = { idColumn: "id", receivers: [wallets[0]!.address], maxIds: n, group, protocol: "ecdh" } as unknown as Params
  const outputs: Array<{ cardinality?: number }> = []
  const host = InMemoryHost.make([ids(0, n), ids(n / 2, n)].map((data, i) => {
    const layer = Layer.mergeAll(
      backends.layer,
      Layer.succeed(LocalData, { dataset: () => Effect.succeed(data) }),
      Layer.succeed(QueryCompute, compute),
      Layer.succeed(TaskOutput, { write: (_: string, output: unknown) => Effect.sync(() => (outputs.push(output as never), "memory")) })
    )
    return {
      wallet: wallets[i]!,
      handlers: PsiParticipant.handlers("ids", "intersection", params),
      provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, layer) as Effect.Effect<A, ParticipantFailure>
    }
  }))
  const cpu = process.cpuUsage()
  const start = performance.now()
  const result = (await Effect.runPromise(Effect.ensuring(host.run((session) => PsiCoordinator.run(session, "intersection", params)), host.end()))) as Result
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  if (result.cardinality !== n / 2) throw new Error(`PSI found ${result.cardinality} shared ids, expected ${n / 2}`)
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 }
}

/** Pure-JS baseline: the same per-id work (Hg, blind own, blind the peer's) for both sides, ids per second. */
const nobleItemsPerSecond = (n: number) => {
  const a = ristretto255.Point.Fn.fromBytes(ristretto255.Point.Fn.toBytes(5n ** 77n % ristretto255.Point.Fn.ORDER))
  const b = ristretto255.Point.Fn.fromBytes(ristretto255.Point.Fn.toBytes(7n ** 91n % ristretto255.Point.Fn.ORDER))
  const start = performance.now()
  for (const [own, peer] of [[a, b], [b, a]] as const) {
    for (let i = 0; i < n; i++) {
      const blinded = ristretto255_hasher.hashToCurve(new TextEncoder().encode(`patient-${i}`)).multiply(own)
      ristretto255.Point.fromBytes(blinded.toBytes()).multiply(peer).toBytes()
    }
  }
  return (2 * n) / ((performance.now() - start) / 1000)
}

/** The same protocol with the WASM group kernels on a pool of its own (every thread composes them). */
const wasmWallSeconds = async (n: number, workers: number, group: Group.GroupName) => {
  const opened = await openCompute(workers, { groups: "wasm" })
  try {
    await runPsi(2000, opened, group)
    return (await runPsi(n, opened, group)).seconds
  } finally {
    await opened.close()
  }
}

export const run = async () => {
  const sizes = (process.env.PSI_BENCH_SIZES ?? "10000,100000,1000000").split(",").map(Number)
  const group = (process.env.PSI_BENCH_GROUP ?? Group.DEFAULT_GROUP) as Group.GroupName
  if (!Group.groupNames.includes(group)) throw new Error(`PSI_BENCH_GROUP must be one of ${Group.groupNames.join(", ")}`)
  const other: Group.GroupName = group === "x25519" ? "ristretto255" : "x25519"
  const ratioSize = Number(process.env.PSI_BENCH_RATIO_SIZE ?? Math.max(...sizes.filter((n) => n <= 100_000), sizes[0]!))
  const workers = availableParallelism()
  if (Object.keys(NativeGroups.load().kernels).length === 0) {
    try {
      build()
    } catch (error) {
      progress(`psi: native group kernels unavailable, WASM only: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`)
    }
  }
  const compute = await openCompute(workers, {})
  const installed = Context.get(compute.backends.context, Compute.Groups)
  const kernelsOf = (g: Group.GroupName) => installed[g].name
  const ecdhSeconds = new Map<number, number>()
  try {
    progress("psi: noble baseline on 1 000 ids per side")
    nobleItemsPerSecond(50)
    const baseline = nobleItemsPerSecond(1000)
    await runPsi(2000, compute, group) // warm-up: pool threads, WASM instantiation, JIT
    await runPsi(2000, compute, other)
    for (const [i, n] of sizes.entries()) {
      progress(`psi: 2 parties × ${n} ids, ${workers} workers, ${group} (${kernelsOf(group)})`)
      const { seconds, cpuSeconds } = await runPsi(n, compute, group)
      ecdhSeconds.set(n, seconds)
      const params = { parties: 2, items_per_side: n, workers, group, kernels: kernelsOf(group), cpu_s: Number(cpuSeconds.toFixed(2)), path: "one process, InMemoryHost + worker pool" }
      if (i === 0 && kernelsOf(group).includes("native")) {
        progress(`psi: 2 parties × ${n} ids, ${workers} workers, ${group} WASM kernels (baseline)`)
        const wasm = await wasmWallSeconds(n, workers, group)
        emit({ suite: "psi", metric: "psi_wall_s", params, value: seconds, baseline: `same protocol, ${group} on libsodium WASM kernels, same pool size`, baseline_value: wasm, ratio: wasm / seconds })
      } else {
        emit({ suite: "psi", metric: "psi_wall_s", params, value: seconds })
      }
      emit(i === 0
        ? { suite: "psi", metric: "psi_items_per_s", params, value: (2 * n) / seconds, baseline: "@noble/curves ristretto255, 1 thread, 1000 ids/side", baseline_value: baseline }
        : { suite: "psi", metric: "psi_items_per_s", params, value: (2 * n) / seconds })
      if (n === ratioSize) {
        progress(`psi: 2 parties × ${n} ids, ${workers} workers, ${other} (${kernelsOf(other)}) for the group ratio`)
        const alternative = await runPsi(n, compute, other)
        emit({
          suite: "psi", metric: "psi_group_wall_s",
          params: { ...params, other_group: other, other_kernels: kernelsOf(other), other_cpu_s: Number(alternative.cpuSeconds.toFixed(2)) },
          value: seconds, baseline: `same protocol and pool, ${other} (${kernelsOf(other)})`, baseline_value: alternative.seconds, ratio: alternative.seconds / seconds
        })
      }
    }
  } finally {
    await compute.close()
  }
  await OtPsiBench.run(sizes, ecdhSeconds, `ECDH-PSI (${group}, ${kernelsOf(group)} kernels, ${workers}-thread pool)`)
}
