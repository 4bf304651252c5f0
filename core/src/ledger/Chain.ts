/**
 * One client for one chain, shared by every contract view (registry, task ledger, catalogue, grants, model
 * requests, certificates, settlement, governance): one JSON-RPC provider, one nonce manager per key, one way to
 * price, send and wait for a transaction, one notion of finality. An Effect service (`Chain`, `layer`) with a
 * Promise facade (`make`) for embedders. Browser-safe: only `fetch` and ethers.
 *
 * - **Nonces.** One sender at a time per key takes the next nonce — the node's pending count, which counts the
 *   pool (so a new process on a key with transactions still pending resumes after them), or the local queue
 *   when the node lags behind what this client sent — so any number of fibers may send at once and get
 *   consecutive nonces. A refusal that means the count is wrong ("nonce too low", "nonce too high", "replacement
 *   underpriced": another writer on the key, a reorg, a node restart) resynchronizes and signs again; a local
 *   queue whose transactions left the chain yields to the node's count, so no gap is left to wait on. A
 *   transaction the node forgets is broadcast again.
 * - **Fees.** EIP-1559: tip from `eth_maxPriorityFeePerGas`, fee cap twice the base fee plus the tip, both held
 *   under a ceiling (`maxFeePerGasWei`); when the base fee alone is above it nothing is sent and the call fails
 *   with `FeeCeilingExceeded`. Chains without a base fee get a legacy gas price under the same ceiling.
 * - **Receipts and finality.** A write resolves once mined (one receipt wait, polled through `Schedule`); a record
 *   is *final* once `confirmations` blocks hold it (its own included) and its block is still canonical
 *   (`inclusion`). Default 2: on a network with several validators a fresh block can still be replaced. The
 *   embedded dev chain passes 1: one node mines on demand and never reorganises, and waiting for further blocks
 *   would wait for traffic that may never come.
 */
import { Context, Data, Duration, Effect, Layer, Schedule, Semaphore } from "effect"
import {
  getAddress,
  JsonRpcProvider,
  keccak256,
  Network,
  Wallet,
  type TransactionReceipt
} from "ethers"
import { chainError, ChainError, sendRefusal, toChainError } from "./ChainError.ts"

export interface ChainConfig {
  readonly rpcUrl: string
  /** Blocks (the record's own included) after which a record is final. Default 2; the embedded chain uses 1. */
  readonly confirmations?: number
  /** The most this client pays per gas, in wei (fee cap of EIP-1559, or gas price). Default 200 gwei. */
  readonly maxFeePerGasWei?: bigint
  /** Tip per gas; default: the node's `eth_maxPriorityFeePerGas` (1 gwei when it has none). */
  readonly priorityFeeWei?: bigint
  /** How long to wait for a receipt before failing with ReceiptTimeout (default 60 s). */
  readonly receiptTimeoutMs?: number
  /** Upper bound of the receipt polling interval (default 500 ms; polling starts at 20 ms). */
  readonly pollIntervalMs?: number
  /** How long to wait for the endpoint's first answer (default 10 s). */
  readonly connectTimeoutMs?: number
}

/** A key this client signs with. Its nonces are managed by the client that made it. */
export interface Signer {
  readonly address: string
  /** For off-chain signatures (EIP-712 consents, EIP-191 messages); it has no provider of its own. */
  readonly wallet: Wallet
}

export interface TxRequest {
  /** Absent for a contract creation. */
  readonly to?: string
  readonly data?: string
  readonly value?: bigint
  readonly gasLimit?: bigint
}

/** Where a transaction stands on the canonical chain. */
export type Inclusion =
  | { readonly _tag: "Missing" }
  | {
    readonly _tag: "Included"
    readonly blockNumber: bigint
    readonly blockHash: string
    /** Blocks holding it, its own included (1 = just mined). */
    readonly confirmations: number
    /** At least the client's `confirmations`. */
    readonly final: boolean
    readonly succeeded: boolean
  }

