/**
 * `npm run bench -- retrieval`: encrypted top-10 similarity retrieval (`query.similar`) against the 1,797 8×8
 * digits images, both roles in one process through the in-memory host over real SEAL BFV (N = 8192, 128-bit)
 * and the real OPRF (participant/src/similarity/InMemorySearch.ts).
 *
 * - `query_ms`: one query from key generation to the querier's verified K records; baseline: the plaintext
 *   k-NN over the same pixels in the same run (what an owner that saw the query would compute).
 * - `recall_at_10`: the share of the plaintext top 10 the encrypted search returned, over the same queries.
 * - `rounds`: threshold rounds the search took (each reveals one count per lane to the querier).
 * - MPEG-7 features (PROTOCOLS.md §8 step 2; the digits resampled to 32×32 first): `precision_at_k` — the share
 *   of an image's K nearest (K = 20…100, every image a query against the other 1,796, like the source's
 *   Table 6.3) with its label — for each descriptor set against the pixels as the baseline;
 *   `extract_ms_per_image` against the plaintext k-NN of one query over the pixels; and one encrypted query
 *   on the edge histograms (`query_ms`, `recall_at_10`) against the plaintext k-NN on them.
 */
import type * as Mpeg7Features from "@jointly/core/internal/imaging/Mpeg7Features"
import * as Gallery from "@jointly/participant/internal/similarity/testing/DigitsGallery"
import * as Search from "@jointly/participant/internal/similarity/testing/InMemorySearch"
import { emit, opsPerSecond, progress } from "./Report.ts"

const QUERIES = 3
const K = 10
const PRECISION_KS = [20, 40, 60, 80, 100]
const RESAMPLE = { width: 32, height: 32 }
const DESCRIPTOR_SETS: ReadonlyArray<readonly [string, Mpeg7Features.Options]> = [
  ["ehd", { descriptors: ["ehd"], resample: RESAMPLE }],
  ["rsd", { descriptors: ["rsd"], resample: RESAMPLE }],
  ["ehd+rsd", { descriptors: ["ehd", "rsd"], resample: RESAMPLE }],
  ["csd-32", { descriptors: ["csd"], csdBins: 32, resample: RESAMPLE }]
]

/** Precision@K by label for each K: every image a query against all the others (squared Euclidean, ties by row). */
const precisionAtK = (g: Gallery.Gallery, ks: ReadonlyArray<number>): Array<number> => {
  const n = g.images.length
  const hits = ks.map(() => 0)
  const distance = new Float64Array(n)
  const order = Array.from({ length: n }, (_, i) => i)
  for (let q = 0; q < n; q++) {
    const query = g.images[q]!
    for (let i = 0; i < n; i++) distance[i] = i === q ? Infinity : g.images[i]!.reduce((s, v, k) => s + (v - query[k]!) ** 2, 0)
    order.sort((a, b) => distance[a]! - distance[b]! || a - b)
    ks.forEach((k, j) => {
      for (let t = 0; t < k; t++) if (g.labels[order[t]!] === g.labels[q]) hits[j]!++
    })
  }
  return ks.map((k, j) => hits[j]! / (n * k))
}

export const run = async () => {
  const gallery = Gallery.load()
  const queries = Gallery.queries(gallery, QUERIES, 5)
  const times: Array<number> = []
  const recalls: Array<number> = []
  const rounds: Array<number> = []
  for (const [i, { image }] of queries.entries()) {
    progress(`retrieval: encrypted query ${i + 1}/${QUERIES} against ${gallery.ids.length} images`)
    const started = performance.now()
    const { output, result } = await Search.run(gallery, image, { k: K })
    times.push(performance.now() - started)
    const expected = new Set(Gallery.nearest(gallery, image, K).map((e) => e.id))
    recalls.push(output.results.filter((r) => expected.has(r.id)).length / K)
    rounds.push(result.rounds)
  }
  const plainRate = await opsPerSecond(() => queries.map(({ image }) => Gallery.nearest(gallery, image, K)), { warmup: 2, runs: 5, minRunMs: 300 })
  const plainMs = 1000 / plainRate / QUERIES
  const mean = (xs: ReadonlyArray<number>) => xs.reduce((s, x) => s + x, 0) / xs.length
  const params = { images: gallery.ids.length, features: gallery.columns.length, k: K, queries: QUERIES, scheme: "bfv-8192", host: "in-memory" }
  emit({
    suite: "retrieval",
    metric: "query_ms",
    params,
    value: mean(times),
    baseline: "plaintext k-NN over the same pixels",
    baseline_value: plainMs,
    ratio: plainMs / mean(times)
  })
  emit({ suite: "retrieval", metric: "recall_at_10", params, value: mean(recalls) })
  emit({ suite: "retrieval", metric: "rounds", params, value: mean(rounds) })

  // MPEG-7 features: retrieval quality by label, extraction time, and one encrypted query on the edge histograms.
  progress("retrieval: precision@K over the pixels (every image a query)")
  const pixelPrecision = precisionAtK(gallery, PRECISION_KS)
  const described = new Map<string, Gallery.Gallery>()
  for (const [name, options] of DESCRIPTOR_SETS) {
    progress(`retrieval: MPEG-7 ${name} of ${gallery.ids.length} images`)
    const started = performance.now()
    const g = Gallery.described(gallery, options)
    const extractMs = (performance.now() - started) / gallery.ids.length
    described.set(name, g)
    const set = { images: gallery.ids.length, descriptors: name, features: g.columns.length, featureMax: g.featureMax, resample: `${RESAMPLE.width}x${RESAMPLE.height}` }
    emit({ suite: "retrieval", metric: "extract_ms_per_image", params: set, value: extractMs, baseline: "plaintext k-NN of one query over the pixels", baseline_value: plainMs, ratio: plainMs / extractMs })
    progress(`retrieval: precision@K over MPEG-7 ${name}`)
    const precision = precisionAtK(g, PRECISION_KS)
    PRECISION_KS.forEach((k, j) =>
      emit({ suite: "retrieval", metric: "precision_at_k", params: { ...set, k }, value: precision[j]!, baseline: "the same over the 64 pixels", baseline_value: pixelPrecision[j]!, ratio: precision[j]! / pixelPrecision[j]! })
    )
  }
  const ehd = described.get("ehd")!
  const ehdQuery = Gallery.describe(queries[0]!.image, DESCRIPTOR_SETS[0]![1])
  progress(`retrieval: encrypted query on the edge histograms against ${ehd.ids.length} images`)
  const started = performance.now()
  const { output, result } = await Search.run(ehd, ehdQuery, { k: K })
  const ehdMs = performance.now() - started
  const ehdPlainMs = 1000 / (await opsPerSecond(() => Gallery.nearest(ehd, ehdQuery, K), { warmup: 2, runs: 5, minRunMs: 300 }))
  const expected = new Set(Gallery.nearest(ehd, ehdQuery, K).map((e) => e.id))
  const ehdParams = { ...params, features: ehd.columns.length, descriptors: "ehd", queries: 1 }
  emit({ suite: "retrieval", metric: "query_ms", params: ehdParams, value: ehdMs, baseline: "plaintext k-NN over the same edge histograms", baseline_value: ehdPlainMs, ratio: ehdPlainMs / ehdMs })
  emit({ suite: "retrieval", metric: "recall_at_10", params: ehdParams, value: output.results.filter((r) => expected.has(r.id)).length / K })
  emit({ suite: "retrieval", metric: "rounds", params: ehdParams, value: result.rounds })
}
