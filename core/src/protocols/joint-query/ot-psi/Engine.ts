/**
 * The OT-based PSI engine (spec.ts): `receiver` and `sender`, each an Effect over a `Link` (Link.ts) and the `Aes`
 * service (Aes.ts: WebCrypto everywhere, node:crypto through the Node backends, backends/src/node/OpenSslAes.ts). Both return the
 * indices, into their own input, of the intersection in one common order (the sender's only with
 * `revealToSender`), and what they sent and received.
 */
export { receiver } from "./Receiver.ts"
export { sender } from "./Sender.ts"
export type { EngineError, Options, Output, Progress, Stats } from "./Session.ts"
