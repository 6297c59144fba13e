/**
 * param-help.ts: what each attention variant and parameter does, in words, for the New-run form's
 * help texts and tooltips (the contract's `description` is one terse line; this says why you
 * would change it). Pure data.
 */

export const VARIANT_HELP: Record<string, string> = {
  exact: 'Standard softmax attention: every query-key dot product is computed (the baseline).',
  'bert-lsh': 'BERT-LSH (Li & Yip): SimHash buckets Q and K; only colliding pairs get a dot product, the rest keep logit 0 (or are masked).',
  'yoso-e': 'YOSO-E: the expectation of YOSO\'s sampler, (1 − θ/π)^τ weights on every pair: dense, no sampling noise.',
  yoso: 'YOSO (Zeng et al.): Bernoulli sampling by LSH collisions, linear cost; no softmax, outputs averaged over m hashes.',
  reformer: 'Reformer: shared-QK angular LSH, sorted into chunks; exact softmax within a chunk and its neighbour.',
};

export const PARAM_HELP: Record<string, string> = {
  bands: 'Hyperplanes per hash function. More bands = more sign bits must agree, so fewer, closer pairs collide (p falls as (1 − θ/π)^bands).',
  table_size: 'Bucket range m: a band pattern is mapped to (Σ C_b) mod m. With few bands there are at most 2^bands patterns, so m only matters when patterns merge.',
  num_hashes: 'Independent hash functions (bert-lsh) or hashing rounds (reformer). More of them raise recall: a pair collides if it matches in any of them.',
  fill: 'zero: non-colliding logits are 0 and still get softmax weight (the paper\'s code). masked: they are excluded from the softmax.',
  symmetric: 'transposed-fill: only i ≤ j collisions are computed and copied to A[j,i] (the paper\'s code, lossy). none: each colliding pair gets its own score.',
  combine: 'or: collide under any hash function (the reference code). and: under all of them (the paper\'s wording), much sparser.',
  reseed: 'per-call: fresh hyperplanes every forward (the paper). fixed: the same hash family every step (deterministic attention pattern).',
  tau: 'Hash bits τ per code. The collision probability is (1 − θ/π)^τ: larger τ makes attention sharper (closer to softmax) but sparser.',
  num_hash: 'Hash functions m averaged by YOSO. More hashes lower the sampling noise (spread ∝ 1/√m) at linear extra cost.',
  conv_window: 'YOSO-C: depthwise convolution over the sequence added to V (odd window; 0 = off).',
  backward: 'surrogate: the bounded (τ/2)·f gradient of HF/v1 YOSO. exact: the true derivative of the kernel.',
  num_buckets: 'Angular buckets per round (even). auto = 2·(seq len / chunk length) rounded down to a power of 2, as Hugging Face does.',
  chunk_length: 'Tokens per chunk after sorting by bucket. At seq len ≤ chunk length Reformer attends to everything (full attention).',
  num_chunks_before: 'Neighbouring chunks before each chunk that it also attends to.',
  num_chunks_after: 'Neighbouring chunks after each chunk that it also attends to.',
};
