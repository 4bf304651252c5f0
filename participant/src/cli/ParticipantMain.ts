/**
 * `jointly participant --config <file>`: a participant agent as its own process. Prints one JSON line
 * `{"event":"ready",…}` on stdout once admitted, then its events as JSON lines on stderr; stops on SIGTERM or SIGINT,
 * also while it starts (Lifecycle.ts).
 */
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import { nodeOptions, pinRetryOf } from "@jointly/core/internal/artifacts/IpfsConfig"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import { type GovernanceLedger, makeGovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import * as Endpoint from "@jointly/core/internal/net/Endpoint"
import * as Agent from "../Agent.ts"
import * as GrantGuard from "../governance/GrantGuard.ts"
import * as GrantScopes from "../governance/GrantScopes.ts"
import * as ModelServer from "../governance/ModelServer.ts"
import * as DelegateKeys from "../keystore/DelegateKeys.ts"
import * as Keystore from "../keystore/Keystore.ts"
import * as ConsentPolicy from "../policy/ConsentPolicy.ts"
import * as HumanToken from "../policy/HumanToken.ts"
import * as Lifecycle from "./Lifecycle.ts"
import * as ParticipantConfig from "./ParticipantConfig.ts"

/** What the process's edge (the CLI's dispatch) read for the participant: its flags and its environment's values. */
export interface RunOptions {
  /** `--unsafe-test-key-sizes`: the test harness's switch for keys below production sizes (KeyPolicy.ts). */
  readonly unsafeTestKeySizes?: boolean
  /** The keystore's passphrase (JOINTLY_KEY_PASSPHRASE), which also opens the consent and login keys. */
  readonly passphrase?: string
  /** The environment a PostgreSQL dataset's `connectionEnv` names a variable of (ParticipantConfig.load; none by default). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /**
   * TEST HOOK (integration tests only; JOINTLY_TEST_EXIT_AFTER_STAGE): exit 75 right after answering this stage,
   * as a crash mid-protocol would.
   */
  readonly testExitAfterStage?: string
}

/**
 * Starts the participant under SIGTERM and SIGINT from its first step (Lifecycle.ts): a signal before it is ready
 * releases what it acquired (the chain's connection, the agent with its engine and spill directory, the endpoint)
 * and exits 128 + the signal's number; a startup step that fails releases them too before the error is reported.
 */
export const run = async (configFile: string, options: RunOptions = {}) => {
  const life = Lifecycle.make(Lifecycle.processHost)
  return start(life, configFile, options).catch(life.abort)
}

const start = async (life: Lifecycle.Lifecycle, configFile: string, options: RunOptions) => {
  const config = await life.wait(() => ParticipantConfig.load(configFile, options.env ?? {}))
  const trust = await life.wait(() => ParticipantConfig.trustOf(configFile, config))
  // The transport rule before the keystore opens: an http URL to another host stops here, naming it.
  const endpoint = await life.acquire(async () => Endpoint.make(config.coordinatorUrl, trust), (e) => e.close())
  // And a coordinator whose certificate is not trusted, before the datasets load: that will not mend by waiting.
  // Any other failure (the coordinator is down) is left to the agent's reconnection.
  await life.wait(() => endpoint.fetch(`${endpoint.url}/api/health`)).then((r) => r.body?.cancel(), (error: unknown) => {
    if (!(error instanceof Endpoint.UntrustedCertificate)) return
    // As the agent reports a refusal (a JSON event line on stderr), then the process stops with the message.
    process.stderr.write(JSON.stringify({ at: new Date().toISOString(), type: "refused", code: error._tag, host: error.host, verification: error.code, message: error.message }) + "\n")
    throw error
  })
  const identity = await life.wait(() => Keystore.openPromise({ dataDir: config.dataDir, passphrase: options.passphrase }))
  const policySource = config.policy
  const policy = typeof policySource === "string" ? await life.wait(() => ConsentPolicy.loadPromise(policySource)) : policySource
  const wallet = Redacted.value(identity.account)
  // The chain, read by this participant itself: grants are enforced here, never on the coordinator's word.
  const chainConfig = config.chain
  const chain = chainConfig === undefined
    ? undefined
    : await life.acquire(
      () => makeGovernanceLedger({ rpcUrl: chainConfig.rpcUrl, privateKey: wallet.privateKey, addresses: { ...chainConfig, deployBlock: BigInt(chainConfig.deployBlock ?? "0") } }),
      (ledger) => ledger.close()
    )
  const delegates = await life.wait(() => Effect.runPromise(delegateKeysOf(configFile, config, chain, wallet.address, options.passphrase))).catch((error: unknown) => {
    if (error instanceof DelegateKeys.DelegateKeyNotInDid) {
      process.stderr.write(JSON.stringify({ at: new Date().toISOString(), type: "refused", code: error._tag, role: error.role, key: error.key, did: error.did, reason: error.reason, message: error.message }) + "\n")
    }
    throw error
  })
  const dashboardToken = await life.wait(() => dashboardTokenOf(config.dataDir))
  const ipfs = nodeOptions(config.ipfs, (path) => path)
  const pinRetry = pinRetryOf(config.ipfs)
  const agent = await life.acquire(() => Agent.start({
    coordinatorUrl: config.coordinatorUrl,
    ...(config.failoverUrls === undefined ? {} : { failoverUrls: config.failoverUrls }),
    trust,
    wallet,
    ...delegates,
    datasets: config.datasets,
    // Query outputs, batch predictions, owned and partial models are kept under it, also from the worker thread.
    dataDir: config.dataDir,
    dashboardToken,
    ...(policy.keys === undefined ? {} : { keys: policy.keys }),
    ...(options.unsafeTestKeySizes ? { unsafeTestKeySizes: true } : {}),
    // The tasks' sealed artifacts pinned on this participant's own IPFS node (paths already resolved by load).
    ...(ipfs === undefined ? {} : { ipfs }),
    ...(pinRetry === undefined ? {} : { pinRetry }),
    policy: async (question, human) => {
      // "ask" mode: the human decides in the coordinator's dashboard with this participant's token (HumanToken.ts).
      const verdict = await ConsentPolicy.decidePromise(policy, question, (_input, v) => human.ask(v.reason))
      if (verdict.decision !== "approve" || chain === undefined) return { decision: verdict.decision, reason: verdict.reason }
      // PROTOCOLS.md §2.4-§2.5: a catalogued dataset that needs a grant serves only a valid grant's holder.
      try {
        const tokenId = await GrantGuard.check(chain, question, () => agent.contentHash(question.dataset), (token) => GrantScopes.load(config.dataDir, token))
        return { decision: "approve", reason: tokenId === undefined ? verdict.reason : `${verdict.reason}; grant ${tokenId} used` }
      } catch (error) {
        if (error instanceof GrantGuard.AccessDenied) return { decision: "reject", reason: error.message }
        throw error
      }
    }
  }), (started) => started.close())
  agent.on((event) => process.stderr.write(JSON.stringify({ at: new Date().toISOString(), participant: agent.address, ...event }) + "\n"))
  // TEST HOOK (integration tests only): die right after answering the named stage, as a crash mid-protocol
  // would. The reply is already handed to the socket when the event fires.
  const testExitAfterStage = options.testExitAfterStage
  if (testExitAfterStage) {
    agent.on((event) => {
      if (event.type === "stage" && event.ok && event.stage === testExitAfterStage) {
        process.stderr.write(JSON.stringify({ type: "test-exit", stage: event.stage }) + "\n")
        process.exit(75)
      }
    })
  }
  await life.wait(() => agent.connected)
  if (chain !== undefined) {
    await life.acquire(async () => ModelServer.start({
      chain,
      api: agent.api,
      secretKey: Redacted.value(identity.encryptionSecretKey),
      datasets: config.datasets,
      policy,
      deployBlock: BigInt(config.chain?.deployBlock ?? "0"),
      onEvent: (event) => process.stderr.write(JSON.stringify({ at: new Date().toISOString(), participant: agent.address, ...event }) + "\n")
    }), (models) => models.stop())
  }
  // The dashboard token is shown to whoever started this participant, the human who decides its "ask" consents.
  process.stdout.write(JSON.stringify({ event: "ready", address: agent.address, datasets: agent.datasets, dashboardToken, ...(agent.ipfs === undefined ? {} : { ipfs: { peerId: agent.ipfs.peerId, addresses: agent.ipfs.addresses } }) }) + "\n")
  if (policy.mode === "ask") process.stderr.write(`consents of ${agent.address} wait for a human: decide them in the coordinator's dashboard with the token ${dashboardToken}\n`)
  life.ready()
  return agent
}

/**
 * The consent and login keys the config names, opened and checked against this member's DID now (through the
 * registry this participant reads itself): DelegateKeyNotInDid for one the DID does not name.
 */
const delegateKeysOf = (configFile: string, config: ParticipantConfig.ParticipantConfig, chain: GovernanceLedger | undefined, account: string, passphrase: string | undefined) =>
  Effect.gen(function*() {
    const keys = yield* DelegateKeys.open(config, passphrase)
    if (keys.consentKey === undefined && keys.loginKey === undefined) return keys
    // ParticipantConfig.load refuses these keys without chain.didRegistry (and a chain config makes `chain`); the
    // same refusal here, typed, rather than an assertion the types cannot see.
    const registry = config.chain?.didRegistry
    if (registry === undefined || chain === undefined) return yield* ParticipantConfig.didRegistryMissing(configFile, keys.consentKey !== undefined ? "consentKey" : "loginKey")
    const network = { chainId: chain.chain.chainId, registry, provider: chain.chain.provider }
    yield* DelegateKeys.check(DidIdentity.makeResolver(network), DidIdentity.didOf(network.chainId, account), account, keys)
    return keys
  })

/** The participant's dashboard token, made on first start and kept (owner-only) in its data dir. */
const dashboardTokenOf = async (dataDir: string): Promise<string> => {
  const file = join(dataDir, "dashboard-token")
  try {
    return (await readFile(file, "utf8")).trim()
  } catch {
    const token = HumanToken.generate()
    await writeFile(file, token + "\n", { mode: 0o600 })
    return token
  }
}
