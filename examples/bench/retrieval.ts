/**
 * `npm run bench -- retrieval`: encrypted top-10 similarity retrieval (`query.similar`) against the 1,797 8×8
 * digits images, both roles in one process through the in-memory host over real SEAL BFV (N = 8192, 128-bit)
 * and the real OPRF (participant/src/similarity/InMemorySearch.ts).
 *
 * - `query_ms`: one query from key generation to the querier's verified K records; baseline: the plaintext
 *   k-NN over the same pixels in the same run (what an owner that saw the query would compute).
 * - `recall_at_10`: the share of the plaintext top 10 the encrypted search returned, over the same queries.
 * - `rounds`: threshold rounds the search took (each reveals one count per lane to the querier).
 */
import * as Gallery from "@jointly/participant/internal/similarity/testing/DigitsGallery"
import * as Search from "@jointly/participant/internal/similarity/testing/InMemorySearch"
import { emit, opsPerSecond, progress } from "./Report.ts"

const QUERIES = 3
const K = 10

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
  const params = { images: gallery.ids.length, features: Gallery.pixels.length, k: K, queries: QUERIES, scheme: "bfv-8192", host: "in-memory" }
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
}
