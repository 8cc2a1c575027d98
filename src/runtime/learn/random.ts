/**
 * Seeded pseudo-random numbers for reproducible splits, initialisation and shuffling (a run with the
 * same seed gives the same model). Not for anything secret: use node:crypto for that.
 */

/** mulberry32: tiny, fast, and good enough statistically for shuffles and weight init. */
export function createRng(seed: number): () => number {
  let state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** In-place Fisher–Yates shuffle driven by `rng`. */
export function shuffleInPlace(values: Uint32Array, rng: () => number): void {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = values[i] as number;
    values[i] = values[j] as number;
    values[j] = t;
  }
}

/** A standard normal sample (Box–Muller; the second value is dropped for simplicity). */
export function normal(rng: () => number): number {
  const u = 1 - rng(); // (0, 1]: log(0) would be -Infinity
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}
