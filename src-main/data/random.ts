/**
 * random.ts: the one seeded PRNG of the data layer (mulberry32: small, well mixed, identical on
 * every platform), used for seeded splits and per-epoch shuffles. Not for cryptography, and not
 * the engine's Philox streams (dropout and masking are drawn in native code).
 */

/** A 32-bit seeded generator returning uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
