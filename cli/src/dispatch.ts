/**
 * The `jointly` command line mapped to its commands' options: `dispatch` decodes the arguments (and the few
 * environment variables the usage names), refuses a bad one with a `UsageError` naming it before any command runs,
 * and calls the command through `Modules`. A pure mapping apart from the commands it calls, so a test can hand it
 * recording commands and see the exact options each receives (`main.ts` is the process edge around it).
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import type { Trust } from "@jointly/core/internal/net/Endpoint"
import * as Log from "@jointly/coordinator/internal/Log"

// Each command's module is imported when it runs: a participant or a `keys new` never loads the coordinator,
// the chain tooling or tfjs, which keeps every CLI start short (a host runs many).
const modules = {
  Chain: () => import("@jointly/coordinator/internal/cli/chain"),
  ChainRisk: () => import("./chain-risk.ts"),
  Coordinate: () => import("@jointly/coordinator/internal/cli/coordinator"),
  Governance: () => import("./governance.ts"),
  Keys: () => import("@jointly/coordinator/internal/cli/keys"),
  LocalUp: () => import("./local-up.ts"),
  Membership: () => import("./membership.ts"),
  Operator: () => import("./operator.ts"),
  Participant: () => import("@jointly/participant/internal/cli/ParticipantMain"),
  RunLocal: () => import("./run-local.ts"),
  Task: () => import("@jointly/coordinator/internal/cli/task"),
  Features: () => import("./features.ts")
}

/** The command modules `dispatch` calls, each loaded on first use; a test replaces them with recording ones. */
export type Modules = { readonly [K in keyof typeof modules]: (typeof modules)[K] }

/**
 * The environment variables `dispatch` reads: JOINTLY_CA, JOINTLY_COORDINATOR, JOINTLY_KEY (or the one --key-env
 * names), JOINTLY_KEY_PASSPHRASE (or the one `keys new --passphrase-env` names), JOINTLY_LOG and the test hook
 * JOINTLY_TEST_EXIT_AFTER_STAGE; the coordinator and a participant take them all (their configs name variables
 * of their own). No command below reads the process's environment: each gets what was read here.
 */
export type Env = Readonly<Record<string, string | undefined>>

