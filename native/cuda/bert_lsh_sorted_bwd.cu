/*
 * bert_lsh_sorted_bwd.cu: BERT-LSH backward on the sorted path (disjoint buckets; index from
 * bert_lsh_sort.cu), after bert_lsh_backward.cu's delta kernel. Same gradients as the
 * dense rows / keys kernels (formulas there), over the colliding pairs only; deterministic (each
 * output row is summed by one thread in a fixed order; no atomics).
 *
 * Every pair (q row qi, k row kj) in one bucket has one dot product q_qi.k_kj, used by up to two
 * entries: U (row qi, key kj) when kj >= qi (any for symmetric=none) and kj is unpadded, and
 * L (row kj, key qi) when qi < kj (transposed fill) and qi is unpadded. A block owns 32
 * positions of one side's sorted list and walks the other side's positions of the same buckets:
 *   pass 0 (own = q side): dq_qi  = sum over its pairs of (dS_U + dS_L) k_kj / sqrt(D);
 *                          dv_qi  = sum of P_L M dO_kj (qi is the key of the L entry)
 *                                   + M_ii dO_i for a fill=masked diagonal fallback row.
 *   pass 1 (own = k side): dk_kj  = sum over its pairs of (dS_U + dS_L) q_qi / sqrt(D);
 *                          dv_kj += sum of P_U M dO_qi (kj is the key of the U entry).
 * Pass 0 writes the q and v parts of dqkv, pass 1 the k part and adds to v (stream order).
 * With P = exp(dot / sqrt(D) - lse_row), dS = P (M dO_row . v_key - delta_row), M the dropout
 * multiplier of element (row, key). Tiles of other rows without an entry are skipped.
 * fill=zero (kZero, no dropout; bert_lsh_sorted_zero.cu): the same dS (lse includes the zero
 * logits), P - c_row in place of P M for dv, and pass 0 adds col = sum_i c_i dO_i to dv of every
 * unpadded own row (c_i = exp(-lse_i), 0 for a row flagged -1: every key is an entry).
 */
#include <cmath>

#include "bert_lsh_common.cuh"

namespace lshlab_cuda {
namespace blsh {
namespace {
using namespace attn;

// Loads the per-row scalars of rows t[0..32): lse, delta, key valid, c (a zero logit's P).
__device__ __forceinline__ void row_scalars(float* lse, float* del, int32_t* kv, float* cz,
                                            const int32_t* t, const float* stats,
                                            const float* delta, const int32_t* mask,
                                            const Shape& s, int bh, int b) {
  if (threadIdx.x < kTile) {
    const int r = threadIdx.x, tr = t[r];
    const int64_t at = int64_t(bh) * s.T + tr, BHT = int64_t(s.B) * s.H * s.T;
    lse[r] = tr >= 0 ? stats[at] : INFINITY;
    del[r] = tr >= 0 ? delta[at] : 0.f;
    kv[r] = tr >= 0 && key_valid(mask, s, b, tr) ? 1 : 0;
    cz[r] = tr >= 0 && stats[BHT + at] >= 0.f ? expf(0.f - lse[r]) : 0.f;
  }
}

template <bool kDropout, bool kZero>
__global__ void __launch_bounds__(kThreads)
bert_lsh_sorted_bwd_kernel(float* dqkv, Sorted st, const float* dctx, const float* qkv,
                           const float* stats, const float* delta, const int32_t* mask, Shape s,
                           Opt o, DropoutKeep drop, int side) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C(), T = s.T;
  float* Xa = smem;                 // [32][D+1] own rows: q (pass 0) or k (pass 1)
  float* Va = Xa + kTile * Dp;      // own v
  float* Ga = Va + kTile * Dp;      // own dO
  float* Yc = Ga + kTile * Dp;      // other rows: k (pass 0) or q (pass 1)
  float* Vc = Yc + kTile * Dp;      // other v
  float* Gc = Vc + kTile * Dp;      // other dO
  float* W = Gc + kTile * Dp;       // [32 own][33] dS_U + dS_L
  float* PV = W + kTile * 33;       // [32 own][33] P M of the entry whose key is the own row
  float* lse_a = PV + kTile * 33;   // [32] each
  float* del_a = lse_a + kTile;
  float* lse_c = del_a + kTile;
  float* del_c = lse_c + kTile;
  float* cz_a = del_c + kTile;      // c of the own rows (unused), of the other rows
  float* cz_c = cz_a + kTile;
  int32_t* ta = reinterpret_cast<int32_t*>(cz_c + kTile);
  int32_t* ua = ta + kTile;
  int32_t* kva = ua + kTile;
  int32_t* tc = kva + kTile;
  int32_t* uc = tc + kTile;
  int32_t* kvc = uc + kTile;
  int32_t* any = kvc + kTile;

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, a0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C), BH = int64_t(s.B) * s.H;
  const float* head = qkv + int64_t(b) * T * ld + h * D;
  const float* dOh = dctx + int64_t(b) * T * C + h * D;
  const int64_t own = (side * BH + bh) * T, oth = ((1 - side) * BH + bh) * T;
  if (threadIdx.x < kTile) {
    const int p = a0 + threadIdx.x;
    ta[threadIdx.x] = p < T ? st.ord[own + p] : -1;
    ua[threadIdx.x] = p < T ? st.sb[own + p] : -1;
  }
  const int plast = a0 + kTile - 1 < T ? a0 + kTile - 1 : T - 1;
  const int32_t* ostart = st.start + ((1 - side) * BH + bh) * (2 * int64_t(T) + 1);
  const int lo = ostart[st.sb[own + a0]], hi = ostart[st.sb[own + plast] + 1];
  __syncthreads();
  row_scalars(lse_a, del_a, kva, cz_a, ta, stats, delta, mask, s, bh, b);
  gather_tile(Xa, head + side * C, ld, ta, D);
  gather_tile(Va, head + 2 * C, ld, ta, D);
  gather_tile(Ga, dOh, C, ta, D);
  float dg[kMaxOut], dv[kMaxOut];
  out_zero(dg);
  out_zero(dv);

