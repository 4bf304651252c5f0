/**
 * TLS client certificates bound to members' DIDs (identity/DidIdentity.ts `tlsClientKeys`): the coordinator asks
 * every connection for a certificate (Listener.ts `clientCertificates`) without checking it against any CA — the
 * trust anchor is the org's DID, which names the certificate's key (its DER SubjectPublicKeyInfo). Auth.admit then
 * admits a participant only over a connection whose certificate key the org's DID names now: a key rotated away or
 * revoked on chain is refused at the next handshake. Keys, not whole certificates, are named, so a certificate
 * renewed over the same key needs no change on chain.
 */
import { X509Certificate } from "node:crypto"
import { TLSSocket } from "node:tls"
import { Schema } from "effect"

/** Client certificates bound to DIDs were asked for where they cannot be: no TLS listener, or no DID registry. */
export class ClientCertificatesUnavailable extends Schema.TaggedError<ClientCertificatesUnavailable>()("ClientCertificatesUnavailable", {
  detail: Schema.String
}) {
  override get message() {
    return `clientCertificates: ${this.detail}`
  }
}

/** The DER SubjectPublicKeyInfo of a certificate's key, lowercase hex: what a DID names. */
export const spkiOf = (certificate: X509Certificate): string => certificate.publicKey.export({ type: "spki", format: "der" }).toString("hex")

/** The same for a PEM certificate (`jointly did publish-tls-key --cert <file>`); throws on text that holds none. */
export const spkiOfPem = (pem: string): string => spkiOf(new X509Certificate(pem))

/** The client certificate key of a connection: undefined over plain HTTP, or when the client presented none. */
export const spkiOfSocket = (socket: unknown): string | undefined => {
  if (!(socket instanceof TLSSocket)) return undefined
  const certificate = socket.getPeerX509Certificate()
  return certificate === undefined ? undefined : spkiOf(certificate)
}
