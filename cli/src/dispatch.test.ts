/**
 * How `jointly`'s arguments become its commands' options, without a chain or a process: `dispatch` with recording
 * command modules. The commands themselves run against a real cluster in the coordinator's Governance test (in
 * process, options given directly), so this is what checks the flags a user types reach them, and that a bad one is
 * refused, by name, before any command runs.
 */
import { describe, expect, it } from "vitest"
import { dispatch, type Env, type Modules, UsageError } from "./dispatch.ts"

interface Call {
  readonly command: string
  readonly options: unknown
}

/** Command modules whose every function records its options (`Module.function`) and does nothing else. */
const recording = () => {
  const calls: Array<Call> = []
  const module = (name: string) => async () =>
    // No `then`: the loader's promise would take the module for a thenable and never resolve.
    new Proxy({}, { get: (_target, fn) => (fn === "then" ? undefined : async (options: unknown) => void calls.push({ command: `${name}.${String(fn)}`, options })) })
  const modules = Object.fromEntries(
    (["Chain", "Coordinate", "Governance", "Keys", "Membership", "Operator", "RunLocal", "Features"] as const).map((name) => [name, module(name)])
  ) as unknown as Modules
  return { calls, modules }
}

const passphrase = "correct horse"
const env: Env = { JOINTLY_KEY_PASSPHRASE: passphrase }
const config = "north/participant.json"
const address = "0x00000000000000000000000000000000000000a1"
const other = "0x00000000000000000000000000000000000000b2"

const run = async (argv: ReadonlyArray<string>, environment: Env = env) => {
  const { calls, modules } = recording()
  await dispatch(argv, environment, modules)
  return calls
}

