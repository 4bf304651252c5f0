/**
 * Separate hosts on one machine for tests and benches: one Linux network namespace per host, each joined by a
 * veth pair to a bridge that lives in its own "switch" namespace, with addresses from a private /24 that exists
 * only inside them. Nothing is added to the machine's own namespace (the veth pairs are made between the
 * namespaces directly), so a process started in a host namespace reaches the other hosts and nothing else.
 * Names carry a random prefix, so runs in parallel never meet; `teardown` kills every process left in them and
 * deletes them, and runs on process exit too if a test dies first. Needs root (CAP_NET_ADMIN) and iproute2.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createInterface } from "node:readline"

const ip = (...args: ReadonlyArray<string>) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString()

/** Why namespaces cannot be made here (not root, no iproute2, no CAP_NET_ADMIN), or undefined when they can. */
export const unavailable = (): string | undefined => {
  if (process.platform !== "linux") return `network namespaces are Linux only (this is ${process.platform})`
  if (process.getuid?.() !== 0) return "network namespaces need root"
  const probe = `jtprobe${randomBytes(3).toString("hex")}`
  try {
    ip("netns", "add", probe)
  } catch (error) {
    return `ip netns add failed: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}`
  }
  try {
    ip("netns", "del", probe)
  } catch {
    /* made, so usable; a leftover probe is harmless */
  }
  return undefined
}

export interface Host {
  readonly name: string
  /** The namespace's name. */
  readonly ns: string
  readonly address: string
}

export interface Started {
  readonly child: ChildProcess
  /** The first stdout line that parses as JSON with an `event` field. */
  readonly ready: Record<string, unknown>
  readonly stderr: Array<string>
}

export interface Network {
  readonly prefix: string
  /** The /24 the hosts are numbered in, e.g. `10.123.45`. */
  readonly subnet: string
  readonly hosts: Readonly<Record<string, Host>>
  /** Runs `command` in `host`'s namespace to its end; rejects with its stderr on a non-zero exit. */
  readonly run: (host: string, command: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => Promise<{ stdout: string; stderr: string; code: number }>
  /** Starts a long-running `command` in `host`'s namespace and resolves at its ready line. */
  readonly start: (host: string, command: ReadonlyArray<string>, env?: NodeJS.ProcessEnv, timeoutMs?: number) => Promise<Started>
  /** Kills what runs in the namespaces and deletes them. Idempotent. */
  readonly teardown: () => void
}

/** Makes one namespace per name, numbered .2, .3, … in a random 10.x.y.0/24 in the order given. */
export const make = (names: ReadonlyArray<string>): Network => {
  const prefix = `jt${randomBytes(3).toString("hex")}`
  const bytes = randomBytes(2)
  const subnet = `10.${bytes[0]}.${bytes[1]}`
  const switchNs = `${prefix}-sw`
  const made: Array<string> = []
  const children = new Set<ChildProcess>()
  let down = false

  const teardown = () => {
    if (down) return
    down = true
    process.off("exit", teardown)
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    for (const ns of [...made].reverse()) {
      try {
        for (const pid of ip("netns", "pids", ns).split("\n").filter((l) => l.trim() !== "")) {
          try {
            process.kill(Number(pid), "SIGKILL")
          } catch {
            /* gone already */
          }
        }
      } catch {
        /* the namespace is gone already */
      }
      try {
        ip("netns", "del", ns)
      } catch {
        /* idem */
      }
    }
  }
  process.on("exit", teardown)

  const hosts: Record<string, Host> = {}
  try {
    ip("netns", "add", switchNs)
    made.push(switchNs)
    ip("-n", switchNs, "link", "add", "br0", "type", "bridge")
    ip("-n", switchNs, "link", "set", "br0", "up")
    names.forEach((name, i) => {
      const ns = `${prefix}-${name}`
      const address = `${subnet}.${i + 2}`
      ip("netns", "add", ns)
      made.push(ns)
      // The pair is born across the two namespaces: it never appears in the machine's own.
      ip("-n", switchNs, "link", "add", `p${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns)
      ip("-n", switchNs, "link", "set", `p${i}`, "master", "br0", "up")
      ip("-n", ns, "link", "set", "lo", "up")
      ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0")
      ip("-n", ns, "link", "set", "eth0", "up")
      hosts[name] = { name, ns, address }
    })
  } catch (error) {
    teardown()
    throw error
  }

  const nsOf = (host: string) => {
    const found = hosts[host]
    if (found === undefined) throw new Error(`no host ${host} in this network`)
    return found.ns
  }

  const spawnIn = (host: string, command: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
    const child = spawn("ip", ["netns", "exec", nsOf(host), ...command], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    children.add(child)
    child.once("exit", () => children.delete(child))
    return child
  }

  return {
    prefix,
    subnet,
    hosts,
    run: (host, command, env = {}) =>
      new Promise((resolve, reject) => {
        const child = spawnIn(host, command, env)
        let stdout = ""
        let stderr = ""
        child.stdout!.on("data", (d) => (stdout += d))
        child.stderr!.on("data", (d) => (stderr += d))
        child.once("error", reject)
        child.once("exit", (code) => resolve({ stdout, stderr, code: code ?? -1 }))
      }),
    start: (host, command, env = {}, timeoutMs = 180_000) =>
      new Promise((resolve, reject) => {
        const child = spawnIn(host, command, env)
        const stderr: Array<string> = []
        createInterface({ input: child.stderr! }).on("line", (line) => {
          stderr.push(line)
          if (stderr.length > 500) stderr.shift()
        })
        const timer = setTimeout(() => reject(new Error(`${command.join(" ")} in ${host} not ready within ${timeoutMs} ms:\n${stderr.slice(-15).join("\n")}`)), timeoutMs)
        createInterface({ input: child.stdout! }).on("line", (line) => {
          try {
            const parsed = JSON.parse(line)
            if (parsed && typeof parsed === "object" && "event" in parsed) {
              clearTimeout(timer)
              resolve({ child, ready: parsed, stderr })
            }
          } catch {
            /* not a ready line */
          }
        })
        child.once("exit", (code) => {
          clearTimeout(timer)
          reject(new Error(`${command.join(" ")} in ${host} exited with code ${code} before it was ready:\n${stderr.slice(-15).join("\n")}`))
        })
      }),
    teardown
  }
}
