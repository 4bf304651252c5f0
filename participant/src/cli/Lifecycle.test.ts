/**
 * A participant process's lifecycle under SIGTERM and SIGINT, over real resources (a directory on disk, a
 * listening TCP server) and a host whose signals the test sends: a signal before the process is ready releases
 * everything acquired — what the step under way acquires too — and exits 128 + the signal's number; after ready
 * it is an ordinary stop; a failed startup releases what it acquired before its error goes on.
 */
import { EventEmitter } from "node:events"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as Lifecycle from "./Lifecycle.ts"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const root = mkdtempSync(join(tmpdir(), "jointly-lifecycle-"))
afterAll(() => removeDir(root))

/** A host whose signals the test sends; its exit codes and events are recorded. */
const testHost = () => {
  const signals = new EventEmitter()
  const exits: Array<number> = []
  const events: Array<Record<string, unknown>> = []
  let exited: (code: number) => void = () => {}
  const exit = new Promise<number>((resolve) => void (exited = resolve))
  const host: Lifecycle.Host = {
    onSignal: (listener) => void signals.on("signal", listener),
    exit: (code) => {
      exits.push(code)
      exited(code)
    },
    report: (event) => void events.push(event)
  }
  return { host, send: (signal: Lifecycle.Signal) => signals.emit("signal", signal), exits, events, exit }
}

/** Real resources: a directory (removed on release) and a listening server (closed on release). */
const directory = async (name: string) => mkdtempSync(join(root, `${name}-`))
const server = () =>
  new Promise<Server>((resolve) => {
    const s = createServer()
    s.listen(0, "127.0.0.1", () => resolve(s))
  })
const close = (s: Server) => new Promise<void>((resolve, reject) => s.close((error) => (error ? reject(error) : resolve())))

describe("a signal before the process is ready", () => {
  it("lets the step under way finish, releases what it and the steps before acquired, in reverse, and exits 143", async () => {
    const { host, send, exits, events, exit } = testHost()
    const life = Lifecycle.make(host)
    const order: Array<string> = []
    const listening = await life.acquire(server, (s) => close(s).then(() => void order.push("server")))
    void life.acquire(async () => {
      // The signal comes while this step (an agent starting, opening its spill directory) is under way.
      send("SIGTERM")
      return directory("spill")
    }, (path) => {
      rmSync(path, { recursive: true })
      order.push("spill")
    })
    expect(await exit).toBe(143)
    expect(exits).toEqual([143])
    expect(order).toEqual(["spill", "server"])
    expect(listening.listening).toBe(false)
    expect(events).toEqual([{ type: "stopped", signal: "SIGTERM", ready: false }])
  })

  it("abandons a wait (the coordinator not answering), releases, and exits 130 for SIGINT", async () => {
    const { host, send, exit, events } = testHost()
    const life = Lifecycle.make(host)
    const spill = await life.acquire(() => directory("wait"), (path) => rmSync(path, { recursive: true }))
    void life.wait(() => new Promise(() => {}))
    expect(existsSync(spill)).toBe(true)
    send("SIGINT")
    expect(await exit).toBe(130)
    expect(existsSync(spill)).toBe(false)
    expect(events).toEqual([{ type: "stopped", signal: "SIGINT", ready: false }])
  })

  it("a second signal exits at once, not waiting for the step under way", async () => {
    const { host, send, exits } = testHost()
    const life = Lifecycle.make(host)
    void life.acquire(() => new Promise<string>(() => send("SIGTERM")), () => {})
    send("SIGINT")
    expect(exits).toEqual([143])
  })
})

describe("after ready, and a failed startup", () => {
  it("a signal once ready releases everything, each even when one fails, and exits 1 naming the failure (0 when none)", async () => {
    const clean = testHost()
    const ready = Lifecycle.make(clean.host)
    const listening = await ready.acquire(server, close)
    ready.ready()
    clean.send("SIGTERM")
    expect(await clean.exit).toBe(0)
    expect(listening.listening).toBe(false)
    expect(clean.events).toEqual([])

    const failing = testHost()
    const life = Lifecycle.make(failing.host)
    const spill = await life.acquire(() => directory("ready"), (path) => rmSync(path, { recursive: true }))
    await life.acquire(async () => "chain", () => Promise.reject(new Error("the chain's connection did not close")))
    life.ready()
    failing.send("SIGTERM")
    expect(await failing.exit).toBe(1)
    expect(existsSync(spill)).toBe(false)
    expect(failing.events).toEqual([{ type: "close-failed", message: "the chain's connection did not close" }])
  })

  it("a startup step that fails releases what was acquired, then its error goes on", async () => {
    const { host, exits } = testHost()
    const life = Lifecycle.make(host)
    const listening = await life.acquire(server, close)
    const failed = life.wait(() => Promise.reject(new Error("the keystore's passphrase is wrong"))).catch(life.abort)
    await expect(failed).rejects.toThrow("the keystore's passphrase is wrong")
    expect(listening.listening).toBe(false)
    expect(exits).toEqual([])
  })
})
