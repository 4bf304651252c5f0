/**
 * `query.similar` end to end in memory over real SEAL BFV ciphertexts (node-seal, 128-bit) and the real OPRF:
 * both roles through InMemoryHost (every message through its Schema and JSON), the 1,797 digits images as the
 * owner's collection. The K results equal the plaintext k-NN on the same pixels, and on their MPEG-7 edge
 * histograms; the querier's integrity checks catch an owner whose records are not in its committed index; the
 * owner releases at most k records, answers from the epoch the task pins, and refuses BFV parameters that leave
 * too little blinding room.
 */
import { describe, expect, it } from "vitest"
import * as Group from "@jointly/core/internal/protocols/joint-query/Group"
import { handler, ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import type * as FeatureIndex from "@jointly/core/internal/protocols/similarity/FeatureIndex"
import * as Spec from "@jointly/core/internal/protocols/similarity/spec"
import * as Gallery from "../similarity/testing/DigitsGallery.ts"
import * as Search from "../similarity/testing/InMemorySearch.ts"

const gallery = Gallery.load()
const { wallets } = Search
type Handlers = Search.Handlers
const run = (image: ReadonlyArray<number>, params: Record<string, unknown> = {}, options: Parameters<typeof Search.run>[3] = {}) => Search.run(gallery, image, params, options)

const failureOf = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as ParticipantFailure)

