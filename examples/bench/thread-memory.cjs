/**
 * A preload (`node --require`) that samples the memory of every thread of a process: each thread — the main one
 * and each worker thread, which Node runs `--require` preloads in too (not `--import` ones) — appends one JSON line
 * as it starts and then every `THREAD_MEMORY_MS` (default 10 000) to `<THREAD_MEMORY_DIR>/<pid>-<threadId>.jsonl`:
 * its `process.memoryUsage()` (heapUsed, external, arrayBuffers: per thread; rss: the process) in MB. What it tells
 * apart: a thread's live JS heap, the buffers it allocated and still holds or handed to another thread
 * (`arrayBuffers` counts a buffer where it was allocated, `external` where it lives now), and the rest of the RSS
 * (native memory). psi-memory.ts sets it on its participant processes with PSI_MEMORY_SAMPLE_DIR. CommonJS because
 * worker threads do not run `--import` preloads.
 */
const { appendFileSync, readFileSync } = require("node:fs")
const { isMainThread, threadId } = require("node:worker_threads")

const dir = process.env.THREAD_MEMORY_DIR
if (dir !== undefined && dir !== "") {
  const file = `${dir}/${process.pid}-${threadId}.jsonl`
  const mb = (bytes) => Math.round(bytes / 1048576)
  const command = isMainThread ? process.argv.slice(1).join(" ") : undefined
  const sample = () => {
    const usage = process.memoryUsage()
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))
    appendFileSync(
      file,
      JSON.stringify({
        t: Date.now(),
        thread: threadId,
        rss: mb(usage.rss),
        peak: hwm === null ? undefined : Math.round(Number(hwm[1]) / 1024),
        heapUsed: mb(usage.heapUsed),
        external: mb(usage.external),
        arrayBuffers: mb(usage.arrayBuffers),
        command
      }) + "\n"
    )
  }
  sample()
  setInterval(sample, Number(process.env.THREAD_MEMORY_MS ?? 10_000)).unref()
}