describe("dispatch: the arguments each command receives", () => {
  // Each row: the command line, the one command it calls and its exact options (absent flags stay undefined).
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, Record<string, unknown>]> = [
    [["governance", "propose-upgrade", "registry", "--config", config, "--hours", "48"], "Governance.governance", { action: "propose-upgrade", arg: "registry", config, passphrase, hours: 48 }],
    [["governance", "vote", "7", "no", "--config", config], "Governance.governance", { action: "vote", arg: "7", support: "no", config, passphrase }],
    [["member", "join", `0x${"ab".repeat(32)}`, "--config", config], "Membership.member", { action: "join", arg: `0x${"ab".repeat(32)}`, config, passphrase }],
    [["member", "show", "--config", config], "Membership.member", { action: "show", config, passphrase }],
    [["supervise", "approve-join", address, "--data-dir", "ops", "--rpc-url", "http://rpc"], "Membership.approveJoin", { account: address, dataDir: "ops", rpcUrl: "http://rpc" }],
    [
      ["grant", "request", "--config", config, "--owner", address, "--dataset", "bcw", "--purpose", "statistics.*", "--scope", "scope.json", "--hours", "24", "--max-uses", "3"],
      "Governance.grant",
      { action: "request", config, passphrase, owner: address, dataset: "bcw", purpose: "statistics.*", scope: "scope.json", hours: 24, maxUses: 3 }
    ],
    [["grant", "decide", "0x05", "--config", config, "--approve", "--scope", "narrow.json", "--reason", "audit done"], "Governance.grant", { action: "decide", token: "0x05", config, passphrase, scope: "narrow.json", reason: "audit done", approve: true }],
    [["grant", "decide", "0x05", "--config", config, "--reject"], "Governance.grant", { action: "decide", token: "0x05", config, passphrase, reject: true }],
    [["settlement", "post", "--task", "0x0t", "--price", "100", "--uses", "2", "--config", config], "Governance.settlement", { action: "post", task: "0x0t", price: "100", uses: "2", config, passphrase }],
    [["settlement", "dispute", "0x0s", "--reason", "my share is wrong", "--config", config], "Governance.settlement", { action: "dispute", id: "0x0s", reason: "my share is wrong", config, passphrase }],
    [
      ["settlement", "arbitrate", "0x0s", "uphold", "--reason", "recomputed", "--data-dir", "ops", "--rpc-url", "http://rpc"],
      "Governance.settlement",
      { action: "arbitrate", id: "0x0s", verdict: "uphold", reason: "recomputed", dataDir: "ops", rpcUrl: "http://rpc", passphrase }
    ],
    [["did", "rotate-login-key", address, "--next", other, "--config", config], "Governance.did", { action: "rotate-login-key", arg: address, next: other, config, passphrase }],
    [["did", "add-consent-key", other, "--days", "30", "--config", config], "Governance.did", { action: "add-consent-key", arg: other, config, passphrase, days: 30 }],
    [["files", "share", "report.pdf", "--name", "Q3 report", "--fee", "5", "--config", config], "Governance.files", { action: "share", arg: "report.pdf", config, passphrase, name: "Q3 report", fee: "5", watch: false }],
    [["files", "serve", "--watch", "--listen", "/ip4/127.0.0.1/tcp/0", "--config", config], "Governance.files", { action: "serve", config, passphrase, listen: "/ip4/127.0.0.1/tcp/0", watch: true }],
    [
      ["files", "fetch", "bafycid", "--out", "copy.pdf", "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer", "--wait", "10", "--config", config],
      "Governance.files",
      { action: "fetch", arg: "bafycid", config, passphrase, out: "copy.pdf", ipfsPeer: "/ip4/10.0.0.1/tcp/4001/p2p/peer", watch: false, waitSeconds: 10 }
    ],
    [["files", "dispute", "0x0r", "--reason", "no key came", "--config", config], "Governance.files", { action: "dispute", arg: "0x0r", config, passphrase, reason: "no key came", watch: false }],
    [["files", "arbitrate", "0x0r", "reject", "--reason", "key delivered", "--data-dir", "ops", "--rpc-url", "http://rpc"], "Governance.filesArbitrate", { id: "0x0r", verdict: "reject", reason: "key delivered", dataDir: "ops", rpcUrl: "http://rpc" }],
    [
      ["originals", "fetch", "0x0t", "img-7", "--out", "img.png", "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer", "--wait", "5", "--config", config],
      "Governance.originals",
      { action: "fetch", arg: "0x0t", record: "img-7", config, passphrase, out: "img.png", ipfsPeer: "/ip4/10.0.0.1/tcp/4001/p2p/peer", waitSeconds: 5 }
    ],
    [["certify", "data.csv", "--config", config, "--reader", address, "--reader", other, "--out", "data.cert.json"], "Governance.certify", { file: "data.csv", out: "data.cert.json", config, passphrase, readers: [address, other] }],
    [["certify", "data.csv", "--data-dir", "ops", "--rpc-url", "http://rpc", "--meta", "meta.json"], "Governance.certify", { file: "data.csv", meta: "meta.json", passphrase, dataDir: "ops", rpcUrl: "http://rpc" }],
    [
      ["certify", "--verify", "data.csv", "--cert", "data.cert.json", "--rpc-url", "http://rpc", "--config", config, "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer", "--out", "opened.csv"],
      "Governance.certifyVerify",
      { file: "data.csv", cert: "data.cert.json", rpcUrl: "http://rpc", config, passphrase, ipfsPeer: "/ip4/10.0.0.1/tcp/4001/p2p/peer", out: "opened.csv" }
    ],
    [["catalog", "publish", "--config", config, "--dataset", "bcw", "--retire"], "Governance.catalogPublish", { config, dataset: "bcw", retire: true, passphrase }]
  ]

  it.each(cases)("%j", async (argv, command, options) => {
    const calls = await run(argv)
    expect(calls).toEqual([{ command, options }])
    // Every option the command got is one the row names (toEqual alone lets an extra undefined one through).
    expect(Object.keys(calls[0]!.options as object).filter((k) => (calls[0]!.options as Record<string, unknown>)[k] !== undefined).sort()).toEqual(Object.keys(options).sort())
  })

  it("takes the keystore's passphrase from JOINTLY_KEY_PASSPHRASE only, and none when it is unset", async () => {
    const argv = ["governance", "show", "3", "--config", config]
    expect(await run(argv, {})).toEqual([{ command: "Governance.governance", options: { action: "show", arg: "3", config, passphrase: undefined } }])
    expect(await run(argv, { JOINTLY_COORDINATOR_KEY_PASSPHRASE: "the coordinator's" })).toEqual([{ command: "Governance.governance", options: { action: "show", arg: "3", config, passphrase: undefined } }])
    expect(await run(argv, { JOINTLY_KEY_PASSPHRASE: "the member's" })).toEqual([{ command: "Governance.governance", options: { action: "show", arg: "3", config, passphrase: "the member's" } }])
  })
})