describe("query.similar over real SEAL BFV (digits, 1,797 images)", () => {
  it("recall@10 equals the plaintext k-NN on the same pixels, over several queries", async () => {
    for (const { image } of Gallery.queries(gallery, 3)) {
      const { result, output, host, seconds } = await run(image, { revealFeatures: true })
      const expected = Gallery.nearest(gallery, image, 10)
      const recall = output.results.filter((r) => expected.some((e) => e.id === r.id)).length / 10
      expect(recall).toBe(1)
      // Features revealed: the querier ranks its K itself, in the plaintext order, distances exact.
      expect(output.results.map((r) => [r.id, r.distance])).toEqual(expected.map((e) => [e.id, e.distance]))
      for (const r of output.results) expect(r.label).toBe(String(gallery.labels[gallery.ids.indexOf(r.id)]))
      expect(result.rounds).toBeGreaterThan(0)
      expect(result.rounds).toBeLessThanOrEqual(Spec.DEFAULT_MAX_ROUNDS)
      expect(result.index).toEqual(output.index)
      expect(host.commitments.map((c) => c.phase)).toEqual(["similar/index", "similar/output"])
      expect(host.commitments[0]!.digest).toBe(result.index.root)
      // The coordinator relayed sealed bytes only: no id it could read.
      const seen = host.transcript.map((t) => t.json).join("\n")
      for (const r of output.results) expect(seen).not.toContain(r.id)
      console.log(`query.similar: ${result.rounds} rounds, ${seconds.toFixed(1)} s`)
    }
  }, 600_000)

  it("MPEG-7 edge histograms as the features (PROTOCOLS.md §8 step 2): the encrypted top 10 equals the plaintext k-NN on them", async () => {
    // The digits resampled to 32×32 so each sub-image holds 16 blocks; 80 codes 0…7 per image.
    const options = { descriptors: ["ehd"], resample: { width: 32, height: 32 } } as const
    const ehd = Gallery.described(gallery, options)
    const { image } = Gallery.queries(gallery, 1, 31)[0]!
    const query = Gallery.describe(image, options)
    const { output, result } = await Search.run(ehd, query, { revealFeatures: true })
    const expected = Gallery.nearest(ehd, query, 10)
    expect(output.results.map((r) => [r.id, r.distance])).toEqual(expected.map((e) => [e.id, e.distance]))
    expect(output.results.every((r) => r.features?.length === 80 && r.features.every((v) => v >= 0 && v <= 7))).toBe(true)
    expect(result.index).toMatchObject({ size: gallery.ids.length, dimension: 80 })
    // Not the pixel answer in disguise: the k-NN on pixels is a different list.
    expect(expected.map((e) => e.id)).not.toEqual(Gallery.nearest(gallery, image, 10).map((e) => e.id))
  }, 300_000)

  it("ids and labels only by default; a later epoch's update is found and the pinned root refuses a stale index", async () => {
    const { image } = Gallery.queries(gallery, 1, 23)[0]!
    const first = await run(image)
    expect(first.output.results.every((r) => r.features === undefined && r.distance === undefined)).toBe(true)
    expect(new Set(first.output.results.map((r) => r.id))).toEqual(new Set(Gallery.nearest(gallery, image, 10).map((e) => e.id)))
    expect(first.result.index.epoch).toBe(0)

    // Epoch 1: image 5 now holds exactly the query; image 7 is deleted; an existing id re-added is a duplicate.
    const epochs: Array<FeatureIndex.Epoch> = [{
      epoch: 1,
      transactions: [
        { op: "update", id: gallery.ids[5]!, features: [...image], label: "updated" },
        { op: "delete", id: gallery.ids[7]! },
        { op: "add", id: gallery.ids[9]!, features: [...gallery.images[9]!] }
      ]
    }]
    const second = await run(image, { revealFeatures: true }, { epochs })
    expect(second.result.index.epoch).toBe(1)
    expect(second.result.index.size).toBe(gallery.ids.length - 1)
    expect(second.result.index.root).not.toBe(first.result.index.root)
    expect(second.output.results[0]).toMatchObject({ id: gallery.ids[5], label: "updated", distance: 0 })

    // A task pinned to epoch 0's root: the owner refuses to answer from epoch 1.
    const pinned = await failureOf(run(image, { index: { epoch: 0, root: first.result.index.root } }, { epochs }))
    expect(pinned).toBeInstanceOf(ParticipantFailure)
    expect(pinned!.code).toBe("IndexMismatch")
    expect(pinned!.participant).toBe(wallets.owner.address)
  }, 600_000)

  it("the querier's checks catch records outside the committed index", async () => {
    const { image } = Gallery.queries(gallery, 1, 31)[0]!
    // An owner that commits to its index, then serves altered records (labels changed after the root was signed).
    const tampering = (handlers: Handlers) =>
      handlers.map((h) =>
        h.stage.name !== Spec.prepare.name ? h : handler(h.stage, (request, session) => {
          const s = session.memory.get("query/similar") as { snapshot: FeatureIndex.Snapshot }
          s.snapshot = { ...s.snapshot, entries: s.snapshot.entries.map((e) => ({ ...e, label: "forged" })) }
          return h.handle(request, session)
        }))
    const failed = await failureOf(run(image, {}, { owner: tampering }))
    expect(failed).toBeInstanceOf(ParticipantFailure)
    expect(failed!.participant).toBe(wallets.querier.address)
    expect(failed!.code).toBe("IntegrityViolation")
    expect(failed!.detail).toMatch(/not in the index the owner committed to/)
  }, 600_000)

  it("the owner releases at most k records, however many labels the querier sends", async () => {
    const { image } = Gallery.queries(gallery, 1, 41)[0]!
    // A querier that asks for 11 labels under k = 10 (its 10 positions and one more).
    const greedy = (handlers: Handlers) =>
      handlers.map((h) =>
        h.stage.name !== Spec.select.name ? h : handler(h.stage, (request, session) => {
          const s = session.memory.get("query/similar") as { session: { selected: Array<number> } }
          s.session.selected = [...s.session.selected, s.session.selected.length === 0 ? 0 : (Math.max(...s.session.selected) + 1) % gallery.ids.length]
          return h.handle(request, session)
        }))
    const failed = await failureOf(run(image, {}, { querier: greedy }))
    expect(failed).toBeInstanceOf(ParticipantFailure)
    expect(failed!.participant).toBe(wallets.owner.address)
    expect(failed!.code).toBe("TooManyRecords")
  }, 600_000)

  it("the owner refuses a plaintext modulus that leaves fewer than the minimum blinding bits", async () => {
    await Group.ready()
    const { image } = Gallery.queries(gallery, 1, 53)[0]!
    const failed = await failureOf(run(image, { bfv: { polyModulusDegree: 8192, plainModulusBits: 36 } }))
    expect(failed).toBeInstanceOf(ParticipantFailure)
    expect(failed!.participant).toBe(wallets.owner.address)
    expect(failed!.code).toBe("WeakParameters")
  }, 120_000)
})
