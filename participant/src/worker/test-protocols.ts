/**
 * A protocol used only by the protocol worker's tests: one stage that never answers, one that crashes the
 * worker thread, one that blocks it (a synchronous loop: the thread reads no other message, `close` included)
 * and one that answers at once (a task the thread holds). Loaded through `ProtocolWorker.start({ modules })`, never through the registry.
 */
import { Effect, Schema } from "effect"
import { writeFileSync } from "node:fs"
import { defineProtocol, speaks } from "@jointly/core/internal/protocols/Define"
import { handler, stage } from "@jointly/core/internal/protocols/Protocol"

const Empty = Schema.Struct({})
export const wait = stage("test.wait", Empty, Empty)
export const crash = stage("test.crash", Empty, Empty)
export const ping = stage("test.ping", Empty, Empty)
/** Blocks the thread once it has written `started` (a file the test waits for). */
export const block = stage("test.block", Schema.Struct({ started: Schema.String }), Empty)

export const protocols = [
  defineProtocol({
    kind: "test.crash",
    describe: "stages that hang or kill the worker thread",
    params: Empty,
    stages: [speaks(wait, "every party"), speaks(crash, "every party"), speaks(ping, "every party"), speaks(block, "every party")],
    result: Empty,
    coordinator: () => Effect.die("the test protocol has no coordinator side"),
    participant: () => [
      handler(wait, () => Effect.never),
      handler(ping, () => Effect.succeed({})),
      handler(block, ({ started }) =>
        Effect.sync(() => {
          writeFileSync(started, "")
          // Never returns: only terminating the thread ends it.
          for (;;) {
            // busy
          }
        })),
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
  })
]
