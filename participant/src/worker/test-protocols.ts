/**
 * A protocol used only by the protocol worker's tests: one stage that never answers and one that crashes the
 * worker thread. Loaded through `ProtocolWorker.start({ modules })`, never through the registry.
 */
import { Effect, Schema } from "effect"
import { handler, stage } from "@jointly/core/protocols/Protocol.ts"
import type { ProtocolDefinition } from "@jointly/core/protocols/registry.ts"

const Empty = Schema.Struct({})
export const wait = stage("test.wait", Empty, Empty)
export const crash = stage("test.crash", Empty, Empty)

export const protocols: ReadonlyArray<ProtocolDefinition> = [
  {
    kind: "test.crash",
    describe: "stages that hang or kill the worker thread",
    checkParams: () => ({ ok: true, params: {} }),
    coordinator: () => Effect.die("the test protocol has no coordinator side"),
    participant: () => [
      handler(wait, () => Effect.never),
      // An exception outside any promise or fiber: the worker thread dies, as it would on a native fault.
      handler(crash, () =>
        Effect.sync(() =>
          setTimeout(() => {
            throw new Error("deliberate crash")
          }, 0)
        ).pipe(Effect.andThen(Effect.never))
      )
    ],
    columns: () => []
  }
]
