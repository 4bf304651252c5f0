/**
 * Test helper: a loopback port nothing listens on any more (taken from the system, then released), so a connection
 * to it is refused over a real socket — what a test of an unreachable coordinator or peer connects to.
 */
import { createServer } from "node:net"

export const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
