/**
 * A TCP proxy on loopback for fault tests: a participant connects to the coordinator through it, and the test
 * cuts the link (every open connection destroyed at once, new ones refused) and restores it later — what a
 * dropped VPN or a restarted firewall does to a real participant, without touching the machine's network.
 * With `bytesPerSecond` it is also a slow link: what the target sends reaches the proxied party at that rate
 * (a participant's slow downlink), in slices every 50 ms, the target held back by the stream's backpressure.
 * `stall` and `abandon` make a link die unnoticed: bytes stop passing while both ends think it up, then the proxied
 * party gives it up (its heartbeat) and connects again while the target still holds the old connection.
 */
import { connect, createServer, type Socket } from "node:net"
import { Transform } from "node:stream"

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: the target's URL as the proxied party uses it. */
  readonly url: string
  /** Destroys every connection through the proxy; connections opened until `restore` are closed at once. */
  readonly cut: () => void
  readonly restore: () => void
  /**
   * Every open connection stops passing bytes, both ways (what either end writes is lost), and stays open: a link
   * that died without a reset (a NAT that forgot the mapping, a dropped VPN). New connections pass as before.
   */
  readonly stall: () => void
  /**
   * Closes the proxied party's side of every stalled connection and leaves the target's side open and silent: the
   * party's heartbeat gave the link up while the target has yet to notice.
   */
  readonly abandon: () => void
  /** Connections accepted so far (restored ones included). */
  readonly connections: () => number
  readonly close: () => Promise<void>
}

const sliceMs = 50

/** Passes bytes on at `bytesPerSecond`: each chunk cut in slices of one tick's budget, one slice a tick. */
const throttle = (bytesPerSecond: number) => {
  const perSlice = Math.max(1, Math.floor((bytesPerSecond * sliceMs) / 1_000))
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const pass = (offset: number) => {
        if (this.destroyed) return
        this.push(chunk.subarray(offset, offset + perSlice))
        if (offset + perSlice >= chunk.length) return done()
        setTimeout(() => pass(offset + perSlice), sliceMs)
      }
      setTimeout(() => pass(0), sliceMs)
    }
  })
}

export const start = async (target: { readonly host: string; readonly port: number }, options: { readonly bytesPerSecond?: number } = {}): Promise<TcpProxy> => {
  const open = new Set<Socket>()
  /** Open connections: each stalls in place (`stall`), and a stalled one loses its party's side (`abandon`). */
  const links = new Set<{ readonly stall: () => void; readonly abandon: () => void }>()
  let cut = false
  let accepted = 0
  const server = createServer((client) => {
    if (cut) return void client.destroy()
    accepted++
    const upstream = connect(target.port, target.host)
    const pair = [client, upstream] as const
    const slow = options.bytesPerSecond === undefined ? undefined : throttle(options.bytesPerSecond)
    let stalled = false
    const close = () => {
      slow?.destroy()
      links.delete(link)
      for (const socket of pair) {
        socket.destroy()
        open.delete(socket)
      }
    }
    const link = {
      stall: () => {
        stalled = true
        client.unpipe()
        upstream.unpipe()
        slow?.unpipe()
        // Read and dropped: neither side is held back, neither hears a thing.
        for (const socket of pair) socket.on("data", () => {})
      },
      abandon: () => {
        if (!stalled) return
        links.delete(link)
        client.off("close", close).off("error", close).on("error", () => {})
        client.destroy()
        open.delete(client)
      }
    }
    links.add(link)
    for (const socket of pair) {
      open.add(socket)
      socket.on("error", close).on("close", close)
    }
    client.pipe(upstream)
    if (slow === undefined) upstream.pipe(client)
    else upstream.pipe(slow).pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      cut = true
      for (const socket of [...open]) socket.destroy()
    },
    restore: () => {
      cut = false
    },
    stall: () => {
      for (const link of links) link.stall()
    },
    abandon: () => {
      for (const link of [...links]) link.abandon()
    },
    connections: () => accepted,
    close: async () => {
      cut = true
      for (const socket of [...open]) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
