/**
 * How `jointly`'s arguments become its commands' options, without a chain or a process: `dispatch` with recording
 * command modules. The commands themselves run against a real cluster in the coordinator's Governance test (in
 * process, options given directly), so this is what checks the flags a user types reach them, and that a bad one is
 * refused, by name, before any command runs. Every key, passphrase and variable a command gets is the `env` argument's
 * (the process's edge, main.ts, hands it `process.env`): the keys here sit in variables this process does not have.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as AccountKeystore from "@jointly/coordinator/internal/keys/AccountKeystore"
import * as TaskCli from "@jointly/coordinator/internal/cli/task"
import { dispatch, type Env, type Modules, UsageError } from "./dispatch.ts"

interface Call {
  readonly command: string
  readonly options: unknown
}

/**
 * Command modules whose every function records its options (`Module.function`; all its arguments when it takes
 * more than one) and does nothing else. A module's values that are not functions (the task formats) are the real ones.
 */
const recording = () => {
  const calls: Array<Call> = []
  const statics: Record<string, object> = { Task: TaskCli }
  const module = (name: string) => async () =>
    new Proxy({}, {
      get: (_target, fn) => {
        // No `then`: the loader's promise would take the module for a thenable and never resolve.
        if (fn === "then") return undefined
        const real = (statics[name] as Record<string | symbol, unknown> | undefined)?.[fn]
        if (real !== undefined && typeof real !== "function") return real
        return async (...args: ReadonlyArray<unknown>) => void calls.push({ command: `${name}.${String(fn)}`, options: args.length === 1 ? args[0] : args })
      }
    })
  const modules = Object.fromEntries(
    (["Chain", "ChainRisk", "Coordinate", "Governance", "Keys", "LocalUp", "Membership", "Operator", "Participant", "RunLocal", "Task", "Features"] as const).map((name) => [name, module(name)])
  ) as unknown as Modules
  return { calls, modules }
}

/**
 * A recorded value as a row names it: options left undefined dropped (so a row names exactly the options a command
 * got), and a wallet as `wallet <its address>` (the account a command would sign with).
 */
const plain = (value: unknown): unknown => {
  if (value instanceof Wallet) return `wallet ${value.address}`
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, plain(v)]))
  return value
}

const passphrase = "correct horse"
// The analyst's key sits in a variable only the `env` argument holds: read from the process, it is not set.
const analystKey = `0x${"11".repeat(32)}`
const analyst = `wallet ${new Wallet(analystKey).address}`
const env: Env = { JOINTLY_KEY_PASSPHRASE: passphrase, DISPATCH_TEST_ANALYST_KEY: analystKey }
// What a --config command opens the participant's config with: the passphrase and the environment, both the argument's.
const member = { passphrase, env }
const config = "north/participant.json"
const address = "0x00000000000000000000000000000000000000a1"
const other = "0x00000000000000000000000000000000000000b2"

