/**
 * The OT-based PSI runs over a `Link`: an ordered, reliable pipe of byte messages to the other party, each at most
 * `maxMessageBytes` (1 MiB by default: the socket transport limits messages, and a relay should never hold one big
 * blob). Anything that moves bytes in order can be a link: `memoryPair` (tests, one process), `messagePort` (two
 * worker threads or a browser Web Worker: a MessageChannel, buffers transferred, not copied), or later the
 * coordinator's sealed relay (joint-query/Channel.ts). The engine counts what it sends (`Counted`).
 */
import { Effect, Schema } from "effect"

export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20

export class LinkError extends Schema.TaggedError<LinkError>()("OtPsiLinkError", {
  detail: Schema.String
}) {
  override get message() {
    return `ot-psi link: ${this.detail}`
  }
}

export interface Link {
  /** Largest message this link carries; the engine never sends more in one message. */
  readonly maxMessageBytes: number
  /**
   * Sends one message; the link may take ownership of its buffer (transfer). It must not wait for the peer to read
   * it: the receiver streams partition p+1's matrix while the sender streams partition p's values, so a link needs
   * room for one partition in flight each way (≈ 85 MB of matrix at the default 2^20 elements per partition).
   */
  readonly send: (message: Uint8Array) => Effect.Effect<void, LinkError>
  /** The next message from the peer, in order. */
  readonly receive: Effect.Effect<Uint8Array, LinkError>
}

/** A link that counts the bytes and messages that pass through it in each direction. */
export interface Counted extends Link {
  readonly stats: () => { readonly bytesSent: number; readonly bytesReceived: number; readonly messagesSent: number; readonly messagesReceived: number }
}

export const counted = (link: Link): Counted => {
  let bytesSent = 0
  let bytesReceived = 0
  let messagesSent = 0
  let messagesReceived = 0
  return {
    maxMessageBytes: link.maxMessageBytes,
    send: (message) => {
      if (message.length > link.maxMessageBytes) {
        return Effect.fail(new LinkError({ detail: `a ${message.length}-byte message exceeds the link's ${link.maxMessageBytes}-byte limit` }))
      }
      bytesSent += message.length
      messagesSent++
      return link.send(message)
    },
    receive: Effect.map(link.receive, (message) => {
      bytesReceived += message.length
      messagesReceived++
      return message
    }),
    stats: () => ({ bytesSent, bytesReceived, messagesSent, messagesReceived })
  }
}

/** An unbounded in-order mailbox: `put` never waits, `take` waits for the next item (and never rejects). */
const mailbox = <A>() => {
  const items: Array<A> = []
  let head = 0
  const waiting: Array<(a: A) => void> = []
  return {
    put: (item: A) => {
      const resume = waiting.shift()
      if (resume !== undefined) resume(item)
      else items.push(item)
    },
    take: (): Promise<A> => {
      if (head < items.length) {
        const item = items[head]!
        items[head++] = undefined as never
        if (head > 1024 && head * 2 > items.length) {
          items.splice(0, head)
          head = 0
        }
        return Promise.resolve(item)
      }
      return new Promise<A>((resolve) => waiting.push(resolve))
    }
  }
}

/** Two connected links in one process (tests): what one side sends, the other receives, in order. */
export const memoryPair = (maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES): readonly [Link, Link] => {
  const aToB = mailbox<Uint8Array>()
  const bToA = mailbox<Uint8Array>()
  const end = (out: ReturnType<typeof mailbox<Uint8Array>>, into: ReturnType<typeof mailbox<Uint8Array>>): Link => ({
    maxMessageBytes,
    // A copy, so the sender may reuse its buffer as a transferring link would not let it.
    send: (message) => Effect.sync(() => out.put(message.slice())),
    receive: Effect.promise(() => into.take()) // never rejects (mailbox)
  })
  return [end(aToB, bToA), end(bToA, aToB)] as const
}

/** The subset of a MessagePort (DOM or node:worker_threads) a link needs. */
export interface PortLike {
  postMessage(message: unknown, transfer: ReadonlyArray<ArrayBuffer>): void
  addEventListener(type: "message" | "close", listener: (event: { readonly data?: unknown }) => void): void
  start?(): void
  close?(): void
}

/**
 * A link over a MessagePort: each message is posted as its own ArrayBuffer and transferred (the sender gives the
 * buffer up). A message that is not a Uint8Array or exceeds the limit, or the peer closing its end, fails the next
 * `receive` with LinkError.
 */
export const messagePort = (port: PortLike, maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES): Link => {
  const inbox = mailbox<Uint8Array | LinkError>()
  port.addEventListener("message", (event) => {
    const data = event.data
    if (!(data instanceof Uint8Array)) inbox.put(new LinkError({ detail: `received a ${typeof data} instead of bytes` }))
    else if (data.length > maxMessageBytes) inbox.put(new LinkError({ detail: `received ${data.length} bytes, over the ${maxMessageBytes}-byte limit` }))
    else inbox.put(data)
  })
  // Node's ports (and recent browsers') say when the other end is gone: a waiting receive fails instead of hanging.
  port.addEventListener("close", () => inbox.put(new LinkError({ detail: "the peer closed the channel" })))
  port.start?.()
  return {
    maxMessageBytes,
    send: (message) =>
      Effect.try({
        try: () => {
          // Only a buffer the message fills alone can be transferred; a view into a larger buffer is copied first.
          const own = message.byteOffset === 0 && message.byteLength === message.buffer.byteLength && message.buffer instanceof ArrayBuffer
            ? message
            : message.slice()
          port.postMessage(own, [own.buffer as ArrayBuffer])
        },
        catch: (error) => new LinkError({ detail: `postMessage failed: ${String(error)}` })
      }),
    // `take` never rejects; a port's failure arrives as a LinkError item, failed here.
    receive: Effect.flatMap(Effect.promise(() => inbox.take()), (item) => (item instanceof LinkError ? Effect.fail(item) : Effect.succeed(item)))
  }
}
