/**
 * `npm run bench -- api`, in one run: what authorisation costs the HTTP API (api-auth.ts: signed-in throughput
 * and p99 against the same routes unguarded), then what TLS and separate hosts cost a task (api-tls.ts: a
 * statistics task across network namespaces over HTTPS/WSS against loopback without TLS).
 */
import * as Auth from "./api-auth.ts"
import * as Tls from "./api-tls.ts"

export const run = async () => {
  await Auth.run()
  await Tls.run()
}
