/**
 * `npm run bench -- ipfs-gc`: what the coordinator's IPFS garbage collection costs after a checkpoint release
 * (issue 16 item 1). The coordinator's node keeps its blocks on disk; each saved checkpoint releases the one before
 * the kept ones and then collects, so a collection runs once per round and walks the whole store.
 *
 * - `gc_ms` at 1,000 and 5,000 pinned blocks on disk (1 KiB each: links, certificates, small results) plus one
 *   released 256 KiB checkpoint body: one collection, median of 5. Baseline: the save it follows — putting and
 *   pinning one sealed 256 KiB checkpoint on the same store (median of 5). Ratio = baseline / gc (bigger is
 *   better: above 1, a collection costs less than the checkpoint save it follows).
 */
import { mkdtemp, rm } from "node:fs/promises"
import { randomBytes } from "node:crypto"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import { emit, progress } from "./Report.ts"

const runEffect = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

const measure = async (blocks: number) => {
  const directory = await mkdtemp(join(tmpdir(), "jointly-bench-gc-"))
  const scope = await runEffect(Scope.make())
  try {
    const node = (await runEffect(Scope.provide(HeliaBlocks.make({ directory }), scope))).blocks
    progress(`${blocks} pinned blocks on disk`)
    for (let i = 0; i < blocks; i++) await runEffect(node.put(new Uint8Array(randomBytes(1024))))
    const saves: Array<number> = []
    const collections: Array<number> = []
    for (let r = 0; r < 5; r++) {
      const start = performance.now()
      const cid = await runEffect(node.put(new Uint8Array(randomBytes(256 * 1024))))
      saves.push(performance.now() - start)
      await runEffect(node.unpin(cid))
      const collecting = performance.now()
      const deleted = await runEffect(node.collectGarbage())
      collections.push(performance.now() - collecting)
      if (deleted !== 1) throw new Error(`a collection deleted ${deleted} blocks, expected the released one`)
    }
    const gc = median(collections)
    const save = median(saves)
    emit({ suite: "ipfs-gc", metric: "gc_ms", params: { pinned_blocks: blocks, released_bytes: 256 * 1024 }, value: gc, baseline: "put_and_pin_checkpoint_ms", baseline_value: save, ratio: save / gc })
  } finally {
    await runEffect(Scope.close(scope, Exit.void))
    await rm(directory, { recursive: true, force: true })
  }
}

export const run = async (): Promise<void> => {
  for (const blocks of [1_000, 5_000]) await measure(blocks)
}