describe("dispatch: a bad argument is refused by name and no command runs", () => {
  // Each row: the command line and what the refusal must say. Options the commands check themselves (an address,
  // an action's own arguments) are theirs to refuse, not the mapping's.
  const usage: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
    [["governance", "--config", config], "governance needs propose-upgrade, vote, close, execute or show"],
    [["governance", "propose-upgrade", "ledger", "--config", config, "--hours", "0"], "--hours expects a whole number ≥ 1, got 0"],
    [["governance", "propose-upgrade", "ledger", "--config", config, "--hours", "1.5"], "--hours expects a whole number ≥ 1, got 1.5"],
    [["member", "--config", config], "member needs join, endorse or show"],
    [["grant", "--config", config], "grant needs request, decide, revoke or show"],
    [["grant", "request", "--config", config, "--hours", "a day"], "--hours expects a whole number ≥ 1, got a day"],
    [["grant", "request", "--config", config, "--max-uses", "0"], "--max-uses expects a whole number ≥ 1, got 0"],
    [["settlement", "--config", config], "settlement needs post, show, dispute, finalize or arbitrate"],
    [["did", "--config", config], "did needs show, add-login-key"],
    [["did", "add-login-key", address, "--days", "0", "--config", config], "--days expects a whole number ≥ 1, got 0"],
    [["files", "--config", config], "files needs share, serve, fetch, dispute, arbitrate, show, withdraw or refund"],
    [["files", "fetch", "bafycid", "--out", "o", "--wait", "soon", "--config", config], "--wait expects a whole number ≥ 1, got soon"],
    [["originals", "fetch", "0x0t", "img", "--wait", "0", "--config", config], "--wait expects a whole number ≥ 1, got 0"],
    [["certify", "--config", config], "certify needs <file>"],
    [["certify", "--verify", "data.csv", "--rpc-url", "http://rpc"], "certify --verify needs --cert and --rpc-url"],
    [["certify", "--verify", "data.csv", "--cert", "data.cert.json"], "certify --verify needs --cert and --rpc-url"],
    [["catalog", "publish", "--config", config], "catalog publish needs --config and --dataset"],
    [["frobnicate"], "unknown command frobnicate"]
  ]

  it.each(usage)("%j", async (argv, message) => {
    const { calls, modules } = recording()
    const refused = dispatch(argv, env, modules)
    await expect(refused).rejects.toBeInstanceOf(UsageError)
    await expect(refused).rejects.toThrow(message)
    expect(calls).toEqual([])
  })

  // node:util's parseArgs refuses these itself (exit 1, its own error code), before dispatch looks at the rest.
  const parse: ReadonlyArray<readonly [ReadonlyArray<string>, string, string]> = [
    [["governance", "vote", "7", "yes", "--confg", config], "ERR_PARSE_ARGS_UNKNOWN_OPTION", "--confg"],
    [["certify", "data.csv", "--config", config, "--reader"], "ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "--reader"],
    [["did", "show", "--config", config, "--next"], "ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "--next"],
    [["files", "share", "f", "--watch=yes", "--config", config], "ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "--watch"]
  ]

  it.each(parse)("%j", async (argv, code, flag) => {
    const { calls, modules } = recording()
    const refused = dispatch(argv, env, modules)
    await expect(refused).rejects.toMatchObject({ code })
    await expect(refused).rejects.toThrow(flag)
    expect(calls).toEqual([])
  })
})
