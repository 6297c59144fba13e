/*
 * bert_lsh_forward.cu: BERT-LSH attention forward, fused (the online softmax of
 * attention_forward.cu over the entries the semantics set), plus the argument checks, the
 * workspace plan and the per-head counts. Semantics: attention/bert_lsh.h; tile phases and
 * entries: bert_lsh_common.cuh.
 *
 *   ctx_i = sum_j softmax_j(A_ij / sqrt(D)) M_ij v_j over unpadded keys j, where A_ij = the entry's
 *   dot product, 0 for a non-entry (fill=zero) or excluded (fill=masked); M = exact's dropout.
 * Shapes: qkv (B,T,3C); mask (B,T); codes (2,B,H,nh,T); ctx (B,T,C); stats (2,B,H,T) = lse,
 *         fallback flag; counts (2,H); workspace: rowcount (B,H,T) ints, then planes, coef.
 *
 * One block per (32 query rows, b h), key tiles in order. Per tile the block first evaluates
 * the collision predicate of its 32 x 32 pairs from the code tiles (no dot product); under
 * fill=masked a tile without an entry is skipped entirely. Otherwise each thread computes the dot
 * products of its (at most 4) entries only, non-entries take logit 0 (fill=zero) or -inf, and
 * the tile goes through the online softmax and O += P' V. A fill=masked row left with no entry
 * and an unpadded token gets its diagonal: ctx = M_ii v_i, lse = q_i.k_i / sqrt(D), flag 1.
 * Counts: per row the U entries with both tokens unpadded (each scored pair once), summed per
 * head by a second kernel in integers (deterministic), plus the fallback flags.
 * Disjoint buckets (one hash, or combine=and) may take the sorted path instead, O(entries + T D)
 * per head rather than O(T^2): fill=masked always, fill=zero without attention dropout (its zero
 * logits through per-head column sums, bert_lsh_sorted_zero.cu; with dropout the dense kernel,
 * as the CPU). use_sorted: bert_lsh_sort.cu; the index sits after the draws in the workspace.
 */
#include <cmath>

#include "bert_lsh_common.cuh"

namespace lshlab_cuda {
namespace blsh {
namespace {
using namespace attn;

template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
bert_lsh_forward_kernel(float* ctx, float* stats, int32_t* rowcount, const float* qkv,
                        const int32_t* codes, const int32_t* mask, Shape s, Opt o,
                        DropoutKeep drop) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* X = smem;                  // [32][D+1] query-side rows (Q or K of rows q0..)
  float* Y = X + kTile * Dp;        // [32][D+1] key-side rows (K or Q of rows k0..)
  float* Vs = Y + kTile * Dp;       // [32][D+1]
  float* Ps = Vs + kTile * Dp;      // [32][33] P' of the tile (unnormalised)
  float* corr = Ps + kTile * 33;    // [32]
  float* inv_l = corr + kTile;      // [32]
  float* fbm = inv_l + kTile;       // [32] fallback row: its keep multiplier, else -1
  float* Ms = fbm + kTile;          // [32][33] dropout multipliers (kDropout)
  int32_t* cqI = reinterpret_cast<int32_t*>(Ms + (kDropout ? kTile * 33 : 0));
  int32_t* ckI = cqI + o.nh * kTile;
  int32_t* cqJ = ckI + o.nh * kTile;
  int32_t* ckJ = cqJ + o.nh * kTile;
  int32_t* any = ckJ + o.nh * kTile;

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, q0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C), BHT = int64_t(s.B) * s.H * s.T;
  const float* head = qkv + int64_t(b) * s.T * ld + h * D;  // q of row 0; k at +C, v at +2C
  load_codes(cqI, ckI, codes, o, BHT, bh, s.T, q0);

  float m[kRowsPerWarp], l[kRowsPerWarp];
  int cnt[kRowsPerWarp];
  bool rvalid[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    m[r] = -INFINITY;
    l[r] = 0.f;
    cnt[r] = 0;
    rvalid[r] = key_valid(mask, s, b, q0 + warp + kWarps * r);
  }
  float acc[kMaxOut];
  out_zero(acc);
  int xp = -1;  // part loaded in X (0 q, 1 k)

