/**
 * The coordinator's socket hub alone on a loopback port, for tests of what travels over it: every org admitted
 * as Audited (no chain), but each participant logs in with a real EIP-712 signature over a nonce the hub issued,
 * and its stage replies, connections and disconnections go to whichever round channel the test routes them to. It answers the
 * HTTP API's nonce route (`GET /api/auth/nonce`) too, so a participant agent can sign in to it as to a coordinator.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"
import { verifyTypedData, Wallet } from "ethers"
import { io, type Socket } from "socket.io-client"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import type { HandshakeAuth } from "@jointly/core/internal/wire/Messages"
import * as Auth from "../auth/Auth.ts"
import type * as Nonces from "../auth/Nonces.ts"
import * as Log from "../Log.ts"
import * as Hub from "../transport/Hub.ts"
import type * as SocketChannel from "../transport/SocketChannel.ts"

export interface LoopbackHub {
  readonly hub: Hub.HubShape
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  /** Where stage replies, connections and disconnections go from now on. */
  readonly route: (channel: SocketChannel.SocketChannel) => void
  /** A participant signed in as `wallet`, through `via` (a proxy's URL) or straight to the hub, with `login` or a fresh one. */
  readonly connect: (wallet: Wallet, via?: string, login?: HandshakeAuth) => Promise<Socket>
  /** A fresh handshake Login of `wallet`: a nonce the hub issued, signed. */
  readonly login: (wallet: Wallet) => Promise<HandshakeAuth>
  readonly close: () => Promise<void>
}

/** `registry`: what the chain says of an org (default: every org Audited); `spent`: where login nonces are spent (default: memory). */
export const start = async (options: Hub.HubOptions & { readonly registry?: Auth.Registry; readonly spent?: Nonces.Spent } = {}): Promise<LoopbackHub> => {
  const domain = Eip712.domain(31337n, "0x" + "11".repeat(20))
  const coordinator = Wallet.createRandom().address
  const auth = Auth.make(
    options.registry ?? { orgOf: () => Effect.succeed({ state: "Audited", name: "test org" }) },
    { recover: (login, signature) => verifyTypedData(domain, Eip712.loginTypes, { ...login, coordinator, issuedAt: BigInt(login.issuedAt) }, signature) },
    options.spent === undefined ? {} : { spent: options.spent }
  )
  // The hub's socket.io takes its own paths; every other request comes here.
  const http = createServer((request, response) => {
    if (request.method !== "GET" || request.url !== "/api/auth/nonce") {
      response.writeHead(404).end()
      return
    }
    const { nonce, expiresAt } = auth.issueNonce()
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify({ nonce, expiresAt, coordinator, chainId: domain.chainId.toString(), ledger: domain.verifyingContract }))
  })
  const hub = Hub.make(http, auth, Log.make("hub", "error"), options)
  let channel: SocketChannel.SocketChannel | undefined
  hub.bind({
    consent: () => Effect.void,
    // A participant back (a new socket replaced its old one): its open requests sent again or reminded of.
    online: (account) => channel?.online(account),
    reply: (account, message) => channel!.reply(account, message),
    offline: (account) => channel?.offline(account)
  })
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  const port = (http.address() as AddressInfo).port
  const login = async (wallet: Wallet): Promise<HandshakeAuth> => {
    const { nonce } = auth.issueNonce()
    const issuedAt = Math.floor(Date.now() / 1000)
    const signature = await Eip712.signLogin(wallet, domain, { account: wallet.address, nonce, coordinator, issuedAt: BigInt(issuedAt) })
    return { account: wallet.address, nonce, issuedAt, signature }
  }
  const url = `http://127.0.0.1:${port}`
  return {
    hub,
    url,
    port,
    route: (next) => {
      channel = next
    },
    login,
    connect: async (wallet, via = url, given) => {
      const socket = io(`${via}${Hub.namespace}`, { transports: ["websocket"], reconnection: false, auth: { ...(given ?? await login(wallet)) } })
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve)
        socket.once("connect_error", reject)
      })
      return socket
    },
    close: async () => {
      await hub.close()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    }
  }
}
