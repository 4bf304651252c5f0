/**
 * A preload (`node --require`) for the participant processes of `fedavg-memory.ts`: on SIGUSR2 every thread of the
 * process — the main one and each worker thread (the protocol thread holds a task's memory), which Node runs
 * `--require` preloads in too — runs a full garbage collection and appends its live heap (`heapUsed`, MB) as one
 * JSON line, tagged with the signal's sequence number, to `<GC_HEAP_DIR>/<pid>.jsonl`; the main thread adds the
 * process's RSS. So the bench reads what a participant still references after each round rather than an RSS that
 * moves with the collector's timing. Signals reach the main thread only; it tells the others on a BroadcastChannel.
 * CommonJS, as thread-memory.cjs, so that worker threads run it.
 */
const { appendFileSync } = require("node:fs")
const { setFlagsFromString } = require("node:v8")
const { runInNewContext } = require("node:vm")
const { BroadcastChannel, isMainThread, threadId } = require("node:worker_threads")

const dir = process.env.GC_HEAP_DIR
if (dir !== undefined && dir !== "") {
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc")
  const file = `${dir}/${process.pid}.jsonl`
  const report = (seq) => {
    gc()
    gc()
    const usage = process.memoryUsage()
    appendFileSync(file, JSON.stringify({ seq, thread: threadId, main: isMainThread, heapUsed: usage.heapUsed / 1048576, external: usage.external / 1048576, rss: usage.rss / 1048576 }) + "\n")
  }
  const channel = new BroadcastChannel("jointly-bench-gc-heap")
  channel.unref()
  if (isMainThread) {
    let seq = 0
    process.on("SIGUSR2", () => {
      seq++
      channel.postMessage(seq)
      report(seq)
    })
  } else {
    channel.onmessage = (event) => report(event.data)
  }
}