export const usage = `jointly — organisations answer questions together without handing over raw data

Usage:
  jointly run --local --task <task.json> --party <name>=<file.csv> [--party …] [--json] [--data-dir <dir>] [--keep]
      Start an embedded chain, a coordinator and one participant process per party on 127.0.0.1,
      register and audit them, run the task, print the result, shut everything down.
  jointly local up --task <task.json> --party <name>=<file.csv> [--party …] [--json] [--data-dir <dir>]
      The same cluster, kept running until Ctrl-C: prints the dashboard and API URLs and the parties.
  jointly task submit <spec.json> --coordinator <url> (--keystore <file> | --key-env <VAR>) [--watch] [--format table|json|csv]
      Sign a task spec (parties by address, no initiator) with the initiator's key — an encrypted keystore
      (passphrase in JOINTLY_KEY_PASSPHRASE) or a private key in $VAR — and submit it.
  jointly task watch <id> --coordinator <url> (--keystore <file> | --key-env <VAR>) [--format table|json|csv]
      Follow a task to its end: status lines and progress bars on stderr (bars on a terminal only).
  jointly task cancel <id> --coordinator <url> (--keystore <file> | --key-env <VAR>) [--reason <text>] [--json]
  jointly task get <id> | list [--status <s>] --coordinator <url> (--keystore <file> | --key-env <VAR>) [--format table|json|csv]
      Every command signs in to the coordinator (Sign-In with Ethereum) with that key (--key-env defaults to
      $JOINTLY_KEY). --coordinator defaults to $JOINTLY_COORDINATOR. With --json (--format json), stdout is one
      JSON document, errors included; --format csv prints the result's main table. Every command that calls a coordinator takes --ca <pem> (default $JOINTLY_CA): the CA
      its certificate must chain to, instead of Node's store; plain http:// to a non-loopback host needs
      --allow-insecure.
  jointly participant --config <participant.json>
      Run a participant agent (key passphrase from JOINTLY_KEY_PASSPHRASE; CA and allowInsecure in the config).
  jointly coordinator [--config <coordinator.json>]
      Run the coordinator as a service (docs/deploy.md): every field also from JOINTLY_COORDINATOR_* variables,
      the key's passphrase from JOINTLY_COORDINATOR_KEY_PASSPHRASE. SIGHUP reloads the TLS certificate.
  jointly keys new --out <keystore.json> [--passphrase-env <VAR>] | keys address <keystore.json>
      A new account in an encrypted keystore (passphrase from JOINTLY_KEY_PASSPHRASE or <VAR>); a keystore's
      address, bare (an operator's keystore or a participant's identity.json).
  jointly features mpeg7 (--in <pixels.csv> --width <w> --height <h> | --png-dir <dir>) --out <features.csv>
      [--channels 1|3|4] [--max <n>] [--pixel-prefix pixel_] [--id <column>] [--label <column>]
      [--descriptors ehd,csd,rsd] [--csd-bins 32|64|128|256] [--region-level <0…255>] [--resample <w>x<h>] [--json]
      MPEG-7 descriptors (edge histogram, colour structure, region shape) of every image of a CSV of pixels
      (one image per row, samples 0…max) or of every PNG file of a directory (ids: the file names): writes
      id, label and the feature columns a query.similar dataset declares; prints the task's features and featureMax.
  jointly chain --data-dir <dir> [--host <addr>] [--port <n>]
      Run the embedded chain (anvil) with its state in <dir>/chain (default 127.0.0.1).
  jointly chain risk --q <attacker share> --z <blocks> [--json]
      The probability that an attacker with share q of the hash power overtakes a record z blocks deep
      (Nakamoto's catch-up formula), its curve for 0…z and the confirmations for a risk below 0.1%.
  jointly deploy --data-dir <dir> --rpc-url <url> --keystore <supervisor.json> --coordinator <address> [--fund]
      Deploy the consortium contracts with the supervisor's key and grant the coordinator account its role
      (--fund: test ether for both on an anvil chain). Writes <dir>/chain/deployment.json.
  jointly deploy --data-dir <dir> --rpc-url <url> [--embedded] [--max-fee-gwei <n>]
      The same with a local runner's operator keys (<dir>/operator, plaintext: for local clusters only).
      --embedded mints their gas money on the embedded anvil chain; elsewhere the operator funds the supervisor
      account and it tops up the coordinator's by a transfer.
  jointly org register (--config <participant.json> | --keystore <file>) --name <org> --deployment <file> --rpc-url <url> [--fund]
      Register an organisation from its own account (its participant's, or an analyst's keystore); it takes
      part once the supervisor has audited it.
  jointly catalog search <q> --url <coordinator> (--keystore <file> | --key-env <VAR>) [--all]
  jointly catalog publish --config <participant.json> --dataset <name> [--retire]
      Keyword search of the data catalogue; publish (or retire) a dataset's description from its registered source.
  jointly grant request --config <participant.json> --owner <address> --dataset <name> --purpose <kinds|*>
                [--scope <scope.json>] [--hours 24] [--max-uses 1]
  jointly grant decide <token> --config <participant.json> (--approve [--scope <scope.json>] | --reject) [--reason <text>]
  jointly grant revoke|show <token> --config <participant.json>
      Access grants to a catalogued dataset: a scope ({"version":1,"columns":[...],"kinds":[...]}) limits the
      columns a task may read; the owner approves the requester's scope file (checked against the chain's hash)
      and its participant refuses any task outside it.
  jointly supervise members|tasks|grants --url <coordinator> (--key-env <VAR> | --data-dir <dir>)
  jointly supervise audit|suspend|restore <org>… --keystore <supervisor.json> --deployment <file> --rpc-url <url>
  jointly supervise coordinator <address> [--revoke] [--fund] --keystore <supervisor.json> --deployment <file> --rpc-url <url>
  jointly supervise suspend|restore <org> --data-dir <dir> --rpc-url <url> [--url <coordinator>] [--reason <text>]
      The supervisor's view and its decisions (org = address, company id, or name with --url); 'coordinator'
      grants or revokes the coordinator role (key rotation).
  jointly verify <task-id> --url <coordinator> --rpc-url <url> (--keystore <file> | --key-env <VAR> | --config <participant.json>) [--ipfs <kubo rpc url> | --ipfs-peer <multiaddr>] [--json]
  jointly member join <company-id> | endorse <address> | show [<address>] --config <participant.json>
  jointly supervise approve-join <address> --data-dir <dir> --rpc-url <url>
      A second address of an organisation asks to join (its consent), an address of the company endorses it,
      and the supervisor approves; the registry refuses all three while the company is not Audited.
  jointly supervise pause|unpause registry|ledger|settlement --data-dir <dir> --rpc-url <url>
      Stop (or resume) new activity on an upgradeable contract; the supervisor's own decisions go on.
  jointly governance propose-upgrade registry|ledger|settlement --config <participant.json> [--hours <n>]
  jointly governance vote <id> yes|no | close <id> | execute <id> | show <id> --config <participant.json>
      A member proposes this build's implementation of a contract; members vote; after the deadline anyone
      closes the vote (a passed upgrade waits out the timelock's delay) and then executes it.
  jointly settlement post --task <contribution-task-id> --price <points> [--uses <n>] --config <participant.json>
      As a contribution task's valuer: pay its owners by their Shapley shares (escrowed until the dispute window closes).
  jointly settlement show|dispute|finalize <settlement-id> --config <participant.json> [--reason <evidence>]
  jointly did show|publish-encryption-key [--days <n>] --config <participant.json>
  jointly did add-login-key|revoke-login-key <address> [--days <n>] --config <participant.json>
  jointly did rotate-login-key <previous address> --next <address> --config <participant.json>
  jointly did revoke-encryption-key <0x compressed key> --config <participant.json>
  jointly did add-consent-key|revoke-consent-key <address> [--days <n>] --config <participant.json>
  jointly did rotate-consent-key <previous address> --next <address> --config <participant.json>
  jointly did publish-tls-key|revoke-tls-key <client cert.pem> [--days <n>] --config <participant.json>
  jointly did rotate-tls-key <previous cert.pem> --next <cert.pem> --config <participant.json>
      The organisation's did:ethr document and its keys in the ERC-1056 registry: a revoked login key is
      refused at the next handshake, a revoked consent key at the next consent, a TLS client certificate
      whose key the DID no longer names at the next handshake with a coordinator that asks for one.
  jointly files share <path> [--name <n>] [--fee <points>] --config <participant.json>
  jointly files serve [--watch] [--listen <multiaddr>] --config <participant.json>
  jointly files fetch <cid> --out <path> --ipfs-peer <multiaddr> [--wait <s>] --config <participant.json>
  jointly files dispute <request-id> --reason <evidence> --config <participant.json>
  jointly files arbitrate <request-id> uphold|reject --reason <text> --data-dir <dir> --rpc-url <url>
  jointly files show <request-id> | withdraw [<request-id>] | refund <request-id> --config <participant.json>
      Encrypted files on IPFS for a fee: share pays the upload fee, serve hands keys to paying members,
      fetch pays the uploader's fee into escrow and reads the file; dispute takes a paid request whose key
      never came or whose file did not match the chain to the supervisor, who arbitrates (upheld: the file is
      withdrawn from sale and the buyer's refund claimable). show prints a request's escrow state; withdraw
      takes the seller's fee once the dispute window after delivery passed (or the dispute was rejected),
      every such fee without an id; refund takes the buyer's fee back after an upheld dispute.
      Blocks go through the node of the config's ipfs section (its store and peers; its own peer id and a free port beside the running participant).
  jointly originals publish <dir> --dataset <name> [--fee <points>] --config <participant.json>
  jointly originals fetch <task-id> <image id> --out <path> --ipfs-peer <multiaddr> [--wait <s>] --config <participant.json>
      The originals of a query.similar collection for a fee: publish shares each file of <dir> (named <image
      id>.<ext>) on the FileExchange and commits its location in a new epoch of the dataset's index; fetch checks
      a result record of the querier's output against the task ledger's roots, its location against the
      exchange and the block against the chain, then pays the owner's fee and writes the checked original.
  jointly settlement arbitrate <settlement-id> uphold|reject --reason <text> --data-dir <dir> --rpc-url <url>
      Read a Shapley settlement, dispute it within its window, pay it out after; the supervisor arbitrates.
  jointly verify <task-id> --url <coordinator> --rpc-url <url> (--keystore <file> | --key-env <VAR> | --config <participant.json>) [--ipfs <kubo rpc url> | --ipfs-peer <multiaddr>] [--json]
      Rebuild a task's history from the chain and check the stored result and artifacts against it (exit 1 on mismatch);
      with --ipfs-peer, also each artifact's sealed copy fetched by CID from that node against the ciphertext hash
      on chain, opened and checked against the result digest when the signing key is one of its readers'; with
      --config, as that participant: its account signs in and its own encryption key opens what it is a reader of.
  jointly certify <file> (--config <participant.json> | --data-dir <dir> --rpc-url <url>) [--reader <address>]… [--out <cert.json>]
  jointly certify --verify [<file>] --cert <cert.json> --rpc-url <url> [--config <participant.json> | --data-dir <dir>] [--ipfs-peer <multiaddr>] [--out <path>]
      Notarize a file's salted hash with the submitter's signature; verify a file against its certificate. With a
      --config whose participant runs an IPFS node, the file also goes to IPFS sealed to the submitter and each
      --reader (a member's address), its CID bound on chain by the signed metadata hash; --verify then fetches it
      by that CID (--ipfs-peer, the config's peers), checks it against the chain and, for a reader, opens it.
`