// An operator keystore (cheap scrypt) that opens with `passphrase` only, and a CA file for --ca / JOINTLY_CA.
const dir = mkdtempSync(join(tmpdir(), "jointly-dispatch-"))
const keystore = join(dir, "supervisor.json")
const supervisorKey = `0x${"22".repeat(32)}`
const supervisor = `wallet ${new Wallet(supervisorKey).address}`
const caFile = join(dir, "ca.pem")
const ca = "-----BEGIN CERTIFICATE-----\nthe consortium's CA\n-----END CERTIFICATE-----\n"
beforeAll(async () => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(caFile, ca)
  await AccountKeystore.save(keystore, supervisorKey, passphrase, { scryptN: 1 << 10 })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = async (argv: ReadonlyArray<string>, environment: Env = env) => {
  const { calls, modules } = recording()
  await dispatch(argv, environment, modules)
  return calls.map((call) => ({ command: call.command, options: plain(call.options) }))
}

const coordinatorUrl = "https://coordinator.example:8443"

describe("dispatch: the arguments each command receives", () => {
  // Each row: the command line, the one command it calls and its exact options (absent flags stay undefined).
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string, unknown, Env?]> = [
    [["governance", "propose-upgrade", "registry", "--config", config, "--hours", "48"], "Governance.governance", { action: "propose-upgrade", arg: "registry", config, ...member, hours: 48 }],
    [["governance", "vote", "7", "no", "--config", config], "Governance.governance", { action: "vote", arg: "7", support: "no", config, ...member }],
    [["member", "join", `0x${"ab".repeat(32)}`, "--config", config], "Membership.member", { action: "join", arg: `0x${"ab".repeat(32)}`, config, ...member }],
    [["member", "show", "--config", config], "Membership.member", { action: "show", config, ...member }],
    [["supervise", "approve-join", address, "--data-dir", "ops", "--rpc-url", "http://rpc"], "Membership.approveJoin", { account: address, dataDir: "ops", rpcUrl: "http://rpc" }],
    [
      ["grant", "request", "--config", config, "--owner", address, "--dataset", "bcw", "--purpose", "statistics.*", "--scope", "scope.json", "--hours", "24", "--max-uses", "3"],
      "Governance.grant",
      { action: "request", config, ...member, owner: address, dataset: "bcw", purpose: "statistics.*", scope: "scope.json", hours: 24, maxUses: 3 }
    ],
    [["grant", "decide", "0x05", "--config", config, "--approve", "--scope", "narrow.json", "--reason", "audit done"], "Governance.grant", { action: "decide", token: "0x05", config, ...member, scope: "narrow.json", reason: "audit done", approve: true }],
    [["grant", "decide", "0x05", "--config", config, "--reject"], "Governance.grant", { action: "decide", token: "0x05", config, ...member, reject: true }],
    [["settlement", "post", "--task", "0x0t", "--price", "100", "--uses", "2", "--config", config], "Governance.settlement", { action: "post", task: "0x0t", price: "100", uses: "2", config, ...member }],
    [["settlement", "dispute", "0x0s", "--reason", "my share is wrong", "--config", config], "Governance.settlement", { action: "dispute", id: "0x0s", reason: "my share is wrong", config, ...member }],
    [
      ["settlement", "arbitrate", "0x0s", "uphold", "--reason", "recomputed", "--data-dir", "ops", "--rpc-url", "http://rpc"],
      "Governance.settlement",
      { action: "arbitrate", id: "0x0s", verdict: "uphold", reason: "recomputed", dataDir: "ops", rpcUrl: "http://rpc", ...member }
    ],
    [["did", "rotate-login-key", address, "--next", other, "--config", config], "Governance.did", { action: "rotate-login-key", arg: address, next: other, config, ...member }],
    [["did", "add-consent-key", other, "--days", "30", "--config", config], "Governance.did", { action: "add-consent-key", arg: other, config, ...member, days: 30 }],
    [["files", "share", "report.pdf", "--name", "Q3 report", "--fee", "5", "--config", config], "Governance.files", { action: "share", arg: "report.pdf", config, ...member, name: "Q3 report", fee: "5", watch: false }],
    [["files", "serve", "--watch", "--listen", "/ip4/127.0.0.1/tcp/0", "--config", config], "Governance.files", { action: "serve", config, ...member, listen: "/ip4/127.0.0.1/tcp/0", watch: true }],
    [
      ["files", "fetch", "bafycid", "--out", "copy.pdf", "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer", "--wait", "10", "--config", config],
      "Governance.files",
      { action: "fetch", arg: "bafycid", config, ...member, out: "copy.pdf", ipfsPeer: "/ip4/10.0.0.1/tcp/4001/p2p/peer", watch: false, waitSeconds: 10 }
    ],
    [["files", "dispute", "0x0r", "--reason", "no key came", "--config", config], "Governance.files", { action: "dispute", arg: "0x0r", config, ...member, reason: "no key came", watch: false }],
    [["files", "arbitrate", "0x0r", "reject", "--reason", "key delivered", "--data-dir", "ops", "--rpc-url", "http://rpc"], "Governance.filesArbitrate", { id: "0x0r", verdict: "reject", reason: "key delivered", dataDir: "ops", rpcUrl: "http://rpc" }],
    [
      ["originals", "fetch", "0x0t", "img-7", "--out", "img.png", "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer", "--wait", "5", "--config", config],
      "Governance.originals",
      { action: "fetch", arg: "0x0t", record: "img-7", config, ...member, out: "img.png", ipfsPeer: "/ip4/10.0.0.1/tcp/4001/p2p/peer", waitSeconds: 5 }
    ],
    [["certify", "data.csv", "--config", config, "--reader", address, "--reader", other, "--out", "data.cert.json"], "Governance.certify", { file: "data.csv", out: "data.cert.json", config, ...member, readers: [address, other] }],
    [["certify", "data.csv", "--data-dir", "ops", "--rpc-url", "http://rpc", "--meta", "meta.json"], "Governance.certify", { file: "data.csv", meta: "meta.json", ...member, dataDir: "ops", rpcUrl: "http://rpc" }],
    [
      ["certify", "--verify", "data.csv", "--cert", "data.cert.json", "--rpc-url", "http://rpc", "--config", config, "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer", "--out", "opened.csv"],
      "Governance.certifyVerify",
      { file: "data.csv", cert: "data.cert.json", rpcUrl: "http://rpc", config, ...member, ipfsPeer: "/ip4/10.0.0.1/tcp/4001/p2p/peer", out: "opened.csv" }
    ],
    [["catalog", "publish", "--config", config, "--dataset", "bcw", "--retire"], "Governance.catalogPublish", { config, dataset: "bcw", retire: true, ...member }],
    // The rest of every command: signers opened from the `env` argument (a key in a variable, a keystore with its
    // passphrase), CA files read, flags decoded.
    [["catalog", "search", "breast", "cancer", "--url", coordinatorUrl, "--key-env", "DISPATCH_TEST_ANALYST_KEY", "--all"], "Governance.catalogSearch", { url: coordinatorUrl, q: "breast cancer", all: true, signer: analyst, trust: {} }],
    [["catalog", "search", "bcw", "--url", coordinatorUrl, "--keystore", keystore, "--ca", caFile], "Governance.catalogSearch", { url: coordinatorUrl, q: "bcw", all: false, signer: supervisor, trust: { ca } }],
    [["supervise", "members", "--url", coordinatorUrl, "--key-env", "DISPATCH_TEST_ANALYST_KEY", "--allow-insecure"], "Governance.supervise", { what: "members", url: coordinatorUrl, signer: analyst, trust: { allowInsecure: true } }],
    [["supervise", "tasks", "--url", coordinatorUrl, "--data-dir", "ops"], "Governance.supervise", { what: "tasks", url: coordinatorUrl, dataDir: "ops", trust: { ca } }, { JOINTLY_CA: caFile }],
    [["supervise", "suspend", address, "--data-dir", "ops", "--rpc-url", "http://rpc", "--reason", "dossier lapsed"], "Governance.supervise", { what: "suspend", org: address, dataDir: "ops", rpcUrl: "http://rpc", reason: "dossier lapsed", trust: {} }],
    [["supervise", "pause", "ledger", "--data-dir", "ops", "--rpc-url", "http://rpc"], "Governance.supervise", { what: "pause", org: "ledger", dataDir: "ops", rpcUrl: "http://rpc", trust: {} }],
    [
      ["supervise", "audit", address, other, "--keystore", "supervisor.json", "--deployment", "deployment.json", "--rpc-url", "http://rpc"],
      "Operator.superviseWithKeystore",
      { what: "audit", targets: [address, other], keystore: "supervisor.json", passphrase, deployment: "deployment.json", rpcUrl: "http://rpc", revoke: false, fund: false }
    ],
    [
      ["supervise", "coordinator", address, "--revoke", "--fund", "--keystore", "supervisor.json", "--deployment", "deployment.json", "--rpc-url", "http://rpc"],
      "Operator.superviseWithKeystore",
      { what: "coordinator", targets: [address], keystore: "supervisor.json", passphrase, deployment: "deployment.json", rpcUrl: "http://rpc", revoke: true, fund: true }
    ],
    [
      ["supervise", "restore", "7", "--keystore", "supervisor.json", "--deployment", "deployment.json", "--rpc-url", "http://rpc", "--reason", "renewed"],
      "Operator.superviseWithKeystore",
      { what: "restore", targets: ["7"], keystore: "supervisor.json", deployment: "deployment.json", rpcUrl: "http://rpc", reason: "renewed", revoke: false, fund: false },
      {}
    ],
    [
      ["verify", "0x0t", "--url", coordinatorUrl, "--rpc-url", "http://rpc", "--key-env", "DISPATCH_TEST_ANALYST_KEY", "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer", "--json"],
      "Governance.verify",
      { taskId: "0x0t", url: coordinatorUrl, rpcUrl: "http://rpc", json: true, signer: analyst, trust: {}, ipfs: { peer: "/ip4/10.0.0.1/tcp/4001/p2p/peer" } }
    ],
    [["verify", "0x0t", "--url", coordinatorUrl, "--rpc-url", "http://rpc", "--keystore", keystore, "--ipfs", "http://127.0.0.1:5001"], "Governance.verify", { taskId: "0x0t", url: coordinatorUrl, rpcUrl: "http://rpc", json: false, signer: supervisor, trust: {}, ipfs: { kubo: "http://127.0.0.1:5001" } }],
    [["verify", "0x0t", "--url", coordinatorUrl, "--rpc-url", "http://rpc", "--config", config, "--ca", caFile], "Governance.verify", { taskId: "0x0t", url: coordinatorUrl, rpcUrl: "http://rpc", json: false, config, ...member, trust: { ca } }],
    [["verify", "0x0t", "--url", coordinatorUrl, "--rpc-url", "http://rpc"], "Governance.verify", { taskId: "0x0t", url: coordinatorUrl, rpcUrl: "http://rpc", json: false, signer: analyst, trust: {} }, { JOINTLY_KEY: analystKey }],
    [
      ["task", "submit", "spec.json", "--coordinator", coordinatorUrl, "--key-env", "DISPATCH_TEST_ANALYST_KEY", "--watch", "--format", "csv"],
      "Task.submit",
      { coordinator: coordinatorUrl, json: true, format: "csv", trust: {}, signer: analyst, file: "spec.json", watch: true }
    ],
    [["task", "submit", "spec.json", "--keystore", keystore, "--ca", caFile], "Task.submit", { coordinator: coordinatorUrl, json: false, format: "table", trust: { ca }, signer: supervisor, file: "spec.json", watch: false }, { ...env, JOINTLY_COORDINATOR: coordinatorUrl }],
    [["task", "watch", "0x0t", "--coordinator", coordinatorUrl, "--json"], "Task.watch", { coordinator: coordinatorUrl, json: true, format: "json", trust: {}, signer: analyst, id: "0x0t" }, { JOINTLY_KEY: analystKey }],
    [["task", "cancel", "0x0t", "--coordinator", coordinatorUrl, "--key-env", "DISPATCH_TEST_ANALYST_KEY", "--reason", "wrong dataset", "--allow-insecure"], "Task.cancel", { coordinator: coordinatorUrl, json: false, format: "table", trust: { allowInsecure: true }, signer: analyst, id: "0x0t", reason: "wrong dataset" }],
    [["task", "get", "0x0t", "--coordinator", coordinatorUrl], "Task.get", { coordinator: coordinatorUrl, json: false, format: "table", trust: {}, id: "0x0t" }, {}],
    [["task", "list", "--status", "Running", "--limit", "5", "--key-env", "DISPATCH_TEST_ANALYST_KEY", "--format", "json"], "Task.list", { coordinator: coordinatorUrl, json: true, format: "json", trust: { ca }, signer: analyst, status: "Running", limit: 5 }, { ...env, JOINTLY_COORDINATOR: coordinatorUrl, JOINTLY_CA: caFile }],
    [
      ["run", "--local", "--task", "task.json", "--party", "north=north.csv", "--party", "south=south.csv", "--json", "--data-dir", "cluster", "--keep"],
      "RunLocal.run",
      { task: "task.json", parties: ["north=north.csv", "south=south.csv"], json: true, dataDir: "cluster", keep: true, logLevel: "warn" }
    ],
    [["run", "--local", "--task", "task.json", "--party", "north=north.csv", "--party", "south=south.csv"], "RunLocal.run", { task: "task.json", parties: ["north=north.csv", "south=south.csv"], json: false, keep: false, logLevel: "debug" }, { JOINTLY_LOG: "debug" }],
    [["local", "up", "--task", "task.json", "--party", "north=north.csv", "--party", "south=south.csv", "--data-dir", "cluster"], "LocalUp.up", { task: "task.json", parties: ["north=north.csv", "south=south.csv"], json: false, dataDir: "cluster", logLevel: "error" }, { JOINTLY_LOG: "error" }],
    [["participant", "--config", config], "Participant.run", [config, { unsafeTestKeySizes: false, passphrase, env }]],
    [
      ["participant", "--config", config, "--unsafe-test-key-sizes"],
      "Participant.run",
      [config, { unsafeTestKeySizes: true, passphrase, env: { ...env, JOINTLY_TEST_EXIT_AFTER_STAGE: "secagg.masked-input" }, testExitAfterStage: "secagg.masked-input" }],
      { ...env, JOINTLY_TEST_EXIT_AFTER_STAGE: "secagg.masked-input" }
    ],
    [["coordinator", "--config", "coordinator.json"], "Coordinate.run", { config: "coordinator.json", env }],
    [["coordinator"], "Coordinate.run", { env: { JOINTLY_COORDINATOR_PORT: "8443" } }, { JOINTLY_COORDINATOR_PORT: "8443" }],
    [["keys", "new", "--out", "analyst.json"], "Keys.keysNew", { out: "analyst.json", passphrase }],
    [["keys", "new", "--out", "analyst.json", "--passphrase-env", "ANALYST_PASSPHRASE"], "Keys.keysNew", { out: "analyst.json", passphrase: "the analyst's", passphraseEnv: "ANALYST_PASSPHRASE" }, { ...env, ANALYST_PASSPHRASE: "the analyst's" }],
    [["keys", "address", "analyst.json"], "Keys.keysAddress", { file: "analyst.json" }],
    [["chain", "--data-dir", "ops", "--host", "0.0.0.0", "--port", "8545"], "Chain.startChain", { dataDir: "ops", host: "0.0.0.0", port: 8545 }],
    [["chain", "--data-dir", "ops"], "Chain.startChain", { dataDir: "ops", port: 0 }],
    [["chain", "risk", "--q", "0.1", "--z", "6", "--json"], "ChainRisk.risk", { q: 0.1, z: 6, json: true }],
    [["chain", "risk", "--q", "0", "--z", "0"], "ChainRisk.risk", { q: 0, z: 0, json: false }],
    [
      ["deploy", "--data-dir", "ops", "--rpc-url", "http://rpc", "--keystore", "supervisor.json", "--coordinator", address, "--fund"],
      "Operator.deploy",
      { dataDir: "ops", rpcUrl: "http://rpc", keystore: "supervisor.json", passphrase, coordinator: address, fund: true }
    ],
    [["deploy", "--data-dir", "ops", "--rpc-url", "http://rpc", "--max-fee-gwei", "1.5"], "Chain.deploy", { dataDir: "ops", rpcUrl: "http://rpc", embedded: false, maxFeePerGasWei: 1_500_000_000n }],
    [["deploy", "--data-dir", "ops", "--rpc-url", "http://rpc", "--embedded"], "Chain.deploy", { dataDir: "ops", rpcUrl: "http://rpc", embedded: true }],
    [
      ["org", "register", "--config", config, "--name", "North Clinic", "--registration-number", "HRB 1", "--dossier", "dossier.pdf", "--deployment", "deployment.json", "--rpc-url", "http://rpc", "--fund"],
      "Operator.orgRegister",
      { config, ...member, name: "North Clinic", registrationNumber: "HRB 1", dossier: "dossier.pdf", deployment: "deployment.json", rpcUrl: "http://rpc", fund: true }
    ],
    [
      ["org", "register", "--keystore", "analyst.json", "--name", "Analyst", "--deployment", "deployment.json", "--rpc-url", "http://rpc"],
      "Operator.orgRegister",
      { keystore: "analyst.json", passphrase: "the analyst's", env: { JOINTLY_KEY_PASSPHRASE: "the analyst's" }, name: "Analyst", deployment: "deployment.json", rpcUrl: "http://rpc", fund: false },
      { JOINTLY_KEY_PASSPHRASE: "the analyst's" }
    ],
    [["member", "endorse", address, "--config", config], "Membership.member", { action: "endorse", arg: address, config, ...member }],
    [["grant", "show", "0x05", "--config", config], "Governance.grant", { action: "show", token: "0x05", config, ...member }],
    [["settlement", "finalize", "0x0s", "--config", config], "Governance.settlement", { action: "finalize", id: "0x0s", config, ...member }],
    [["did", "show", "--config", config], "Governance.did", { action: "show", config, ...member }],
    [["files", "withdraw", "--config", config], "Governance.files", { action: "withdraw", config, ...member, watch: false }],
    [["originals", "publish", "images", "--dataset", "digits", "--fee", "2", "--config", config], "Governance.originals", { action: "publish", arg: "images", config, ...member, dataset: "digits", fee: "2" }],
    [
      ["features", "mpeg7", "--in", "pixels.csv", "--width", "8", "--height", "8", "--max", "16", "--channels", "3", "--out", "features.csv", "--pixel-prefix", "px", "--id", "image", "--label", "digit", "--descriptors", "ehd,csd,rsd", "--csd-bins", "32", "--region-level", "100", "--resample", "32x32", "--json"],
      "Features.mpeg7",
      {
        source: { csv: { input: "pixels.csv", layout: { width: 8, height: 8, channels: 3, max: 16 }, pixelPrefix: "px", idColumn: "image", labelColumn: "digit" } },
        out: "features.csv",
        options: { descriptors: ["ehd", "csd", "rsd"], csdBins: 32, regionLevel: 100, resample: { width: 32, height: 32 } },
        json: true
      }
    ],
    [["features", "mpeg7", "--png-dir", "images", "--out", "features.csv"], "Features.mpeg7", { source: { pngDirectory: "images" }, out: "features.csv", options: { descriptors: ["ehd"] }, json: false }]
  ]

  it.each(cases.map(([argv, command, options, environment]) => ({ argv, command, options, environment })))("$argv", async ({ argv, command, options, environment }) => {
    // toStrictEqual on the plain form: every option the command got is one the row names, and no other.
    expect(await run(argv, environment)).toStrictEqual([{ command, options }])
  })

  it("takes the keystore's passphrase from JOINTLY_KEY_PASSPHRASE only, and none when it is unset", async () => {
    const argv = ["governance", "show", "3", "--config", config]
    const unset = { JOINTLY_COORDINATOR_KEY_PASSPHRASE: "the coordinator's" }
    expect(await run(argv, {})).toStrictEqual([{ command: "Governance.governance", options: { action: "show", arg: "3", config, env: {} } }])
    expect(await run(argv, unset)).toStrictEqual([{ command: "Governance.governance", options: { action: "show", arg: "3", config, env: unset } }])
    expect(await run(argv, { JOINTLY_KEY_PASSPHRASE: "the member's" })).toStrictEqual([{ command: "Governance.governance", options: { action: "show", arg: "3", config, passphrase: "the member's", env: { JOINTLY_KEY_PASSPHRASE: "the member's" } } }])
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
    [["originals", "--config", config], "originals needs publish or fetch"],
    [["certify", "--config", config], "certify needs <file>"],
    [["certify", "--verify", "data.csv", "--rpc-url", "http://rpc"], "certify --verify needs --cert and --rpc-url"],
    [["certify", "--verify", "data.csv", "--cert", "data.cert.json"], "certify --verify needs --cert and --rpc-url"],
    [["catalog", "publish", "--config", config], "catalog publish needs --config and --dataset"],
    [["catalog", "search", "bcw", "--key-env", "DISPATCH_TEST_ANALYST_KEY"], "catalog search needs --url <coordinator>"],
    [["catalog", "--url", coordinatorUrl], "catalog needs search or publish"],
    [["catalog", "search", "bcw", "--url", coordinatorUrl, "--ca", join(dir, "absent.pem")], `--ca ${join(dir, "absent.pem")}: ENOENT`],
    [["supervise", "--url", coordinatorUrl], "supervise needs members, tasks, grants, audit"],
    [["supervise", "audit", address, "--rpc-url", "http://rpc"], "supervise audit needs <target>…, --keystore <supervisor.json>, --deployment <file> and --rpc-url"],
    [["supervise", "coordinator", "--keystore", "supervisor.json", "--deployment", "deployment.json", "--rpc-url", "http://rpc"], "supervise coordinator needs <target>…"],
    [["verify", "0x0t", "--url", coordinatorUrl], "verify needs <task-id>, --url and --rpc-url"],
    [["verify", "--url", coordinatorUrl, "--rpc-url", "http://rpc"], "verify needs <task-id>, --url and --rpc-url"],
    [["verify", "0x0t", "--url", coordinatorUrl, "--rpc-url", "http://rpc", "--ipfs", "http://127.0.0.1:5001", "--ipfs-peer", "/ip4/10.0.0.1/tcp/4001/p2p/peer"], "verify takes --ipfs <kubo rpc url> or --ipfs-peer <multiaddr>, not both"],
    [["verify", "0x0t", "--url", coordinatorUrl, "--rpc-url", "http://rpc", "--config", config, "--keystore", keystore], "verify signs in with --config <participant.json> or --keystore/--key-env, not both"],
    [["task", "list"], "task needs --coordinator <url> (or JOINTLY_COORDINATOR)"],
    [["task", "get", "0x0t", "--coordinator", coordinatorUrl, "--format", "xml"], "--format expects table, json, csv, got xml"],
    [["task", "submit", "spec.json", "--coordinator", coordinatorUrl], "task submit needs <spec.json> and --keystore <file> or --key-env <VAR>"],
    [["task", "submit", "--coordinator", coordinatorUrl, "--key-env", "DISPATCH_TEST_ANALYST_KEY"], "task submit needs <spec.json>"],
    [["task", "watch", "--coordinator", coordinatorUrl], "task watch needs <id>"],
    [["task", "cancel", "--coordinator", coordinatorUrl], "task cancel needs <id>"],
    [["task", "get", "--coordinator", coordinatorUrl], "task get needs <id>"],
    [["task", "resubmit", "0x0t", "--coordinator", coordinatorUrl], "task expects submit, watch, cancel, get or list"],
    [["task", "get", "0x0t", "--coordinator", coordinatorUrl, "--ca", join(dir, "absent.pem")], `--ca ${join(dir, "absent.pem")}: ENOENT`],
    [["run", "--task", "task.json", "--party", "north=north.csv"], "run needs --local, --task and at least two --party"],
    [["run", "--local", "--party", "north=north.csv"], "run needs --local, --task and at least two --party"],
    [["local", "down"], "local expects up"],
    [["local", "up", "--party", "north=north.csv"], "local up needs --task and at least two --party"],
    [["participant"], "participant needs --config <file>"],
    [["keys", "new"], "keys new needs --out <keystore.json>"],
    [["keys", "address"], "keys expects new --out <file> or address <file>"],
    [["keys", "rotate", "analyst.json"], "keys expects new --out <file> or address <file>"],
    [["chain", "--host", "0.0.0.0"], "chain needs --data-dir"],
    [["chain", "risk", "--q", "0.1"], "chain risk needs --q <attacker share> and --z <blocks>"],
    [["chain", "risk", "--q", "1.5", "--z", "6"], "--q expects the attacker's share of the hash power in [0, 1], got 1.5"],
    [["chain", "risk", "--q", " ", "--z", "6"], "--q expects the attacker's share of the hash power in [0, 1], got  "],
    [["chain", "risk", "--q", "0.1", "--z", "2.5"], "--z expects a whole number of blocks from 0 to 1000, got 2.5"],
    [["chain", "risk", "--q", "0.1", "--z", "1001"], "--z expects a whole number of blocks from 0 to 1000, got 1001"],
    [["deploy", "--data-dir", "ops"], "deploy needs --data-dir and --rpc-url"],
    [["deploy", "--data-dir", "ops", "--rpc-url", "http://rpc", "--keystore", "supervisor.json"], "deploy --keystore needs --coordinator <address>"],
    [["deploy", "--data-dir", "ops", "--rpc-url", "http://rpc", "--max-fee-gwei", "1.2345678901"], "--max-fee-gwei expects a number of gwei, got 1.2345678901"],
    [["deploy", "--data-dir", "ops", "--rpc-url", "http://rpc", "--max-fee-gwei", "1e9"], "--max-fee-gwei expects a number of gwei, got 1e9"],
    [["org", "join", "--config", config], "org expects register"],
    [["org", "register", "--config", config, "--deployment", "deployment.json", "--rpc-url", "http://rpc"], "org register needs --config (or --keystore), --name, --deployment and --rpc-url"],
    [["org", "register", "--name", "North", "--deployment", "deployment.json", "--rpc-url", "http://rpc"], "org register needs --config (or --keystore), --name, --deployment and --rpc-url"],
    [["features", "mpeg8", "--png-dir", "images", "--out", "f.csv"], "features needs mpeg7"],
    [["features", "mpeg7", "--png-dir", "images"], "features mpeg7 needs --out and one of --in <pixels.csv> or --png-dir <dir>"],
    [["features", "mpeg7", "--in", "p.csv", "--png-dir", "images", "--out", "f.csv"], "features mpeg7 needs --out and one of --in <pixels.csv> or --png-dir <dir>"],
    [["features", "mpeg7", "--in", "p.csv", "--width", "8", "--out", "f.csv"], "features mpeg7 --in needs --width and --height"],
    [["features", "mpeg7", "--in", "p.csv", "--width", "0", "--height", "8", "--out", "f.csv"], "--width expects a whole number ≥ 1, got 0"],
    [["features", "mpeg7", "--png-dir", "images", "--out", "f.csv", "--channels", "2"], "--channels expects 1, 3 or 4, got 2"],
    [["features", "mpeg7", "--png-dir", "images", "--out", "f.csv", "--max", "0"], "--max expects a positive number, got 0"],
    [["features", "mpeg7", "--png-dir", "images", "--out", "f.csv", "--resample", "32"], "--resample expects <width>x<height>, got 32"],
    [["features", "mpeg7", "--png-dir", "images", "--out", "f.csv", "--descriptors", "ehd,sift"], "--descriptors: unknown descriptor sift (ehd, csd, rsd)"],
    [["frobnicate"], "unknown command frobnicate"]
  ]

  it.each(usage)("%j", async (argv, message) => {
    const { calls, modules } = recording()
    const refused = dispatch(argv, env, modules)
    await expect(refused).rejects.toBeInstanceOf(UsageError)
    await expect(refused).rejects.toThrow(message)
    expect(calls).toEqual([])
  })

  // The key and the passphrase are the `env` argument's: a variable it lacks is not looked up in the process, a
  // wrong passphrase does not open the keystore; the command is not called either way.
  const keys: ReadonlyArray<readonly [ReadonlyArray<string>, Env, string]> = [
    [["task", "get", "0x0t", "--coordinator", coordinatorUrl, "--key-env", "DISPATCH_TEST_ANALYST_KEY"], {}, "--key-env DISPATCH_TEST_ANALYST_KEY: the variable is not set"],
    [["catalog", "search", "bcw", "--url", coordinatorUrl, "--key-env", "DISPATCH_TEST_OTHER_KEY"], env, "--key-env DISPATCH_TEST_OTHER_KEY: the variable is not set"],
    [["verify", "0x0t", "--url", coordinatorUrl, "--rpc-url", "http://rpc", "--keystore", keystore], {}, `keystore ${keystore}: MissingPassphrase: set the passphrase in JOINTLY_KEY_PASSPHRASE`],
    [["catalog", "search", "bcw", "--url", coordinatorUrl, "--keystore", keystore], { JOINTLY_KEY_PASSPHRASE: "wrong" }, `keystore ${keystore}: WrongPassphrase`],
    [["task", "submit", "spec.json", "--coordinator", coordinatorUrl, "--keystore", keystore], { JOINTLY_COORDINATOR_KEY_PASSPHRASE: passphrase }, "MissingPassphrase"]
  ]

  it.each(keys)("%j", async (argv, environment, message) => {
    const { calls, modules } = recording()
    await expect(dispatch(argv, environment, modules)).rejects.toThrow(message)
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