  for (int k0 = 0; k0 < s.T; k0 += kTile) {
    __syncthreads();  // the previous tile is no longer read
    load_codes(cqJ, ckJ, codes, o, BHT, bh, s.T, k0);
    if (threadIdx.x == 0) *any = 0;
    __syncthreads();
    const bool kvalid = key_valid(mask, s, b, k0 + lane);
    int kind[kRowsPerWarp];
    bool has = false;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      kind[r] = entry_kind(cqI, ckI, cqJ, ckJ, warp + kWarps * r, lane, q0, k0, s.T, kvalid, o);
      has = has || kind[r] != 0;
      cnt[r] += (kind[r] == 1 && rvalid[r]) ? 1 : 0;
    }
    if (has) *any = 1;
    __syncthreads();
    if (o.masked && *any == 0) continue;  // no entry, no zero logit: nothing in this tile
    const int xpart = x_part(q0, k0, o);
    if (xpart != xp) {  // uniform over the block
      load_tile(X, head + xpart * C, ld, q0, s.T, D);
      xp = xpart;
    }
    load_tile(Y, head + y_part(q0, k0, o) * C, ld, k0, s.T, D);
    load_tile(Vs, head + 2 * C, ld, k0, s.T, D);
    if (kDropout) dropout_tile(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      const float sc = kind[r] ? entry_dot(X, Y, kind[r], i, lane, D) * s.scale
                               : (!o.masked && kvalid) ? 0.f : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(sc));
      float p = 0.f, c = 1.f;
      if (m_new != -INFINITY) {
        p = expf(sc - m_new);
        c = expf(m[r] - m_new);
      }
      l[r] = l[r] * c + warp_sum(p);
      m[r] = m_new;
      Ps[i * 33 + lane] = kDropout ? p * Ms[i * 33 + lane] : p;
      if (lane == 0) corr[i] = c;
    }
    __syncthreads();
    out_mac_rescaled(acc, corr, Ps, Vs, D);
  }

  // Row results; a fill=masked row without entries (unpadded) falls back to its diagonal.
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int i = warp + kWarps * r, t = q0 + i;
    const bool fb = o.masked && m[r] == -INFINITY && rvalid[r];  // uniform over the warp
    float sii = 0.f;
    if (fb) {
      for (int d = lane; d < D; d += 32) sii += head[int64_t(t) * ld + d] * head[int64_t(t) * ld + C + d];
      sii = warp_sum(sii) * s.scale;
    }
    const int total = int(warp_sum(float(cnt[r])));  // <= T < 2^24: exact in float
    if (lane == 0) {
      const bool any_key = l[r] > 0.f;
      inv_l[i] = any_key ? 1.f / l[r] : 0.f;
      fbm[i] = fb ? (kDropout ? keep_one(drop, bh, s.T, t, t) : 1.f) : -1.f;
      if (t < s.T) {
        stats[int64_t(bh) * s.T + t] = fb ? sii : any_key ? m[r] + logf(l[r]) : INFINITY;
        stats[BHT + int64_t(bh) * s.T + t] = fb ? 1.f : 0.f;
        rowcount[int64_t(bh) * s.T + t] = total + (fb ? 1 : 0);
      }
    }
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D, t = q0 + i;
      if (t < s.T)
        ctx[(int64_t(b) * s.T + t) * C + h * D + d] =
            fbm[i] >= 0.f ? fbm[i] * head[int64_t(t) * ld + 2 * C + d] : acc[r] * inv_l[i];
    }
  }
}

// counts[h] = sum over b, t of rowcount (dot products), counts[H + h] = of the fallback flags.
// One block per head; integer sums, so the order does not matter.
__global__ void bert_lsh_counts_kernel(double* counts, const int32_t* rowcount, const float* fbflag,
                                       Shape s) {
  __shared__ long long part[2][kThreads];
  const int h = blockIdx.x;
  long long dots = 0, fbs = 0;
  for (int64_t e = threadIdx.x; e < int64_t(s.B) * s.T; e += kThreads) {
    const int b = int(e / s.T), t = int(e % s.T);
    const int64_t at = (int64_t(b) * s.H + h) * s.T + t;
    dots += rowcount[at];
    fbs += fbflag[at] > 0.f ? 1 : 0;
  }
  part[0][threadIdx.x] = dots;
  part[1][threadIdx.x] = fbs;
  __syncthreads();
  if (threadIdx.x == 0) {
    long long d = 0, f = 0;
    for (int t = 0; t < kThreads; t++) { d += part[0][t]; f += part[1][t]; }
    counts[h] = double(d);
    counts[s.H + h] = double(f);
  }
}

}  // namespace

int check_args(const char* what, int B, int T, int H, int D, const lshlab_cuda_bert_lsh_params* p,
               Opt* o) {
  if (p == nullptr) return fail(1, what, "params is NULL");
  if (B < 0 || T < 0 || H < 0) return fail(1, what, "B, T and H must be >= 0");
  if (D <= 0 || D > attn::kMaxD) return fail(1, what, "head size D must be in 1..128");
  if (int64_t(B) * H > 65535) return fail(1, what, "B * H must be at most 65535");
  if (p->bands < 1 || p->bands > kMaxBands) return fail(1, what, "bands must be in 1..64");
  if (p->num_hashes < 1 || p->num_hashes > kMaxHashes) return fail(1, what, "num_hashes must be in 1..64");
  if (p->table_size < 1) return fail(1, what, "table_size must be >= 1");
  if (int64_t(p->num_hashes) * p->bands * D > (int64_t(1) << 18))
    return fail(1, what, "num_hashes * bands * D must be <= 262144");
  *o = Opt{p->num_hashes, p->bands, p->table_size, p->fill_masked != 0, p->symmetric_none != 0,
           p->combine_and != 0};
  return 0;
}

}  // namespace blsh

