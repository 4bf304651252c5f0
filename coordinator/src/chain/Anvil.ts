/**
 * The embedded chain (DESIGN.md §5): an anvil node from the `@foundry-rs/anvil` npm package, listening on
 * 127.0.0.1 with a port it picks itself, its state persisted in `<dataDir>/chain/anvil-state.json` (dumped every
 * `stateIntervalSeconds` and on a graceful stop) so a restart keeps the chain.
 *
 * Only this launcher is anvil-specific: everything else reaches the node through its JSON-RPC URL, exactly as
 * it would reach a Besu or geth consortium network.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { copyFile, mkdir, readFile, rename } from "node:fs/promises"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Cause, Duration, Effect, Exit, Schedule, Schema, type Scope } from "effect"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"

export class AnvilError extends Schema.TaggedError<AnvilError>()("AnvilError", {
  reason: Schema.Literals(["BinaryNotFound", "StartFailed", "Timeout", "RpcFailed"]),
  detail: Schema.String
}) {
  override get message() {
    return `anvil: ${this.reason}: ${this.detail}`
  }
}

export interface AnvilOptions {
  /** Persist the chain under `<dataDir>/chain/`; leave out for a throw-away chain. */
  readonly dataDir?: string
  /** Default 31337. */
  readonly chainId?: number
  /** Default 127.0.0.1: the embedded chain is not meant to be reachable from other hosts. */
  readonly host?: string
  /** Default 0: anvil binds a free port and we read it from its banner (no race with another process). */
  readonly port?: number
  /** How often anvil dumps its state, bounding what a crash can lose. Default 1 s. */
  readonly stateIntervalSeconds?: number
  /** Interval mining; default: a block per transaction. */
  readonly blockTimeSeconds?: number
  /** Default 20 s. */
  readonly startTimeoutMs?: number
  /** SIGTERM first (anvil dumps its state), SIGKILL after this grace. Default 5 s. */
  readonly stopGraceMs?: number
  /** Appended to the command line. */
  readonly extraArgs?: ReadonlyArray<string>
  /** Use this executable instead of the one shipped in the npm package. */
  readonly binary?: string
}

export interface Anvil {
  readonly rpcUrl: string
  readonly host: string
  readonly port: number
  readonly chainId: number
  readonly pid: number
  /** Where the chain is persisted, when a dataDir was given. */
  readonly statePath: string | undefined
  /** The last lines anvil printed (for diagnostics). */
  readonly recentOutput: () => ReadonlyArray<string>
  /** Graceful stop: SIGTERM, then SIGKILL after the grace period. Idempotent. */
  readonly stop: () => Promise<void>
}

/**
 * The anvil executable, found through the npm packages: `@foundry-rs/anvil` lists one optional dependency per
 * platform (e.g. `@foundry-rs/anvil-linux-amd64`) that carries the binary, so its postinstall download is not
 * needed. Resolved from the wrapper package's own location, where npm places its optional dependencies.
 */
export const resolveAnvilBinary = (): string => {
  const arch = ({ x64: "amd64", arm64: "arm64" } as Record<string, string>)[process.arch]
  const platform = ["linux", "darwin", "win32"].includes(process.platform) ? process.platform : undefined
  if (arch === undefined || platform === undefined) {
    throw new AnvilError({ reason: "BinaryNotFound", detail: `no anvil build for ${process.platform}-${process.arch}` })
  }
  const platformPackage = `@foundry-rs/anvil-${platform}-${arch}`
  const binaryName = platform === "win32" ? "anvil.exe" : "anvil"
  const fromHere = createRequire(import.meta.url)
  const attempts: Array<string> = []
  for (const resolveFrom of [() => fromHere.resolve("@foundry-rs/anvil/package.json"), () => import.meta.url]) {
    try {
      const require = createRequire(resolveFrom())
      return require.resolve(`${platformPackage}/bin/${binaryName}`)
    } catch (e) {
      attempts.push(e instanceof Error ? e.message.split("\n")[0]! : String(e))
    }
  }
  throw new AnvilError({
    reason: "BinaryNotFound",
    detail: `${platformPackage} is not installed (it is an optional dependency of @foundry-rs/anvil): ${attempts.join("; ")}`
  })
}

export const statePathOf = (dataDir: string): string => join(dataDir, "chain", "anvil-state.json")

const isJsonFile = async (path: string): Promise<boolean | undefined> => {
  try {
    JSON.parse(await readFile(path, "utf8"))
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? undefined : false
  }
}

/**
 * A state file torn by a crash mid-dump would stop anvil from starting: keep the last good dump as `.bak`,
 * fall back to it when the current one does not parse.
 */
const prepareState = async (statePath: string): Promise<void> => {
  await mkdir(dirname(statePath), { recursive: true })
  const backup = `${statePath}.bak`
  const current = await isJsonFile(statePath)
  if (current === true) return copyFile(statePath, backup)
  if (current === false) {
    await rename(statePath, `${statePath}.corrupt-${Date.now()}`)
    if ((await isJsonFile(backup)) === true) await copyFile(backup, statePath)
  }
}

const waitForExit = (child: ChildProcess, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
    const timer = setTimeout(() => {
      child.off("exit", onExit)
      resolve(false)
    }, ms)
    const onExit = () => {
      clearTimeout(timer)
      resolve(true)
    }
    child.once("exit", onExit)
  })

