/**
 * The address a request comes from, for per-address limits. Behind a reverse proxy that terminates TLS every
 * peer is the proxy, so `X-Forwarded-For` is honoured — but only when the peer is one of the configured proxy
 * addresses (`trustProxy`, addresses or CIDR subnets), and only back to the first hop that is not a trusted
 * proxy itself: a client cannot choose its own address by sending the header. Without `trustProxy` the header
 * is ignored entirely.
 */
import { BlockList, isIP } from "node:net"
import { Schema } from "effect"

/** `::ffff:10.0.0.1` → `10.0.0.1`, so a client counts once whichever socket family accepted it. */
const normalise = (address: string): string => {
  const trimmed = address.trim().replace(/^\[|\]$/g, "")
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(trimmed)
  return mapped ? mapped[1]! : trimmed.toLowerCase()
}

/** A `trustProxy` entry that is neither an IP address nor a CIDR subnet. */
export class InvalidProxy extends Schema.TaggedError<InvalidProxy>()("InvalidProxy", { entry: Schema.String }) {
  override get message() {
    return `trustProxy: ${this.entry} is not an IP address or CIDR subnet`
  }
}

export type ClientAddress = (peer: string | undefined, forwardedFor: string | ReadonlyArray<string> | undefined) => string

/** Builds the resolver; throws InvalidProxy on an entry that is neither an address nor a subnet. */
export const make = (trustProxy: ReadonlyArray<string> = []): ClientAddress => {
  const proxies = new BlockList()
  for (const entry of trustProxy) {
    const [address, prefix] = entry.split("/")
    const family = isIP(address ?? "")
    if (family === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) throw new InvalidProxy({ entry })
    const type = family === 6 ? "ipv6" : "ipv4"
    if (prefix === undefined) proxies.addAddress(address!, type)
    else proxies.addSubnet(address!, Number(prefix), type)
  }
  const trusted = (address: string) => {
    const family = isIP(address)
    return family !== 0 && proxies.check(address, family === 6 ? "ipv6" : "ipv4")
  }
  return (peer, forwardedFor) => {
    let client = normalise(peer ?? "unknown")
    if (trustProxy.length === 0 || !trusted(client)) return client
    const hops = (typeof forwardedFor === "string" ? [forwardedFor] : [...(forwardedFor ?? [])])
      .flatMap((h) => h.split(","))
      .map(normalise)
      .filter((h) => h !== "")
    // Walk from the nearest hop outwards; the first address that is not a trusted proxy is the client.
    for (let i = hops.length - 1; i >= 0; i--) {
      client = hops[i]!
      if (!trusted(client)) return client
    }
    return client
  }
}
