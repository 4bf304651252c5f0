/**
 * `jointly task submit | watch | cancel | get | list`: a task's life against a running coordinator, through the
 * typed client, signed in as the account whose key is in `--key-env` (Sign-In with Ethereum). Results on stdout:
 * tables by default, one JSON document with `--format json` (or `--json`), the result's main table with
 * `--format csv`; status lines and progress bars on stderr (bars only on a terminal, nothing at all with json or
 * csv off a terminal).
 */
import { readFile } from "node:fs/promises"
import { Schema } from "effect"
import { Wallet } from "ethers"
import { Status } from "@jointly/core/internal/task/Lifecycle"
import { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import type { Trust } from "@jointly/core/internal/net/Endpoint"
import * as Client from "../client/Client.ts"
import * as ProgressBar from "./ProgressBar.ts"
import * as ResultTables from "./ResultTables.ts"

/** A task file for `task submit`: a spec without its initiator (the signing key's address); nonce optional. */
const { initiator: _initiator, nonce: _nonce, ...draftFields } = TaskSpec.fields
export const TaskDraft = Schema.Struct({ ...draftFields, nonce: Schema.optional(Schema.String) })

export const formats = ["table", "json", "csv"] as const
export type Format = (typeof formats)[number]

export interface Common {
  readonly coordinator: string
  /** `--ca <file>` read, `--allow-insecure` (core/src/net/Endpoint.ts). */
  readonly trust?: Trust
  /** Machine output (json or csv): no status lines, nothing but the document on stdout. */
  readonly json: boolean
  /** How a task's result prints: tables (default), the JSON document, or its main table as CSV. */
  readonly format?: Format
  /**
   * The member's wallet (signs in; signs submissions), opened at the process's edge from `--keystore` or the
   * `--key-env` variable; none for a command that only reads what needs no sign-in.
   */
  readonly signer?: Wallet
}

/**
 * The member's wallet from `--key-env <VAR>`: `env` is the environment the process's edge read (the key is in
 * `env[keyEnv]`); every route but health, the OpenAPI document and nonces needs one.
 */
export const walletOf = (keyEnv: string | undefined, env: Readonly<Record<string, string | undefined>>): Wallet | undefined => {
  if (keyEnv === undefined) return undefined
  const key = env[keyEnv]
  if (!key) throw new Error(`--key-env ${keyEnv}: the variable is not set (it holds the member's private key)`)
  return new Wallet(key)
}

const clientOf = (options: Common) => Client.make({ url: options.coordinator, trust: options.trust, initiator: options.signer })

const out = (value: unknown) => process.stdout.write(JSON.stringify(value, null, 2) + "\n")

/** The summary a watch ends with: everything a script needs, nothing of the event log. */
export const summary = (detail: Client.TaskOutcome) => ({
  taskId: detail.id,
  kind: detail.kind,
  status: detail.status,
  reason: detail.reason,
  result: detail.result,
  resultDigest: detail.resultDigest,
  chain: detail.chain.map((c) => ({ op: c.op, status: c.status, txHash: c.txHash, blockNumber: c.blockNumber }))
})

const humanSummary = (detail: Client.TaskOutcome) =>
  [
    `task ${detail.id}`,
    `status ${detail.status}${detail.reason ? ` — ${detail.reason}` : ""}`,
    ...(detail.result === null || detail.result === undefined ? [] : ["", ResultTables.renderText(ResultTables.tablesOf(detail.result))]),
    `result digest ${detail.resultDigest ?? "—"}; ${detail.chain.length} chain records`
  ].join("\n") + "\n"

/** Prints a task as `options` ask: its JSON document, its result's main table as CSV, or tables. */
const print = (options: Common, detail: Client.TaskOutcome, document: unknown) => {
  const format = options.format ?? (options.json ? "json" : "table")
  if (format === "json") out(document)
  else if (format === "csv") process.stdout.write(detail.result === null || detail.result === undefined ? "" : ResultTables.renderCsv(ResultTables.tablesOf(detail.result)))
  else process.stdout.write(humanSummary(detail))
}

export const watch = async (options: Common & { id: string; timeoutMs?: number }) => {
  const client = clientOf(options)
  const renderer = ProgressBar.make(process.stderr, { lines: !options.json })
  const detail = await client.watch(options.id, {
    onStatus: (status) => renderer.line(`task ${status}`),
    onProgress: renderer.progress,
    timeoutMs: options.timeoutMs
  }).finally(renderer.done)
  print(options, detail, summary(detail))
  if (detail.status !== "Succeeded") process.exitCode = 1
  return detail
}

export const submit = async (options: Common & { file: string; watch: boolean }) => {
  if (options.signer === undefined) throw new Error("task submit signs as the initiator: give --keystore <file> or --key-env <VAR>")
  const decoded = Schema.decodeUnknownExit(TaskDraft)(JSON.parse(await readFile(options.file, "utf8")))
  if (decoded._tag === "Failure") throw new Error(`task file ${options.file}: ${String(decoded.cause)}`)
  const client = clientOf(options)
  const { taskId } = await client.submit(decoded.value as Client.TaskDraft)
  if (options.watch) {
    if (!options.json) process.stderr.write(`» task ${taskId} submitted\n`)
    return watch({ ...options, id: taskId })
  }
  if (options.json) out({ taskId })
  else process.stdout.write(`${taskId}\n`)
}

export const cancel = async (options: Common & { id: string; reason?: string }) => {
  const cancelled = await clientOf(options).cancel(options.id, options.reason)
  if (options.json) out(cancelled)
  else process.stdout.write(`task ${cancelled.taskId} ${cancelled.status}\n`)
}

export const get = async (options: Common & { id: string }) => {
  const client = clientOf(options)
  const metadata = await client.get(options.id)
  // The result only for its recipients: anyone else sees the metadata with `result: null`.
  const outcome = metadata.status === "Succeeded" ? await client.result(options.id).catch(() => undefined) : undefined
  const detail = { ...metadata, result: outcome?.result ?? null }
  print(options, detail, detail)
}

export const list = async (options: Common & { status?: string; limit?: number }) => {
  const status = options.status === undefined ? undefined : Schema.decodeUnknownSync(Status)(options.status)
  const tasks = await clientOf(options).list({ status, limit: options.limit })
  if (options.json) out({ tasks: tasks.map((t) => ({ id: t.id, kind: t.kind, status: t.status, name: t.spec.name ?? null, createdAt: t.createdAt })) })
  else process.stdout.write(tasks.map((t) => `${t.id}  ${t.status.padEnd(15)} ${t.kind.padEnd(24)} ${t.spec.name ?? ""}`).join("\n") + (tasks.length ? "\n" : ""))
}
