/**
 * Participant side of the PSI family (the protocol, its variants and their leakage: `spec.ts`): the ECDH blinding
 * ring (`Blinding.ts`), matching and outputs (`Outputs.ts`), and the OT engine's pump (`OtPath.ts`), over one
 * party's state (`Party.ts`).
 *
 * Secrets (the PSI key, the channel key, the Paillier secret key) and the chunks in transit stay in
 * `session.memory` under `query/psi`. Every chunk coordinate is accepted once: a repeated (source, hop, index)
 * fails with DuplicateChunk, so a party (or the coordinator) sending twice cannot double-count an element.
 */
import * as Blinding from "./Blinding.ts"
import * as OtPath from "./OtPath.ts"
import * as Outputs from "./Outputs.ts"
import * as Party from "./Party.ts"
import type * as Spec from "./spec.ts"

/** The ECDH engine's stages (what an aligned join inside another protocol runs). */
export const handlers = (datasetName: string, mode: Spec.Mode, params: Spec.Params, options: Party.ContextOptions = {}) => {
  const ctx = Party.contextOf(datasetName, mode, params, options)
  return [...Blinding.handlers(ctx), ...Outputs.handlers(ctx)]
}

/** A PSI task's stages: the ECDH ring's and the OT engine's pump (which one runs: `Spec.protocolOf`). */
export const taskHandlers = (datasetName: string, mode: Spec.Mode, params: Spec.Params) =>
  [...handlers(datasetName, mode, params, { onDisk: true }), ...OtPath.handlers(Party.contextOf(datasetName, mode, params))]