export interface ChainShape {
  readonly rpcUrl: string
  readonly chainId: bigint
  /** The finality depth this client was configured with. */
  readonly confirmations: number
  /** For reads (calls, logs) by the contract views; writes go through `send`. */
  readonly provider: JsonRpcProvider
  /** The signer of a key, with its nonce manager (one per address and client). */
  readonly signer: (privateKey: string) => Effect.Effect<Signer, ChainError>
  /** Estimates, prices, signs with the next nonce, broadcasts and waits until mined. */
  readonly send: (signer: Signer, request: TxRequest, operation: string) => Effect.Effect<TransactionReceipt, ChainError>
  /** A plain value transfer (e.g. the operator funding an account on a network without faucets). */
  readonly transfer: (signer: Signer, to: string, wei: bigint) => Effect.Effect<TransactionReceipt, ChainError>
  /** Runs a read against the node, mapping its failures to ChainError. */
  readonly read: <A>(operation: string, f: () => Promise<A>) => Effect.Effect<A, ChainError>
  readonly waitForReceipt: (txHash: string, options?: { readonly timeoutMs?: number }) => Effect.Effect<TransactionReceipt, ChainError>
  readonly inclusion: (txHash: string) => Effect.Effect<Inclusion, ChainError>
  /** Forgets the key's local nonce so the next send starts from the node's pending count (after a reorg). */
  readonly resync: (address: string) => Effect.Effect<void>
  readonly balance: (address: string) => Effect.Effect<bigint, ChainError>
  readonly blockNumber: Effect.Effect<bigint, ChainError>
}

export class Chain extends Context.Service<Chain, ChainShape>()("jointly/Chain") {}

// ---------------------------------------------------------------- JSON-RPC

/** One raw JSON-RPC call over fetch (browser-safe); rejects with the node's error message. */
export const jsonRpc = async <T>(rpcUrl: string, method: string, params: ReadonlyArray<unknown>, timeoutMs = 5_000): Promise<T> => {
  const response = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs)
  })
  const body = (await response.json()) as { result?: T; error?: { message?: string } }
  if (body.error !== undefined || !("result" in body)) {
    throw new Error(`${method}: ${body.error?.message ?? `HTTP ${response.status}`}`)
  }
  return body.result as T
}

const hex = (n: bigint) => `0x${n.toString(16)}`
const big = (v: unknown): bigint => BigInt(v as string)

/** Not mined yet: the receipt poll's retry signal, never seen outside this module. */
class NotMined extends Data.TaggedError("NotMined")<{}> {}

interface NonceState {
  readonly lock: Semaphore.Semaphore
  /** The local queue: the next nonce after the ones this client handed out; undefined = ask the node only. */
  next: bigint | undefined
  /** The last transaction this client got into the pool (to tell a lagging node from a lost transaction). */
  last: string | undefined
  /** Nonces below this are known to be taken (a "nonce too low" refusal), whatever a lagging node says. */
  floor: bigint
}

interface Sent {
  readonly hash: string
  readonly raw: string
  readonly from: string
  readonly nonce: bigint
}

// ---------------------------------------------------------------- the client

