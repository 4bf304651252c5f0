/** Histogram bins as every engine counts them (numpy's convention): [e_i, e_i+1), the last bin closed. */

/** Bin index of v for edges e, or −1 outside [e_0, e_last]. */
export const binOf = (edges: ReadonlyArray<number>, v: number): number => {
  const last = edges.length - 1
  if (!(v >= edges[0]!) || !(v <= edges[last]!)) return -1
  if (v === edges[last]) return last - 1
  let lo = 0
  let hi = last
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (v >= edges[mid]!) lo = mid
    else hi = mid
  }
  return lo
}
