/** Big-endian bytes ↔ bigint for the OpenSSL kernels (Node's hex codec is the fastest path between the two). */
export const toBytes = (x: bigint): Buffer => {
  const hex = x.toString(16)
  return Buffer.from(hex.length % 2 === 0 ? hex : "0" + hex, "hex")
}

export const fromBytes = (b: Uint8Array): bigint =>
  b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex"))