int bert_lsh_workspace_size(size_t* bytes, int B, int T, int H, int D,
                            const lshlab_cuda_bert_lsh_params* params) {
  clear_error();
  blsh::Opt o{};
  if (int rc = blsh::check_args("bert_lsh_workspace_size", B, T, H, D, params, &o)) return rc;
  const size_t bh = size_t(B) * H, al = 256;
  auto up = [al](size_t n) { return (n + al - 1) / al * al; };
  *bytes = up(bh * T * 4) + up(bh * o.nh * o.bands * D * 4) + up(bh * o.nh * o.bands * 4) +
           blsh::sorted_bytes(o, B, T, H, D);
  return 0;
}

int bert_lsh_forward(float* ctx, float* stats, int32_t* codes, float* planes, int32_t* coef,
                     double* counts, void* workspace, const float* qkv, const int32_t* mask, int B,
                     int T, int H, int D, const lshlab_cuda_bert_lsh_params* params,
                     uint64_t seed, uint32_t step, uint32_t site, const lshlab_cuda_dropout* dropout) {
  using namespace attn;
  clear_error();
  void* mark = take_stage_mark();
  blsh::Opt o{};
  if (int rc = blsh::check_args("bert_lsh_forward", B, T, H, D, params, &o)) return rc;
  if (site >= 4096 || B > 65536 || H > 65536)
    return fail(1, "bert_lsh_forward", "site must be < 4096 (and B, H <= 65536) for the hash stream");
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  const size_t bh = size_t(B) * H;
  auto up = [](size_t n) { return (n + 255) / 256 * 256; };
  char* ws = static_cast<char*>(workspace);
  int32_t* rowcount = reinterpret_cast<int32_t*>(ws);
  float* pl = planes ? planes : reinterpret_cast<float*>(ws + up(bh * T * 4));
  int32_t* cf = coef ? coef : reinterpret_cast<int32_t*>(ws + up(bh * T * 4) + up(bh * o.nh * o.bands * D * 4));
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const bool fixed = params->reseed_fixed != 0;
  const HashDraw draw = make_hash_draw(seed, fixed ? 0xFFFFFFFFu : step, fixed);
  if (int rc = blsh::hash(codes, pl, cf, qkv, s, o, draw, site)) return rc;

  const DropoutKeep drop = make_dropout_keep(dropout);
  if (blsh::use_sorted(o, T, D, drop.on)) {  // disjoint buckets (fill=zero: no dropout)
    blsh::Sorted st{};
    if (int rc = blsh::sort_rows(&st, ws + blsh::sorted_offset(o, B, T, H, D), codes, s, o)) return rc;
    if (int rc = record_stage_mark(mark)) return rc;  // buckets hashed and sorted
    if (int rc = blsh::sorted_forward(ctx, stats, rowcount, st, qkv, mask, s, o, drop)) return rc;
  } else {
    if (int rc = record_stage_mark(mark)) return rc;  // codes ready: the dense kernels compare them
    if (int rc = blsh::dense_forward(ctx, stats, rowcount, qkv, codes, mask, s, o, drop)) return rc;
  }
  const auto counts_kernel = blsh::bert_lsh_counts_kernel;
  counts_kernel<<<unsigned(H), kThreads, 0, stream()>>>(counts, rowcount, stats + bh * T, s);
  return check_launch("bert_lsh_counts_kernel");
}

namespace blsh {
int dense_forward(float* ctx, float* stats, int32_t* rowcount, const float* qkv,
                  const int32_t* codes, const int32_t* mask, const attn::Shape& s, const Opt& o,
                  const DropoutKeep& drop) {
  using namespace attn;
  const int D = s.D, T = s.T;
  const size_t bh = size_t(s.B) * s.H;
  const size_t smem = sizeof(float) * (3 * kTile * (D + 1) + kTile * 33 + 3 * kTile +
                                       (drop.on ? kTile * 33 : 0)) +
                      sizeof(int32_t) * (4 * o.nh * kTile + 1);
  const auto kernel = drop.on ? bert_lsh_forward_kernel<true> : bert_lsh_forward_kernel<false>;
  if (int rc = opt_in_smem(kernel, smem, "bert_lsh_forward_kernel", D))
    return rc;
  const dim3 grid(unsigned(ceil_div(T, kTile)), unsigned(bh));
  kernel<<<grid, kThreads, smem, stream()>>>(ctx, stats, rowcount, qkv, codes, mask, s, o, drop);
  return check_launch("bert_lsh_forward_kernel");
}
}  // namespace blsh

}  // namespace lshlab_cuda
