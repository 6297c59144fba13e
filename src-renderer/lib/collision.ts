/**
 * collision.ts: the probability that a query q and a key k at angle θ land together (collide)
 * under each attention variant's LSH, from the papers' formulas (../shared/notes/algorithms.md),
 * as a function of the variant's parameters. Pure: no DOM, no Svelte (unit-tested under Node).
 *
 * - SimHash, one random hyperplane r ~ N(0, I): P[sign(r·q) = sign(r·k)] = 1 − θ/π.
 * - bert-lsh (released code, notes §A.2-A.3): one hash function = `bands` hyperplanes, bucket
 *   (Σ_b 1[r_b·x > 0]·C_b) mod table_size. Same sign pattern on all bands (AND) gives (1 − θ/π)^bands;
 *   two different patterns still share a bucket when their coefficient sums agree mod table_size,
 *   which for random C_b happens about 1/table_size of the time (approximation; exact for large m).
 *   Hash functions combine by OR in the reference code (collide under any):
 *   1 − (1 − p_hash)^num_hashes; combine=and (the paper's wording) gives p_hash^num_hashes.
 * - yoso / yoso-e (notes §B, fact 6): τ-bit SimHash codes collide with (1 − θ/π)^τ. YOSO's
 *   estimate averages num_hash Bernoulli draws, so its spread is sqrt(p(1 − p)/num_hash); yoso-e
 *   uses the expectation itself (no spread).
 * - reformer (notes §C): angular LSH by a random rotation, bucket = argmax([xR, −xR]) over
 *   num_buckets buckets. With 2 buckets that is exactly one hyperplane. For more buckets we use the
 *   APPROXIMATION of log2(num_buckets) independent hyperplanes, (1 − θ/π)^log2(nb) (the true
 *   cross-polytope probability depends on the head dimension and falls off a little faster near
 *   θ = π/2). Rounds combine by OR. For seq_len <= chunk_length the reference attends to every key
 *   (full attention), so p = 1; num_buckets 0 (auto) = 2·⌊n/chunk⌋ rounded down to a power of 2.
 * - exact: every pair is computed, p = 1.
 */

/** Parameters as the engine names them; absent ones take the engine's defaults. */
export type VariantParams = Record<string, string | number | boolean | undefined>;

export interface CollisionCurve {
  /** θ in radians, 0..π. */
  theta: number[];
  /** Probability that q and k collide (are attended / sampled together). */
  p: number[];
  /** Optional ± one standard deviation band (yoso's sampling spread). */
  lower?: number[];
  upper?: number[];
  /** The formula in words, shown under the chart. */
  formula: string;
  /** Set when the curve is an approximation; says which. */
  approximation?: string;
}

/** One random hyperplane separates q and k with probability θ/π (Goemans-Williamson / Charikar). */
export function simhashBit(theta: number): number {
  return clamp01(1 - theta / Math.PI);
}

export function bertLshCollision(theta: number, bands: number, tableSize: number, numHashes: number, combine: 'or' | 'and' = 'or'): number {
  const same = Math.pow(simhashBit(theta), bands);
  // Different sign patterns merging mod table_size: about 1/m of the rest (at most the 2^bands patterns exist).
  const merge = tableSize > 0 ? (1 - same) / tableSize : 0;
  const pHash = clamp01(same + merge);
  return combine === 'and' ? Math.pow(pHash, numHashes) : 1 - Math.pow(1 - pHash, numHashes);
}

export function yosoCollision(theta: number, tau: number): number {
  return Math.pow(simhashBit(theta), tau);
}

/** Standard deviation of YOSO's m-sample estimate of a collision probability p. */
export function yosoSpread(p: number, numHash: number): number {
  return numHash > 0 ? Math.sqrt((p * (1 - p)) / numHash) : 0;
}

/** HF Reformer's automatic bucket count: 2·⌊n/chunk⌋ rounded down to a power of two (at least 2). */
export function reformerAutoBuckets(seqLen: number, chunkLength: number): number {
  const target = 2 * Math.floor(seqLen / Math.max(1, chunkLength));
  if (target < 2) return 2;
  return Math.pow(2, Math.floor(Math.log2(target)));
}

export function reformerCollision(theta: number, numBuckets: number, numHashes: number): number {
  const bits = Math.log2(Math.max(2, numBuckets));
  const round = Math.pow(simhashBit(theta), bits);
  return 1 - Math.pow(1 - round, numHashes);
}

function num(params: VariantParams, name: string, fallback: number): number {
  const v = params[name];
  if (v === undefined || v === '' || v === 'auto') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

/** Sample the curve for a variant at `points` angles in [0, π]. `seqLen` matters for reformer only. */
export function collisionCurve(variant: string, params: VariantParams, seqLen = 128, points = 91): CollisionCurve {
  const theta = Array.from({ length: points }, (_, i) => (Math.PI * i) / (points - 1));
  switch (variant) {
    case 'bert-lsh': {
      const bands = num(params, 'bands', 2);
      const m = num(params, 'table_size', 64);
      const h = num(params, 'num_hashes', 1);
      const combine = params['combine'] === 'and' ? 'and' : 'or';
      const p = theta.map((t) => bertLshCollision(t, bands, m, h, combine));
      const inner = `(1 − θ/π)^${bands} + (1 − (1 − θ/π)^${bands})/${m}`;
      const formula = h === 1 ? `p = ${inner}` : combine === 'and' ? `p = [${inner}]^${h}` : `p = 1 − [1 − (${inner})]^${h}`;
      return { theta, p, formula, approximation: `bucket merges mod table_size taken as 1/${m} (random coefficients)` };
    }
    case 'yoso':
    case 'yoso-e': {
      const tau = num(params, 'tau', 9);
      const m = num(params, 'num_hash', 64);
      const p = theta.map((t) => yosoCollision(t, tau));
      const curve: CollisionCurve = { theta, p, formula: `p = (1 − θ/π)^${tau}` };
      if (variant === 'yoso') {
        curve.lower = p.map((v) => clamp01(v - yosoSpread(v, m)));
        curve.upper = p.map((v) => clamp01(v + yosoSpread(v, m)));
        curve.formula += `, band ± sqrt(p(1 − p)/${m}) from ${m} hash samples`;
      }
      return curve;
    }
    case 'reformer': {
      const chunk = num(params, 'chunk_length', 64);
      const rounds = num(params, 'num_hashes', 1);
      if (seqLen <= chunk) {
        return { theta, p: theta.map(() => 1), formula: `p = 1: seq len ${seqLen} ≤ chunk length ${chunk}, so every key is attended (no hashing)` };
      }
      const nb = num(params, 'num_buckets', 0) || reformerAutoBuckets(seqLen, chunk);
      const p = theta.map((t) => reformerCollision(t, nb, rounds));
      return {
        theta,
        p,
        formula: `p ≈ 1 − [1 − (1 − θ/π)^log2(${nb})]^${rounds}`,
        approximation: `${nb} rotation buckets treated as log2(${nb}) = ${Math.log2(nb).toFixed(1)} independent hyperplanes; neighbouring chunks also attend`,
      };
    }
    default:
      return { theta, p: theta.map(() => 1), formula: 'p = 1: exact attention computes every query-key pair' };
  }
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
