// Sign-in and API calls for the dashboard. The user signs in with the browser wallet (EIP-1193 `window.ethereum`):
// the coordinator writes a Sign-In with Ethereum message (EIP-4361) for the account, the wallet signs it
// (`personal_sign`) and the coordinator answers a short-lived bearer token, kept for this tab only. Without a
// wallet, a participant's data steward signs in as its organisation with the participant's dashboard token: the
// page MACs the same message under the token (HMAC-SHA256, WebCrypto), the coordinator relays it to that
// participant, which checks the MAC and signs the message with its own key; the token never leaves the page. Every call names
// an endpoint of the API's declaration (`/dashboard/api.js`, generated from it); the live feed is read with fetch,
// since EventSource cannot send the token.
import { routes } from "./api.js"

const storageKey = "jointly.session"

/** The signed-in session of this tab: { token, address, expiresAt, roles }, or null. */
export const session = () => {
  try {
    const s = JSON.parse(sessionStorage.getItem(storageKey) ?? "null")
    return s && Date.parse(s.expiresAt) - 30_000 > Date.now() ? s : null
  } catch {
    return null
  }
}

export const signOut = () => sessionStorage.removeItem(storageKey)

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`)
    this.status = status
    this.tag = body?._tag ?? "Http"
    this.reason = body?.reason
  }
}

const urlOf = (name, { params = {}, query } = {}) => {
  const route = routes[name]
  if (!route) throw new Error(`the API has no endpoint ${name}`)
  const path = route.path.replace(/:(\w+)/g, (_m, p) => encodeURIComponent(params[p] ?? ""))
  const q = query ? Object.entries(query).filter(([, v]) => v !== undefined && v !== null) : []
  return { route, url: q.length ? `${path}?${new URLSearchParams(q)}` : path }
}

/** Calls endpoint `name` ("group.endpoint") with the session's token; throws ApiError with the API's tagged error. */
export const call = async (name, request = {}) => {
  const { route, url } = urlOf(name, request)
  const headers = { "content-type": "application/json" }
  const s = session()
  if (s) headers.authorization = `Bearer ${s.token}`
  const response = await fetch(url, { method: route.method, headers, ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }) })
  const body = await response.json().catch(() => ({}))
  if (response.status === 401 && s) signOut()
  if (!response.ok) throw new ApiError(response.status, body)
  return body
}

const hex = (text) => "0x" + [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("")

/** Signs in with the injected wallet; resolves with the session. */
export const signIn = async () => {
  const ethereum = window.ethereum
  if (!ethereum) throw new Error("no browser wallet found: install one (EIP-1193) to sign in")
  const [address] = await ethereum.request({ method: "eth_requestAccounts" })
  if (!address) throw new Error("the wallet shared no account")
  const challenge = await call("auth.challenge", { body: { address } })
  // The wallet shows the message, naming this coordinator's domain, and signs it (EIP-191).
  const signature = await ethereum.request({ method: "personal_sign", params: [hex(challenge.message), address] })
  const signed = await call("auth.signIn", { body: { message: challenge.message, signature } })
  sessionStorage.setItem(storageKey, JSON.stringify(signed))
  return signed
}

/** HMAC-SHA256 under `token` over the sign-in message, labelled (participant/src/policy/HumanToken.ts signInMac). */
const signInMac = async (token, message) => {
  const enc = new TextEncoder()
  const key = await crypto.subtle.importKey("raw", enc.encode(token), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
  const tag = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(`jointly.dashboard.sign-in.v1\n${message}`)))
  return "0x" + [...tag].map((b) => b.toString(16).padStart(2, "0")).join("")
}

/** Signs in as participant `address`'s organisation with its dashboard token; resolves with the session. */
export const signInWithToken = async (address, token) => {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new Error("enter the participant's address (0x followed by 40 hex digits)")
  if (!token) throw new Error("enter the participant's dashboard token")
  const challenge = await call("auth.challenge", { body: { address } })
  const signed = await call("auth.tokenSignIn", { body: { message: challenge.message, mac: await signInMac(token, challenge.message) } })
  sessionStorage.setItem(storageKey, JSON.stringify(signed))
  return signed
}

/**
 * Reads a Server-Sent Events endpoint with the token: `onEvent` for each event's JSON data, `onOpen` once the
 * stream answers. Resolves when the stream ends (the token expired, the server stopped); rejects on refusal.
 */
export const stream = async (name, { onOpen, onEvent, signal }) => {
  const { url } = urlOf(name)
  const s = session()
  const response = await fetch(url, { headers: s ? { authorization: `Bearer ${s.token}` } : {}, signal })
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})))
  onOpen?.()
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ""
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    let end
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n")
      if (data) onEvent(JSON.parse(data))
    }
  }
}