export const makeEffect = (config: ChainConfig): Effect.Effect<ChainShape, ChainError> =>
  Effect.gen(function*() {
    const op = "connect"
    const chainId = yield* Effect.tryPromise({
      try: () => jsonRpc<string>(config.rpcUrl, "eth_chainId", [], config.connectTimeoutMs ?? 10_000).then(BigInt),
      catch: (e) => chainError(op, { _tag: "Unreachable" }, `no Ethereum JSON-RPC node answers at ${config.rpcUrl}`, e instanceof Error ? e.message : String(e), e)
    }).pipe(
      // A pooled keep-alive socket the node already closed fails the first call ("other side closed"): try
      // again briefly before calling the node unreachable.
      Effect.retry({ schedule: Schedule.exponential("100 millis").pipe(Schedule.upTo({ duration: "2 seconds" })) })
    )
    const confirmations = config.confirmations ?? 2
    if (!Number.isInteger(confirmations) || confirmations < 1) {
      return yield* Effect.fail(chainError(op, { _tag: "InvalidInput" }, `${op}: confirmations must be an integer ≥ 1`, `got ${confirmations}`))
    }
    const ceiling = config.maxFeePerGasWei ?? 200n * 10n ** 9n
    const receiptTimeoutMs = config.receiptTimeoutMs ?? 60_000
    const maxPollMs = config.pollIntervalMs ?? 500

    // A static network: ethers neither re-detects the chain on every call nor retries forever when the node is
    // gone. No response cache (a cached count would hand out a nonce twice); no batching (it adds a stall per call).
    const provider = new JsonRpcProvider(config.rpcUrl, Network.from(chainId), {
      staticNetwork: true,
      pollingInterval: maxPollMs,
      cacheTimeout: -1,
      batchMaxCount: 1
    })

    const read = <A>(operation: string, f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (e) => toChainError(operation, e) })
    const rpc = <T>(operation: string, method: string, params: ReadonlyArray<unknown>) =>
      read(operation, () => provider.send(method, [...params]) as Promise<T>)

    /** Retries a read the node did not answer: short outages (a node restart) should not fail a write. */
    const transient = Schedule.min([Schedule.exponential("50 millis"), Schedule.spaced("2 seconds")]).pipe(Schedule.upTo({ duration: "10 seconds" }))
    const retryUnreachable = <A>(effect: Effect.Effect<A, ChainError>) =>
      effect.pipe(Effect.retry({ schedule: transient, while: (e: ChainError) => e.reason._tag === "Unreachable" && sendRefusal(e.cause ?? e) === undefined }))

    const pollSchedule = Schedule.min([Schedule.exponential("20 millis"), Schedule.spaced(Duration.millis(maxPollMs))])

    // ------------------------------------------------------------ signers and nonces

    const nonces = new Map<string, NonceState>()
    const wallets = new Map<string, Wallet>()

    const signer = (privateKey: string) =>
      Effect.gen(function*() {
        const wallet = yield* Effect.try({
          try: () => new Wallet(privateKey),
          catch: () => chainError("signer", { _tag: "InvalidInput" }, "signer: invalid private key", "expected 32 bytes of hex")
        })
        if (!nonces.has(wallet.address)) {
          nonces.set(wallet.address, { lock: yield* Semaphore.make(1), next: undefined, last: undefined, floor: 0n })
          wallets.set(wallet.address, wallet)
        }
        return { address: wallet.address, wallet: wallets.get(wallet.address)! } satisfies Signer
      })

    const pendingCount = (address: string) =>
      retryUnreachable(rpc<string>("nonce", "eth_getTransactionCount", [address, "pending"])).pipe(Effect.map(big))

    /**
     * The key's next nonce: the node's pending count (which counts the pool), raised to the local queue when the
     * node has not yet counted transactions this client sent (a lagging or load-balanced endpoint), and to the
     * floor a "nonce too low" taught. When the local queue is ahead because its transactions are gone (a reorg, a
     * node restarted without its pool), the node's count wins and the gap is filled instead of waited on.
     */
    const nextNonce = (address: string, state: NonceState) =>
      Effect.gen(function*() {
        const pending = yield* pendingCount(address)
        if (pending >= state.floor) state.floor = 0n // the node has caught up with what the refusal taught
        let nonce = pending > state.floor ? pending : state.floor
        if (state.next !== undefined && state.next > nonce && state.last !== undefined) {
          const stillKnown = (yield* rpc<unknown>("nonce", "eth_getTransactionByHash", [state.last])) !== null
          if (stillKnown) nonce = state.next
        }
        return nonce
      })

    /**
     * Hands `use` the key's next nonce while holding the key's lock, so concurrent senders get consecutive
     * nonces; advances the local queue only when `use` got the transaction into the node's pool. A conflict with
     * what the node knows resynchronizes and tries again with a fresh nonce.
     */
    const withNonce = (address: string, use: (nonce: bigint) => Effect.Effect<Sent, ChainError>) => {
      const state = nonces.get(address)!
      const once = Effect.gen(function*() {
        const nonce = yield* nextNonce(address, state)
        const sent = yield* use(nonce).pipe(
          Effect.tapError((e) =>
            Effect.sync(() => {
              // Whatever went wrong, the local queue may be off: trust the node next time.
              state.next = undefined
              if (e.reason._tag === "NonceConflict" && e.details.startsWith("NonceTooLow")) state.floor = nonce + 1n
            })
          )
        )
        state.next = nonce + 1n
        state.last = sent.hash
        return sent
      })
      return state.lock.withPermits(1)(once).pipe(
        Effect.retry({ times: 6, while: (e: ChainError) => e.reason._tag === "NonceConflict" })
      )
    }

    const resync = (address: string) =>
      Effect.sync(() => {
        const state = nonces.get(getAddress(address))
        if (state === undefined) return
        state.next = undefined
        state.floor = 0n
      })

    // ------------------------------------------------------------ fees

    type Fees = { readonly type: 2; readonly maxFeePerGas: bigint; readonly maxPriorityFeePerGas: bigint } | { readonly type: 0; readonly gasPrice: bigint }

    const overCeiling = (operation: string, fee: bigint) =>
      chainError(
        operation,
        { _tag: "FeeCeilingExceeded", networkFeeWei: fee.toString(), ceilingWei: ceiling.toString() },
        `${operation}: the network asks ${fee} wei per gas, above this client's ceiling of ${ceiling}`,
        "nothing was sent; try again when fees fall, or raise maxFeePerGasWei"
      )

    const fees = (operation: string): Effect.Effect<Fees, ChainError> =>
      Effect.gen(function*() {
        const block = yield* retryUnreachable(rpc<{ baseFeePerGas?: string } | null>(operation, "eth_getBlockByNumber", ["latest", false]))
        if (block?.baseFeePerGas === undefined || block.baseFeePerGas === null) {
          const gasPrice = big(yield* retryUnreachable(rpc<string>(operation, "eth_gasPrice", [])))
          if (gasPrice > ceiling) return yield* Effect.fail(overCeiling(operation, gasPrice))
          return { type: 0, gasPrice }
        }
        const base = big(block.baseFeePerGas)
        if (base > ceiling) return yield* Effect.fail(overCeiling(operation, base))
        const suggested = config.priorityFeeWei ??
          (yield* rpc<string>(operation, "eth_maxPriorityFeePerGas", []).pipe(Effect.map(big), Effect.orElseSucceed(() => 10n ** 9n)))
        const tip = suggested < ceiling - base ? suggested : ceiling - base
        const cap = base * 2n + tip
        return { type: 2, maxPriorityFeePerGas: tip, maxFeePerGas: cap < ceiling ? cap : ceiling }
      })

    // ------------------------------------------------------------ sending

    const broadcast = (operation: string, raw: string) => rpc<string>(operation, "eth_sendRawTransaction", [raw])

    /** Signs with `nonce` and gets the transaction into the node's pool (the same bytes again on a lost answer). */
    const signAndBroadcast = (operation: string, from: Signer, request: TxRequest & { readonly gasLimit: bigint }, fee: Fees, nonce: bigint) =>
      Effect.gen(function*() {
        const raw = yield* Effect.tryPromise({
          try: () =>
            from.wallet.signTransaction({
              ...(request.to === undefined ? {} : { to: request.to }),
              data: request.data ?? "0x",
              value: request.value ?? 0n,
              gasLimit: request.gasLimit,
              nonce: Number(nonce),
              chainId,
              ...fee
            }),
          catch: (e) => toChainError(operation, e)
        })
        const sent: Sent = { hash: keccak256(raw), raw, from: from.address, nonce }
        yield* retryUnreachable(broadcast(operation, raw)).pipe(
          Effect.catch((e: ChainError) => {
            const refusal = sendRefusal(e.cause ?? e)
            if (refusal === "AlreadyKnown") return Effect.void
            if (refusal === "InsufficientFunds") return Effect.fail(noFunds(operation, from.address, e))
            if (refusal === "NonceTooLow" || refusal === "NonceTooHigh" || refusal === "Underpriced") {
              // "Too low" after a lost answer may mean our own bytes were taken: then it is no conflict.
              return rpc<unknown>(operation, "eth_getTransactionByHash", [sent.hash]).pipe(
                Effect.flatMap((known) =>
                  known !== null
                    ? Effect.void
                    : Effect.fail(chainError(operation, { _tag: "NonceConflict", account: from.address, nonce: nonce.toString() }, `${operation}: nonce ${nonce} of ${from.address} refused`, `${refusal}: ${e.details}`, e.cause))
                )
              )
            }
            return Effect.fail(e)
          })
        )
        return sent
      })

    const noFunds = (operation: string, account: string, e: ChainError) =>
      chainError(operation, { _tag: "InsufficientFunds", account }, `${operation}: ${account} cannot pay for gas`, e.details, e.cause)

    const receiptOf = (operation: string, hash: string) =>
      rpc<unknown>(operation, "eth_getTransactionReceipt", [hash]).pipe(
        Effect.flatMap((r) => (r === null ? Effect.succeed(null) : read(operation, () => provider.getTransactionReceipt(hash))))
      )

    const reverted = (operation: string, r: TransactionReceipt) =>
      chainError(operation, { _tag: "Reverted", errorName: "Unknown", args: {} }, `${operation}: transaction ${r.hash} reverted on chain`, `block ${r.blockNumber}, gas used ${r.gasUsed}`)

    /**
     * Polls for the receipt (capped exponential backoff). A sent transaction the node no longer knows is
     * broadcast again (a node restarted without its pool); one whose nonce another transaction took is Dropped.
     */
    const awaitMined = (operation: string, hash: string, sent: Sent | undefined, timeoutMs: number) => {
      let lastCheck = Date.now()
      const poll = Effect.gen(function*() {
        const receipt = yield* receiptOf(operation, hash)
        if (receipt !== null) return receipt
        if (sent !== undefined && Date.now() - lastCheck > 2_000) {
          lastCheck = Date.now()
          const known = yield* rpc<unknown>(operation, "eth_getTransactionByHash", [hash])
          if (known === null) {
            yield* broadcast(operation, sent.raw).pipe(
              Effect.catch((e: ChainError) => {
                const refusal = sendRefusal(e.cause ?? e)
                if (refusal === "AlreadyKnown") return Effect.void
                if (refusal !== "NonceTooLow" && refusal !== "Underpriced") return Effect.fail(e)
                // Its nonce is taken: mined after all (look once more), or replaced by another transaction.
                return receiptOf(operation, hash).pipe(
                  Effect.flatMap((late) =>
                    late !== null ? Effect.void : Effect.fail(chainError(operation, { _tag: "Dropped", txHash: hash }, `${operation}: transaction ${hash} was dropped by the node`, e.details, e.cause))
                  )
                )
              })
            )
          }
        }
        return yield* Effect.fail(new NotMined())
      })
      return poll.pipe(
        Effect.retry({ schedule: pollSchedule, while: (e) => e instanceof NotMined || (e as ChainError).reason._tag === "Unreachable" }),
        Effect.timeoutOrElse({
          duration: Duration.millis(timeoutMs),
          orElse: () =>
            Effect.fail(chainError(operation, { _tag: "ReceiptTimeout", txHash: hash }, `${operation}: no receipt for ${hash} after ${timeoutMs} ms`, "the transaction may still be mined; wait for it again with waitForReceipt"))
        }),
        Effect.catchIf((e): e is NotMined => e instanceof NotMined, () => Effect.die("unreachable: NotMined escaped its retry")),
        Effect.flatMap((r) => (r.status === 1 ? Effect.succeed(r) : Effect.fail(reverted(operation, r))))
      )
    }

    const estimate = (operation: string, from: Signer, request: TxRequest) =>
      retryUnreachable(read(operation, () =>
        provider.estimateGas({
          from: from.address,
          ...(request.to === undefined ? {} : { to: request.to }),
          data: request.data ?? "0x",
          value: request.value ?? 0n
        })
      )).pipe(
        Effect.mapError((e) => (e.reason._tag === "InsufficientFunds" ? noFunds(operation, from.address, e) : e)),
        // Headroom: state may move between estimation and inclusion.
        Effect.map((gas) => gas * 6n / 5n)
      )

    const send = (from: Signer, request: TxRequest, operation: string): Effect.Effect<TransactionReceipt, ChainError> =>
      Effect.gen(function*() {
        if (!nonces.has(from.address)) return yield* Effect.die(new Error(`signer ${from.address} was made by another chain client`))
        // Estimated, priced, signed and broadcast under the key's lock, taken in call order: writes from one key
        // land in the order they were made, and a revert found by estimation costs no nonce and comes back decoded.
        const sent = yield* withNonce(from.address, (nonce) =>
          Effect.gen(function*() {
            const gasLimit = request.gasLimit ?? (yield* estimate(operation, from, request))
            const fee = yield* fees(operation)
            return yield* signAndBroadcast(operation, from, { ...request, gasLimit }, fee, nonce)
          }))
        return yield* awaitMined(operation, sent.hash, sent, receiptTimeoutMs)
      })

    const inclusion = (txHash: string): Effect.Effect<Inclusion, ChainError> =>
      Effect.gen(function*() {
        const operation = "inclusion"
        const receipt = yield* receiptOf(operation, txHash)
        if (receipt === null) return { _tag: "Missing" } as const
        const [head, block] = yield* Effect.all([
          rpc<string>(operation, "eth_blockNumber", []).pipe(Effect.map(big)),
          rpc<{ hash: string } | null>(operation, "eth_getBlockByNumber", [hex(BigInt(receipt.blockNumber)), false])
        ], { concurrency: 2 })
        // A node may still serve a receipt from a block that left the canonical chain: trust the block, not it.
        if (block === null || block.hash.toLowerCase() !== receipt.blockHash.toLowerCase()) return { _tag: "Missing" } as const
        const depth = Number(head - BigInt(receipt.blockNumber)) + 1
        return {
          _tag: "Included",
          blockNumber: BigInt(receipt.blockNumber),
          blockHash: receipt.blockHash,
          confirmations: depth,
          final: depth >= confirmations,
          succeeded: receipt.status === 1
        } as const
      })

    const shape: ChainShape = {
      rpcUrl: config.rpcUrl,
      chainId,
      confirmations,
      provider,
      signer,
      send,
      transfer: (from, to, wei) => send(from, { to: getAddress(to), value: wei }, "transfer"),
      read,
      waitForReceipt: (txHash, options) => awaitMined("waitForReceipt", txHash, undefined, options?.timeoutMs ?? receiptTimeoutMs),
      inclusion,
      resync,
      balance: (address) => rpc<string>("balance", "eth_getBalance", [getAddress(address), "latest"]).pipe(Effect.map(big)),
      blockNumber: rpc<string>("blockNumber", "eth_blockNumber", []).pipe(Effect.map(big))
    }
    return shape
  })