/** Starts anvil and resolves once it answers JSON-RPC with the expected chain id. */
export const startAnvil = async (options: AnvilOptions = {}): Promise<Anvil> => {
  const binary = options.binary ?? resolveAnvilBinary()
  const host = options.host ?? "127.0.0.1"
  const chainId = options.chainId ?? 31337
  const statePath = options.dataDir === undefined ? undefined : statePathOf(options.dataDir)
  const startTimeoutMs = options.startTimeoutMs ?? 20_000
  const stopGraceMs = options.stopGraceMs ?? 5_000
  if (statePath !== undefined) await prepareState(statePath)

  const args = [
    "--host", host,
    "--port", String(options.port ?? 0),
    "--chain-id", String(chainId),
    ...(statePath === undefined ? [] : ["--state", statePath, "--state-interval", String(options.stateIntervalSeconds ?? 1)]),
    ...(options.blockTimeSeconds === undefined ? [] : ["--block-time", String(options.blockTimeSeconds)]),
    ...(options.extraArgs ?? [])
  ]
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] })

  // Drain both pipes for the whole life of the process (a full pipe would block anvil), keeping a short tail.
  const tail: Array<string> = []
  let listening: ((port: number) => void) | undefined
  const onOutput = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue
      tail.push(line)
      if (tail.length > 40) tail.shift()
      const m = /Listening on ([^\s]+):(\d+)/.exec(line)
      if (m !== null) listening?.(Number(m[2]))
    }
  }
  child.stdout!.on("data", onOutput)
  child.stderr!.on("data", onOutput)

  // If the parent exits without stopping us, still let anvil dump its state and go.
  const onParentExit = () => {
    child.kill("SIGTERM")
  }
  process.once("exit", onParentExit)

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off("exit", onParentExit)
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill("SIGTERM")
      if (!(await waitForExit(child, stopGraceMs))) {
        child.kill("SIGKILL")
        await waitForExit(child, 5_000)
      }
    })()
    return stopping
  }

  const failStart = async (reason: AnvilError["reason"], detail: string): Promise<never> => {
    await stop()
    throw new AnvilError({ reason, detail: `${detail}\n${tail.slice(-10).join("\n")}` })
  }

  const port = await new Promise<number | AnvilError>((resolve) => {
    // Decided after the I/O already waiting: when this process's event loop was blocked past the timeout (a
    // synchronous child process beside the start, a loaded machine), timers run before pending pipe reads, and a
    // "Listening on" line sitting in the pipe lost to the timer.
    const timer = setTimeout(
      () => setImmediate(() => resolve(new AnvilError({ reason: "Timeout", detail: `no "Listening on" within ${startTimeoutMs} ms` }))),
      startTimeoutMs
    )
    listening = (p) => {
      clearTimeout(timer)
      resolve(p)
    }
    child.once("error", (e) => {
      clearTimeout(timer)
      resolve(new AnvilError({ reason: "StartFailed", detail: e.message }))
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      resolve(new AnvilError({ reason: "StartFailed", detail: `exited early (code ${code}, signal ${signal})` }))
    })
  })
  if (port instanceof AnvilError) return failStart(port.reason, port.detail)

  const rpcUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}`
  // Listening is not answering yet: ask for the chain id, backing off from 10 ms to 200 ms, until the start timeout.
  const answered = await Effect.runPromiseExit(
    Effect.tryPromise({ try: () => jsonRpc<string>(rpcUrl, "eth_chainId", [], 2_000), catch: (e) => e }).pipe(
      Effect.retry({ schedule: Schedule.min([Schedule.exponential("10 millis"), Schedule.spaced("200 millis")]).pipe(Schedule.upTo({ duration: Duration.millis(startTimeoutMs) })) })
    )
  )
  if (Exit.isFailure(answered)) return failStart("Timeout", `JSON-RPC at ${rpcUrl} did not answer: ${String(Cause.squash(answered.cause))}`)
  if (BigInt(answered.value) !== BigInt(chainId)) {
    return failStart("StartFailed", `chain id ${BigInt(answered.value)} from the node, expected ${chainId} (state file of another chain?)`)
  }

  return { rpcUrl, host, port, chainId, pid: child.pid!, statePath, recentOutput: () => [...tail], stop }
}

/** anvil as a scoped resource: started on acquire, stopped gracefully when the scope closes. */
export const anvil = (options: AnvilOptions = {}): Effect.Effect<Anvil, AnvilError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startAnvil(options),
      catch: (e) => (e instanceof AnvilError ? e : new AnvilError({ reason: "StartFailed", detail: String(e) }))
    }),
    // Stopping must not fail the scope: a node that does not stop cleanly is reported.
    (node) => Effect.tryPromise(() => node.stop()).pipe(Effect.catch((error) => Effect.logWarning("anvil did not stop cleanly", error.cause)))
  )

/** Gives each account `wei` on an anvil chain (anvil_setBalance; other nodes do not offer it). */
export const fundAccounts = async (rpcUrl: string, accounts: ReadonlyArray<string>, wei: bigint = 10n ** 21n): Promise<void> => {
  try {
    for (const account of accounts) await jsonRpc(rpcUrl, "anvil_setBalance", [account, `0x${wei.toString(16)}`])
  } catch (e) {
    throw new AnvilError({ reason: "RpcFailed", detail: `anvil_setBalance: ${e instanceof Error ? e.message : String(e)}` })
  }
}