  for (int c0 = lo; c0 < hi; c0 += kTile) {
    __syncthreads();
    if (threadIdx.x < kTile) {
      const int p = c0 + threadIdx.x;
      tc[threadIdx.x] = p < hi ? st.ord[oth + p] : -1;
      uc[threadIdx.x] = p < hi ? st.sb[oth + p] : -2;
    }
    if (threadIdx.x == 0) *any = 0;
    __syncthreads();
    row_scalars(lse_c, del_c, kvc, cz_c, tc, stats, delta, mask, s, bh, b);
    const int tl = tc[lane];
    bool eo[kRowsPerWarp], et[kRowsPerWarp], has = false;  // entry with row = own / other
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r, tr = ta[i];
      const bool same = tr >= 0 && tl >= 0 && ua[i] == uc[lane];
      const int qi = side == 0 ? tr : tl, kj = side == 0 ? tl : tr;
      const bool kvq = side == 0 ? kva[i] != 0 : key_valid(mask, s, b, tl);
      const bool kvk = side == 0 ? key_valid(mask, s, b, tl) : kva[i] != 0;
      const bool u = same && (o.symn || kj >= qi) && kvk, lo_e = same && !o.symn && qi < kj && kvq;
      eo[r] = side == 0 ? u : lo_e;
      et[r] = side == 0 ? lo_e : u;
      has = has || eo[r] || et[r];
    }
    if (has) *any = 1;
    __syncthreads();
    if (*any == 0) continue;
    gather_tile(Yc, head + (1 - side) * C, ld, tc, D);
    gather_tile(Vc, head + 2 * C, ld, tc, D);
    gather_tile(Gc, dOh, C, tc, D);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      float w = 0.f, pv = 0.f;
      if (eo[r] || et[r]) {
        const float dot = tile_dot(Xa, i, Yc, lane, D) * s.scale;
        if (eo[r]) {
          const float p = expf(dot - lse_a[i]);
          float dp = tile_dot(Ga, i, Vc, lane, D);
          if (kDropout) dp *= keep_one(drop, bh, T, ta[i], tl);
          w += p * (dp - del_a[i]);
        }
        if (et[r]) {
          const float p = expf(dot - lse_c[lane]);
          const float mul = kDropout ? keep_one(drop, bh, T, tl, ta[i]) : 1.f;
          const float dp = tile_dot(Gc, lane, Va, i, D) * mul;
          w += p * (dp - del_c[lane]);
          pv = kZero ? p - cz_c[lane] : p * mul;
        }
      }
      W[i * 33 + lane] = w;
      PV[i * 33 + lane] = pv;
    }
    __syncthreads();
    out_mac2(dg, W, Yc, dv, PV, Gc, D);
  }

  const int64_t BHT = BH * T;
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D, t = ta[i];
      if (t >= 0) {
        float* row = dqkv + (int64_t(b) * T + t) * ld + h * D + d;
        if (side == 0) {
          float fv = 0.f;
          if (stats[BHT + int64_t(bh) * T + t] > 0.f)  // fallback row: P_ii = 1 on its diagonal
            fv = (kDropout ? keep_one(drop, bh, T, t, t) : 1.f) * Ga[i * Dp + d];
          if (kZero && kva[i]) fv = st.col[int64_t(bh) * (D + 1) + d];  // sum_i c_i dO_i
          row[0] = dg[r] * s.scale;
          row[2 * C] = dv[r] + fv;
        } else {
          row[C] = dg[r] * s.scale;
          row[2 * C] += dv[r];
        }
      }
    }
  }
}

}  // namespace

// Six [32][D+1] row tiles, two [32][33] weight tiles, the row scalars and indices (the kernel's
// layout above).
size_t sorted_bwd_smem(int D) {
  return sizeof(float) * (6 * kTile * size_t(D + 1) + 2 * kTile * 33 + 6 * kTile) +
         sizeof(int32_t) * (6 * kTile + 1);
}

int sorted_backward(float* dqkv, const Sorted& st, const float* dctx, const float* qkv,
                    const float* stats, const float* delta, const int32_t* mask,
                    const attn::Shape& s, const Opt& o, const DropoutKeep& drop) {
  const bool zero = !o.masked;  // use_sorted: no dropout then
  const size_t smem = sorted_bwd_smem(s.D);
  const auto kernel = zero      ? bert_lsh_sorted_bwd_kernel<false, true>
                      : drop.on ? bert_lsh_sorted_bwd_kernel<true, false>
                                : bert_lsh_sorted_bwd_kernel<false, false>;
  if (int rc = opt_in_smem(kernel, smem, "bert_lsh_sorted_bwd_kernel", s.D))
    return rc;
  if (zero)  // sum over every row of c_i dO_i per head
    if (int rc = zero_colsum(st.col, dctx, s.C(), stats, mask, s)) return rc;
  const dim3 grid(unsigned(ceil_div(s.T, kTile)), unsigned(int64_t(s.B) * s.H));
  for (int side = 0; side < 2; side++) {
    kernel<<<grid, kThreads, smem, stream()>>>(dqkv, st, dctx, qkv, stats, delta, mask, s, o, drop, side);
    if (int rc = check_launch("bert_lsh_sorted_bwd_kernel")) return rc;
  }
  return 0;
}

}  // namespace blsh
}  // namespace lshlab_cuda
