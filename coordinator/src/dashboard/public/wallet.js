// Sign-in and API calls for the dashboard. The user signs in with the browser wallet (EIP-1193 `window.ethereum`):
// the coordinator writes a Sign-In with Ethereum message (EIP-4361) for the account, the wallet signs it
// (`personal_sign`) and the coordinator answers a short-lived bearer token, kept for this tab only. Every call names
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