/** The chain client as a scoped service: the provider is released with the scope. */
export const layer = (config: ChainConfig): Layer.Layer<Chain, ChainError> =>
  Layer.effect(Chain, Effect.acquireRelease(makeEffect(config), (c) => Effect.sync(() => c.provider.destroy())))

// ---------------------------------------------------------------- the Promise facade

type Promised<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => Effect.Effect<infer R, infer _E> ? (...args: A) => Promise<R>
    : T[K] extends Effect.Effect<infer R, infer _E> ? () => Promise<R>
    : T[K]
}

/** The chain client for embedders without Effect: the same operations, rejecting with ChainError. */
export type ChainClient = Omit<Promised<ChainShape>, "signer"> & {
  /** The Effect service behind this facade (for Effect callers sharing it). */
  readonly service: ChainShape
  /** Synchronous: making a signer needs no round trip. Throws ChainError(InvalidInput) for a bad key. */
  readonly signer: (privateKey: string) => Signer
  readonly close: () => Promise<void>
}

export const facade = (service: ChainShape): ChainClient => {
  const run = <A>(effect: Effect.Effect<A, ChainError>) => Effect.runPromise(effect)
  return {
    service,
    rpcUrl: service.rpcUrl,
    chainId: service.chainId,
    confirmations: service.confirmations,
    provider: service.provider,
    signer: (privateKey) => {
      const r = Effect.runSync(Effect.result(service.signer(privateKey)))
      if (r._tag === "Failure") throw r.failure
      return r.success
    },
    send: (signer, request, operation) => run(service.send(signer, request, operation)),
    transfer: (signer, to, wei) => run(service.transfer(signer, to, wei)),
    read: (operation, f) => run(service.read(operation, f)),
    waitForReceipt: (txHash, options) => run(service.waitForReceipt(txHash, options)),
    inclusion: (txHash) => run(service.inclusion(txHash)),
    resync: (address) => run(service.resync(address)),
    balance: (address) => run(service.balance(address)),
    blockNumber: () => run(service.blockNumber),
    close: async () => service.provider.destroy()
  }
}

/** Connects to `config.rpcUrl` (failing with Unreachable when nothing answers) and returns the Promise client. */
export const make = (config: ChainConfig): Promise<ChainClient> => Effect.runPromise(makeEffect(config)).then(facade)
