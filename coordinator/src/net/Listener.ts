/**
 * The coordinator's one listening socket: HTTPS when a certificate and key are configured, plain HTTP
 * otherwise (loopback, or behind a reverse proxy that terminates TLS). The API, the dashboard with its
 * Server-Sent Events and the participants' socket.io connections all share it, so one certificate covers
 * every way in. The certificate can be replaced while the coordinator runs (`reload`): connections made after
 * it see the new one, established ones keep theirs.
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http"
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https"
import type { AddressInfo } from "node:net"

export interface TlsMaterial {
  /** PEM: the server certificate, followed by any intermediate CA certificates. */
  readonly cert: string
  /** PEM: its private key. */
  readonly key: string
}

export interface ListenerOptions {
  readonly tls?: TlsMaterial
  /**
   * Ask every TLS client for a certificate, checked by no CA here: the participants' handshake admits only one whose
   * key the org's DID names (auth/ClientCertificates.ts). Clients without one still connect (the API, the dashboard).
   */
  readonly clientCertificates?: boolean
  /** A TLS handshake not finished within this time is dropped (Node's default is 120 s). Default 10 s. */
  readonly tlsHandshakeTimeoutMs?: number
}

export type Server = HttpServer | HttpsServer

export const create = (options: ListenerOptions = {}): Server =>
  options.tls === undefined
    ? createHttpServer()
    : createHttpsServer({
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: "TLSv1.2",
      ...(options.clientCertificates === true ? { requestCert: true, rejectUnauthorized: false } : {}),
      handshakeTimeout: options.tlsHandshakeTimeoutMs ?? 10_000
    })

export const isTls = (server: Server): server is HttpsServer => "setSecureContext" in server

/** Replaces the certificate and key of a TLS listener for every connection made from now on. */
export const reload = (server: Server, tls: TlsMaterial): void => {
  if (!isTls(server)) throw new Error("the coordinator listens without TLS; configure a certificate and restart it")
  server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: "TLSv1.2" })
}

/** Listens on host:port (0 picks a free port) and resolves with the port. */
export const listen = (server: Server, host: string, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve((server.address() as AddressInfo).port)
    })
  })

/** The URL a client uses when no public URL is configured. */
export const urlOf = (server: Server, host: string, port: number): string => {
  const shown = host.includes(":") ? `[${host}]` : host
  return `${isTls(server) ? "https" : "http"}://${shown}:${port}`
}
