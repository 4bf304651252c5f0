/**
 * Which address a per-address limit counts: the peer, unless the peer is a configured proxy — then the nearest
 * X-Forwarded-For hop that is not a proxy itself. A client cannot pick its address by sending the header.
 */
import { describe, expect, it } from "vitest"
import * as ClientAddress from "./ClientAddress.ts"

describe("ClientAddress", () => {
  it("ignores X-Forwarded-For without trusted proxies, and from a peer that is not one", () => {
    expect(ClientAddress.make()("203.0.113.9", "198.51.100.1")).toBe("203.0.113.9")
    expect(ClientAddress.make(["10.0.0.5"])("203.0.113.9", "198.51.100.1")).toBe("203.0.113.9")
  })

  it("reads the nearest hop that is not a trusted proxy, through chained proxies and subnets", () => {
    const of = ClientAddress.make(["10.0.0.5", "192.168.0.0/16"])
    expect(of("10.0.0.5", "198.51.100.1")).toBe("198.51.100.1")
    // A client's own forged entry sits left of the hop the proxies saw.
    expect(of("10.0.0.5", "1.2.3.4, 198.51.100.1, 192.168.3.4")).toBe("198.51.100.1")
    expect(of("::ffff:10.0.0.5", ["198.51.100.7"])).toBe("198.51.100.7")
    expect(of("::ffff:203.0.113.9", undefined)).toBe("203.0.113.9")
  })

  it("refuses an entry that is neither an address nor a subnet", () => {
    expect(() => ClientAddress.make(["proxy.internal"])).toThrow("trustProxy: proxy.internal is not an IP address or CIDR subnet")
  })
})