/** `--ca <file>` (default $JOINTLY_CA) and `--allow-insecure`, read here at the edge. */
const trustOf = (env: Env, values: { ca?: string; "allow-insecure"?: boolean }): Trust => {
  const file = values.ca ?? env.JOINTLY_CA
  let ca: string | undefined
  if (file !== undefined && file !== "") {
    try {
      ca = readFileSync(file, "utf8")
    } catch (error) {
      throw new UsageError(`--ca ${file}: ${(error as Error).message}`)
    }
  }
  return { ...(ca === undefined ? {} : { ca }), ...(values["allow-insecure"] ? { allowInsecure: true } : {}) }
}
const trustOptions = { ca: { type: "string" }, "allow-insecure": { type: "boolean" } } as const

/** A flag's value decoded at the edge: a whole number ≥ 1, or a usage error naming the flag. */
const positiveInteger = (flag: string, value: string): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a whole number ≥ 1, got ${value}`)
  return n
}

/** A fee in gwei (decimals allowed, e.g. 1.5) as wei, or a usage error. */
const gweiToWei = (value: string): bigint => {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value)
  if (m === null) throw new UsageError(`--max-fee-gwei expects a number of gwei, got ${value}`)
  return BigInt(m[1]!) * 10n ** 9n + BigInt((m[2] ?? "").padEnd(9, "0"))
}

/**
 * Runs the command `argv` (the arguments after `jointly`) names, with `env` for the variables the usage names.
 * A missing or malformed argument is refused with a `UsageError` naming it, before any command is called.
 */
export const dispatch = async (
  argv: ReadonlyArray<string>,
  env: Env,
  { Chain, ChainRisk, Coordinate, Governance, Keys, LocalUp, Membership, Operator, Participant, RunLocal, Task, Features }: Modules = modules
): Promise<unknown> => {
  const [command, ...rest] = argv
  // The keystore passphrase of every --config and --keystore command: a participant's keystore or an operator's
  // (an analyst's, the supervisor's) opens with it.
  const passphrase = env.JOINTLY_KEY_PASSPHRASE
  // What opens a participant's config (governance.ts's MemberAccess): the passphrase, and the environment its
  // PostgreSQL datasets' connectionEnv name variables of.
  const member = { passphrase, env }
  // The level of the coordinator and participants a local cluster runs.
  const logLevel = Log.levelOf(env.JOINTLY_LOG)
  switch (command) {
    case "run": {
      const { values } = parseArgs({
        args: rest,
        options: {
          local: { type: "boolean" },
          task: { type: "string" },
          party: { type: "string", multiple: true },
          json: { type: "boolean" },
          "data-dir": { type: "string" },
          keep: { type: "boolean" }
        }
      })
      if (!values.local || !values.task || !values.party) throw new UsageError("run needs --local, --task and at least two --party")
      return (await RunLocal()).run({ task: values.task, parties: values.party, json: values.json ?? false, dataDir: values["data-dir"], keep: values.keep ?? false, logLevel })
    }
    case "local": {
      const [sub, ...args] = rest
      if (sub !== "up") throw new UsageError("local expects up")
      const { values } = parseArgs({ args, options: { task: { type: "string" }, party: { type: "string", multiple: true }, json: { type: "boolean" }, "data-dir": { type: "string" } } })
      if (!values.task || !values.party) throw new UsageError("local up needs --task and at least two --party")
      return (await LocalUp()).up({ task: values.task, parties: values.party, json: values.json ?? false, dataDir: values["data-dir"], logLevel })
    }
    case "task": {
      const [sub, ...args] = rest
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          coordinator: { type: "string" },
          "key-env": { type: "string" },
          keystore: { type: "string" },
          json: { type: "boolean" },
          format: { type: "string" },
          watch: { type: "boolean" },
          reason: { type: "string" },
          status: { type: "string" },
          limit: { type: "string" },
          ...trustOptions
        }
      })
      const coordinator = values.coordinator ?? env.JOINTLY_COORDINATOR
      if (!coordinator) throw new UsageError("task needs --coordinator <url> (or JOINTLY_COORDINATOR)")
      // Every task command signs in.
      const keyEnv = keyEnvOf(env, values)
      const Tasks = await Task()
      const format = values.format ?? (values.json ? "json" : "table")
      if (!(Tasks.formats as ReadonlyArray<string>).includes(format)) throw new UsageError(`--format expects ${Tasks.formats.join(", ")}, got ${format}`)
      const trust = trustOf(env, values)
      // The signer is opened once the command's own arguments passed (a keystore's scrypt takes a while).
      const common = async () => ({ coordinator, json: format !== "table", format: format as (typeof Tasks.formats)[number], trust, ...withSigner(await signerOf(env, values)) })
      const id = positionals[0]
      switch (sub) {
        case "submit":
          if (!id || (!keyEnv && !values.keystore)) throw new UsageError("task submit needs <spec.json> and --keystore <file> or --key-env <VAR>")
          return Tasks.submit({ ...(await common()), file: id, watch: values.watch ?? false })
        case "watch":
          if (!id) throw new UsageError("task watch needs <id>")
          return Tasks.watch({ ...(await common()), id }).then(() => undefined)
        case "cancel":
          if (!id) throw new UsageError("task cancel needs <id>")
          return Tasks.cancel({ ...(await common()), id, reason: values.reason })
        case "get":
          if (!id) throw new UsageError("task get needs <id>")
          return Tasks.get({ ...(await common()), id })
        case "list":
          return Tasks.list({ ...(await common()), status: values.status, limit: values.limit === undefined ? undefined : Number(values.limit) })
        default:
          throw new UsageError("task expects submit, watch, cancel, get or list")
      }
    }
    case "participant": {
      // --unsafe-test-key-sizes: for the test harness only (keys below 2048 bits); deliberately not in the usage.
      const { values } = parseArgs({ args: rest, options: { config: { type: "string" }, "unsafe-test-key-sizes": { type: "boolean" } } })
      if (!values.config) throw new UsageError("participant needs --config <file>")
      const testExitAfterStage = env.JOINTLY_TEST_EXIT_AFTER_STAGE
      await (await Participant()).run(values.config, {
        unsafeTestKeySizes: values["unsafe-test-key-sizes"] ?? false,
        passphrase,
        // Its config may name variables of its own (a PostgreSQL dataset's connectionEnv).
        env,
        ...(testExitAfterStage ? { testExitAfterStage } : {})
      })
      return
    }
    case "coordinator": {
      const { values } = parseArgs({ args: rest, options: { config: { type: "string" } } })
      return (await Coordinate()).run({ config: values.config, env })
    }
    case "keys": {
      const [sub, ...args] = rest
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: "string" }, "passphrase-env": { type: "string" } } })
      if (sub === "new") {
        if (!values.out) throw new UsageError("keys new needs --out <keystore.json>")
        const passphraseEnv = values["passphrase-env"]
        return (await Keys()).keysNew({ out: values.out, passphrase: passphraseEnv === undefined ? passphrase : env[passphraseEnv], passphraseEnv })
      }
      if (sub === "address" && positionals[0]) return (await Keys()).keysAddress({ file: positionals[0] })
      throw new UsageError("keys expects new --out <file> or address <file>")
    }
    case "chain": {
      if (rest[0] === "risk") {
        const { values } = parseArgs({ args: rest.slice(1), options: { q: { type: "string" }, z: { type: "string" }, json: { type: "boolean" } } })
        if (values.q === undefined || values.z === undefined) throw new UsageError("chain risk needs --q <attacker share> and --z <blocks>")
        const q = Number(values.q)
        if (values.q.trim() === "" || !(q >= 0 && q <= 1)) throw new UsageError(`--q expects the attacker's share of the hash power in [0, 1], got ${values.q}`)
        const z = Number(values.z)
        if (!Number.isInteger(z) || z < 0 || z > 1000) throw new UsageError(`--z expects a whole number of blocks from 0 to 1000, got ${values.z}`)
        return (await ChainRisk()).risk({ q, z, json: values.json ?? false })
      }
      const { values } = parseArgs({ args: rest, options: { "data-dir": { type: "string" }, host: { type: "string" }, port: { type: "string" } } })
      if (!values["data-dir"]) throw new UsageError("chain needs --data-dir")
      return (await Chain()).startChain({ dataDir: values["data-dir"], host: values.host, port: Number(values.port ?? 0) })
    }
    case "deploy": {
      const { values } = parseArgs({
        args: rest,
        options: { "data-dir": { type: "string" }, "rpc-url": { type: "string" }, embedded: { type: "boolean" }, keystore: { type: "string" }, coordinator: { type: "string" }, fund: { type: "boolean" }, "max-fee-gwei": { type: "string" } }
      })
      if (!values["data-dir"] || !values["rpc-url"]) throw new UsageError("deploy needs --data-dir and --rpc-url")
      if (values.keystore !== undefined) {
        if (!values.coordinator) throw new UsageError("deploy --keystore needs --coordinator <address>")
        return (await Operator()).deploy({ dataDir: values["data-dir"], rpcUrl: values["rpc-url"], keystore: values.keystore, passphrase, coordinator: values.coordinator, fund: values.fund ?? false })
      }
      return (await Chain()).deploy({
        dataDir: values["data-dir"],
        rpcUrl: values["rpc-url"],
        embedded: values.embedded ?? false,
        ...(values["max-fee-gwei"] === undefined ? {} : { maxFeePerGasWei: gweiToWei(values["max-fee-gwei"]) })
      })
    }
    case "org": {
      const [sub, ...args] = rest
      const { values } = parseArgs({
        args,
        options: { config: { type: "string" }, keystore: { type: "string" }, name: { type: "string" }, "registration-number": { type: "string" }, dossier: { type: "string" }, deployment: { type: "string" }, "rpc-url": { type: "string" }, fund: { type: "boolean" } }
      })
      if (sub !== "register") throw new UsageError("org expects register")
      if ((!values.config && !values.keystore) || !values.name || !values.deployment || !values["rpc-url"]) {
        throw new UsageError("org register needs --config (or --keystore), --name, --deployment and --rpc-url")
      }
      return (await Operator()).orgRegister({
        config: values.config,
        keystore: values.keystore,
        ...member,
        name: values.name,
        registrationNumber: values["registration-number"],
        dossier: values.dossier,
        deployment: values.deployment,
        rpcUrl: values["rpc-url"],
        fund: values.fund ?? false
      })
    }
    case "catalog": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { url: { type: "string" }, all: { type: "boolean" }, config: { type: "string" }, dataset: { type: "string" }, retire: { type: "boolean" }, "key-env": { type: "string" }, keystore: { type: "string" }, ...trustOptions }
      })
      const [action, ...words] = positionals
      if (action === "search") {
        if (!values.url) throw new UsageError("catalog search needs --url <coordinator>")
        return (await Governance()).catalogSearch({ url: values.url, q: words.join(" "), all: values.all ?? false, signer: await signerOf(env, values), trust: trustOf(env, values) })
      }
      if (action === "publish") {
        if (!values.config || !values.dataset) throw new UsageError("catalog publish needs --config and --dataset")
        return (await Governance()).catalogPublish({ config: values.config, dataset: values.dataset, retire: values.retire ?? false, ...member })
      }
      throw new UsageError("catalog needs search or publish")
    }
    case "supervise": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          url: { type: "string" },
          "data-dir": { type: "string" },
          "rpc-url": { type: "string" },
          reason: { type: "string" },
          keystore: { type: "string" },
          deployment: { type: "string" },
          revoke: { type: "boolean" },
          fund: { type: "boolean" },
          "key-env": { type: "string" },
          ...trustOptions
        }
      })
      const [what, ...targets] = positionals
      if (!what) throw new UsageError("supervise needs members, tasks, grants, audit, suspend, restore, coordinator, pause, unpause or approve-join")
      if (what === "approve-join") return (await Membership()).approveJoin({ account: targets[0], dataDir: values["data-dir"], rpcUrl: values["rpc-url"] })
      if (values.keystore !== undefined || what === "audit" || what === "coordinator") {
        if (!values.keystore || !values.deployment || !values["rpc-url"] || targets.length === 0) {
          throw new UsageError(`supervise ${what} needs <target>…, --keystore <supervisor.json>, --deployment <file> and --rpc-url`)
        }
        return (await Operator()).superviseWithKeystore({ what, targets, keystore: values.keystore, passphrase, deployment: values.deployment, rpcUrl: values["rpc-url"], reason: values.reason, revoke: values.revoke ?? false, fund: values.fund ?? false })
      }
      return (await Governance()).supervise({ what, org: targets[0], url: values.url, dataDir: values["data-dir"], rpcUrl: values["rpc-url"], reason: values.reason, signer: await signerOf(env, values), trust: trustOf(env, values) })
    }
    case "grant": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          config: { type: "string" },
          owner: { type: "string" },
          dataset: { type: "string" },
          purpose: { type: "string" },
          scope: { type: "string" },
          hours: { type: "string" },
          "max-uses": { type: "string" },
          approve: { type: "boolean" },
          reject: { type: "boolean" },
          reason: { type: "string" }
        }
      })
      if (!positionals[0]) throw new UsageError("grant needs request, decide, revoke or show")
      return (await Governance()).grant({
        action: positionals[0],
        token: positionals[1],
        config: values.config,
        ...member,
        owner: values.owner,
        dataset: values.dataset,
        purpose: values.purpose,
        scope: values.scope,
        reason: values.reason,
        approve: values.approve,
        reject: values.reject,
        ...(values.hours === undefined ? {} : { hours: positiveInteger("--hours", values.hours) }),
        ...(values["max-uses"] === undefined ? {} : { maxUses: positiveInteger("--max-uses", values["max-uses"]) })
      })
    }
    case "member": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { config: { type: "string" } } })
      if (!positionals[0]) throw new UsageError("member needs join, endorse or show")
      return (await Membership()).member({ action: positionals[0], arg: positionals[1], config: values.config, ...member })
    }
    case "governance": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { config: { type: "string" }, hours: { type: "string" } } })
      if (!positionals[0]) throw new UsageError("governance needs propose-upgrade, vote, close, execute or show")
      return (await Governance()).governance({ action: positionals[0], arg: positionals[1], support: positionals[2], config: values.config, ...member, ...(values.hours === undefined ? {} : { hours: positiveInteger("--hours", values.hours) }) })
    }
    case "settlement": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { config: { type: "string" }, reason: { type: "string" }, "data-dir": { type: "string" }, "rpc-url": { type: "string" }, task: { type: "string" }, price: { type: "string" }, uses: { type: "string" } }
      })
      if (!positionals[0]) throw new UsageError("settlement needs post, show, dispute, finalize or arbitrate")
      return (await Governance()).settlement({ action: positionals[0], id: positionals[1], verdict: positionals[2], reason: values.reason, config: values.config, ...member, dataDir: values["data-dir"], rpcUrl: values["rpc-url"], task: values.task, price: values.price, uses: values.uses })
    }
    case "did": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { config: { type: "string" }, next: { type: "string" }, days: { type: "string" } }
      })
      if (!positionals[0]) throw new UsageError("did needs show, add-login-key, revoke-login-key, rotate-login-key, add-consent-key, revoke-consent-key, rotate-consent-key, publish-tls-key, revoke-tls-key, rotate-tls-key, publish-encryption-key or revoke-encryption-key")
      return (await Governance()).did({ action: positionals[0], arg: positionals[1], next: values.next, config: values.config, ...member, ...(values.days === undefined ? {} : { days: positiveInteger("--days", values.days) }) })
    }
    case "files": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { config: { type: "string" }, name: { type: "string" }, fee: { type: "string" }, out: { type: "string" }, "ipfs-peer": { type: "string" }, listen: { type: "string" }, watch: { type: "boolean" }, wait: { type: "string" }, reason: { type: "string" }, "data-dir": { type: "string" }, "rpc-url": { type: "string" } }
      })
      if (!positionals[0]) throw new UsageError("files needs share, serve, fetch, dispute, arbitrate, show, withdraw or refund")
      if (positionals[0] === "arbitrate") {
        return (await Governance()).filesArbitrate({ id: positionals[1], verdict: positionals[2], reason: values.reason, dataDir: values["data-dir"], rpcUrl: values["rpc-url"] })
      }
      return (await Governance()).files({
        action: positionals[0],
        arg: positionals[1],
        config: values.config,
        ...member,
        name: values.name,
        fee: values.fee,
        out: values.out,
        ipfsPeer: values["ipfs-peer"],
        listen: values.listen,
        watch: values.watch ?? false,
        reason: values.reason,
        ...(values.wait === undefined ? {} : { waitSeconds: positiveInteger("--wait", values.wait) })
      })
    }
    case "originals": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { config: { type: "string" }, dataset: { type: "string" }, fee: { type: "string" }, out: { type: "string" }, "ipfs-peer": { type: "string" }, listen: { type: "string" }, wait: { type: "string" } }
      })
      if (!positionals[0]) throw new UsageError("originals needs publish or fetch")
      return (await Governance()).originals({
        action: positionals[0],
        arg: positionals[1],
        record: positionals[2],
        config: values.config,
        ...member,
        dataset: values.dataset,
        fee: values.fee,
        out: values.out,
        ipfsPeer: values["ipfs-peer"],
        listen: values.listen,
        ...(values.wait === undefined ? {} : { waitSeconds: positiveInteger("--wait", values.wait) })
      })
    }
    case "verify": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { url: { type: "string" }, "rpc-url": { type: "string" }, json: { type: "boolean" }, "key-env": { type: "string" }, keystore: { type: "string" }, config: { type: "string" }, ipfs: { type: "string" }, "ipfs-peer": { type: "string" }, ...trustOptions }
      })
      if (!positionals[0] || !values.url || !values["rpc-url"]) throw new UsageError("verify needs <task-id>, --url and --rpc-url")
      if (values.ipfs && values["ipfs-peer"]) throw new UsageError("verify takes --ipfs <kubo rpc url> or --ipfs-peer <multiaddr>, not both")
      const ipfs = values.ipfs ? { kubo: values.ipfs } : values["ipfs-peer"] ? { peer: values["ipfs-peer"] } : undefined
      if (values.config && (values.keystore || values["key-env"])) throw new UsageError("verify signs in with --config <participant.json> or --keystore/--key-env, not both")
      // As a participant (--config): its account signs in and its encryption key opens the sealed copies.
      const who = values.config ? { config: values.config, ...member } : { signer: await signerOf(env, values) }
      return (await Governance()).verify({ taskId: positionals[0], url: values.url, rpcUrl: values["rpc-url"], json: values.json ?? false, ...who, trust: trustOf(env, values), ...(ipfs === undefined ? {} : { ipfs }) })
    }
    case "certify": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          verify: { type: "boolean" },
          cert: { type: "string" },
          out: { type: "string" },
          meta: { type: "string" },
          config: { type: "string" },
          "data-dir": { type: "string" },
          "rpc-url": { type: "string" },
          reader: { type: "string", multiple: true },
          "ipfs-peer": { type: "string" }
        }
      })
      if (values.verify) {
        if (!values.cert || !values["rpc-url"]) throw new UsageError("certify --verify needs --cert and --rpc-url")
        return (await Governance()).certifyVerify({ file: positionals[0], cert: values.cert, rpcUrl: values["rpc-url"], config: values.config, ...member, dataDir: values["data-dir"], ipfsPeer: values["ipfs-peer"], out: values.out })
      }
      if (!positionals[0]) throw new UsageError("certify needs <file>")
      return (await Governance()).certify({ file: positionals[0], out: values.out, meta: values.meta, config: values.config, ...member, dataDir: values["data-dir"], rpcUrl: values["rpc-url"], readers: values.reader, ipfsPeer: values["ipfs-peer"] })
    }
    case "features": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          in: { type: "string" },
          "png-dir": { type: "string" },
          out: { type: "string" },
          width: { type: "string" },
          height: { type: "string" },
          channels: { type: "string" },
          max: { type: "string" },
          descriptors: { type: "string" },
          "csd-bins": { type: "string" },
          "region-level": { type: "string" },
          resample: { type: "string" },
          "pixel-prefix": { type: "string" },
          id: { type: "string" },
          label: { type: "string" },
          json: { type: "boolean" }
        }
      })
      if (positionals[0] !== "mpeg7") throw new UsageError("features needs mpeg7")
      if (!values.out || !values.in === !values["png-dir"]) throw new UsageError("features mpeg7 needs --out and one of --in <pixels.csv> or --png-dir <dir>")
      if (values.in && (!values.width || !values.height)) throw new UsageError("features mpeg7 --in needs --width and --height")
      const channels = ([1, 3, 4] as const).find((c) => c === Number(values.channels ?? "1"))
      if (channels === undefined) throw new UsageError(`--channels expects 1, 3 or 4, got ${values.channels}`)
      const max = Number(values.max ?? "255")
      if (!(max > 0)) throw new UsageError(`--max expects a positive number, got ${values.max}`)
      const size = values.resample?.match(/^(\d+)x(\d+)$/u)
      if (values.resample !== undefined && !size) throw new UsageError(`--resample expects <width>x<height>, got ${values.resample}`)
      const descriptors = (values.descriptors ?? "ehd").split(",")
      const unknown = descriptors.find((d) => !["ehd", "csd", "rsd"].includes(d))
      if (unknown !== undefined) throw new UsageError(`--descriptors: unknown descriptor ${unknown} (ehd, csd, rsd)`)
      const { Schema } = await import("effect")
      const Mpeg7Features = await import("@jointly/core/internal/imaging/Mpeg7Features")
      const options = Schema.decodeUnknownSync(Mpeg7Features.Options)({
        descriptors,
        ...(values["csd-bins"] === undefined ? {} : { csdBins: Number(values["csd-bins"]) }),
        ...(values["region-level"] === undefined ? {} : { regionLevel: Number(values["region-level"]) }),
        ...(size ? { resample: { width: Number(size[1]), height: Number(size[2]) } } : {})
      })
      const source = values.in
        ? {
            csv: {
              input: values.in,
              layout: { width: positiveInteger("--width", values.width!), height: positiveInteger("--height", values.height!), channels, max },
              pixelPrefix: values["pixel-prefix"] ?? "pixel_",
              ...(values.id === undefined ? {} : { idColumn: values.id }),
              ...(values.label === undefined ? {} : { labelColumn: values.label })
            }
          }
        : { pngDirectory: values["png-dir"]! }
      await (await Features()).mpeg7({ source, out: values.out, options, json: values.json ?? false })
      return
    }
    default:
      throw new UsageError(`unknown command ${command}`)
  }
}

/** A missing or malformed argument: the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {}

/**
 * The member's wallet the API's commands sign in with: `--keystore <file>` (passphrase in JOINTLY_KEY_PASSPHRASE),
 * else `--key-env <VAR>` (default $JOINTLY_KEY when set).
 */
const signerOf = async (env: Env, values: { keystore?: string; "key-env"?: string }) => {
  if (values.keystore !== undefined) {
    const { open } = await import("@jointly/coordinator/internal/keys/AccountKeystore")
    return open(values.keystore, env.JOINTLY_KEY_PASSPHRASE, "JOINTLY_KEY_PASSPHRASE")
  }
  const { walletOf } = await import("@jointly/coordinator/internal/cli/task")
  return walletOf(keyEnvOf(env, values), env)
}

/** The variable holding the member's private key: `--key-env <VAR>`, else JOINTLY_KEY when that is set. */
const keyEnvOf = (env: Env, values: { "key-env"?: string }) => values["key-env"] ?? (env.JOINTLY_KEY ? "JOINTLY_KEY" : undefined)

/** `{ signer }` when there is one: a command without a key gets no `signer` option at all. */
const withSigner = <S>(signer: S | undefined) => (signer === undefined ? {} : { signer })
