/*
 * bert_lsh_sorted_fwd.cu: BERT-LSH forward on the sorted path (disjoint buckets; index from
 * bert_lsh_sort.cu; fill=zero without dropout: bert_lsh_sorted_zero.cu's split, kZero).
 * Same entries, fallback, stats and row counts as the dense kernel
 * of bert_lsh_forward.cu (semantics: bert_lsh_common.cuh), but a block visits only the key rows
 * of its query rows' buckets, so the work is O(colliding pairs + T) per head, not O(T^2).
 *
 * A block owns 32 consecutive positions of one side's sorted list ("own" rows, possibly
 * spanning several buckets u0..u1) and walks the other side's positions start[u0] ..
 * start[u1 + 1] in tiles of 32 ("other" rows), online softmax as attention_forward.cu:
 *   pass 0 (own = rows sorted by q code, other = key rows by k code): the U entries of row i,
 *     keys j with kb(j) == qb(i) and j >= i (any j for symmetric=none), logit q_i.k_j;
 *   pass 1 (transposed fill only; own = rows sorted by k code, other = rows by q code): the L
 *     entries of row i, keys j < i with qb(j) == kb(i), logit q_j.k_i.
 * Both passes: key j unpadded, V of the key row, dropout multiplier of element (i, j).
 * Pass 0 writes the row's partial state (max and sum to the workspace, unnormalised O into ctx)
 * unless it is the last pass; pass 1 starts its online softmax from that state. The last pass
 * finalises: the diagonal fallback of an unpadded row without entries, ctx, stats, rowcount.
 * Rows with equal buckets are contiguous, so a tile of other rows is skipped when none of its
 * 32 x 32 pairs is an entry (other buckets of a multi-bucket range, the triangle j < i).
 * kZero also sums each row's entries' V (unweighted) and counts them (carried between the
 * passes in zs and ml's third plane); the last pass adds the zero logits from col (n, Vsum).
 */
#include <cmath>

#include "bert_lsh_common.cuh"

namespace lshlab_cuda {
namespace blsh {
namespace {
using namespace attn;

template <bool kDropout, bool kZero>
__global__ void __launch_bounds__(kThreads)
bert_lsh_sorted_fwd_kernel(float* ctx, float* stats, int32_t* rowcount, Sorted st,
                           const float* qkv, const int32_t* mask, Shape s, Opt o,
                           DropoutKeep drop, int side, int last) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* X = smem;                  // [32][D+1] own rows' q (pass 0) or k (pass 1)
  float* Y = X + kTile * Dp;        // [32][D+1] other rows' k (pass 0) or q (pass 1)
  float* Vs = Y + kTile * Dp;       // [32][D+1] other rows' v
  float* Ps = Vs + kTile * Dp;      // [32][33]
  float* corr = Ps + kTile * 33;    // [32]
  float* inv_l = corr + kTile;      // [32]
  float* fbm = inv_l + kTile;       // [32]
  float* e0s = fbm + kTile;         // [32] kZero: exp(-M) of the row, the zero logits' weight
  float* Is = e0s + kTile;          // [32][33] kZero: 1 on the tile's entries
  int32_t* ta = reinterpret_cast<int32_t*>(Is + (kZero ? kTile * 33 : 0));  // [32] own rows
  int32_t* ua = ta + kTile;         // [32] own buckets
  int32_t* tc = ua + kTile;         // [32] other rows (-1 past the range)
  int32_t* uc = tc + kTile;         // [32] other buckets
  int32_t* any = uc + kTile;

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, a0 = blockIdx.x * kTile, T = s.T;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C), BH = int64_t(s.B) * s.H, BHT = BH * T;
  const float* head = qkv + int64_t(b) * T * ld + h * D;
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
  gather_tile(X, head + side * C, ld, ta, D);

  float m[kRowsPerWarp], l[kRowsPerWarp];
  int cnt[kRowsPerWarp], deg[kRowsPerWarp];  // counted pairs; entries (kZero)
  float acc[kMaxOut], accv[kMaxOut];         // O (unnormalised); sum of the entries' V (kZero)
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int t = ta[warp + kWarps * r];
    m[r] = side == 1 && t >= 0 ? st.ml[bh * int64_t(T) + t] : -INFINITY;
    l[r] = side == 1 && t >= 0 ? st.ml[BHT + bh * int64_t(T) + t] : 0.f;
    const bool carry = kZero && side == 1 && t >= 0 && lane == 0;  // lane 0 holds the count
    deg[r] = carry ? int(st.ml[2 * BHT + bh * int64_t(T) + t]) : 0;
    cnt[r] = 0;
  }
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    const int t = idx < kTile * D ? ta[idx / D] : -1;
    acc[r] = side == 1 && t >= 0 ? ctx[(int64_t(b) * T + t) * C + h * D + idx % D] : 0.f;
    accv[r] = kZero && side == 1 && t >= 0 ? st.zs[(bh * int64_t(T) + t) * D + idx % D] : 0.f;
  }

  for (int c0 = lo; c0 < hi; c0 += kTile) {
    __syncthreads();  // the previous tile is no longer read
    if (threadIdx.x < kTile) {
      const int p = c0 + threadIdx.x;
      tc[threadIdx.x] = p < hi ? st.ord[oth + p] : -1;
      uc[threadIdx.x] = p < hi ? st.sb[oth + p] : -2;
    }
    if (threadIdx.x == 0) *any = 0;
    __syncthreads();
    const int tj = tc[lane];
    const bool kvalid = tj >= 0 && key_valid(mask, s, b, tj);
    bool ent[kRowsPerWarp], has = false;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r, ti = ta[i];
      ent[r] = kvalid && ti >= 0 && ua[i] == uc[lane] && (side == 0 ? (o.symn || tj >= ti) : tj < ti);
      has = has || ent[r];
      cnt[r] += (side == 0 && ent[r] && key_valid(mask, s, b, ti)) ? 1 : 0;
      deg[r] += ent[r] ? 1 : 0;
    }
    if (has) *any = 1;
    __syncthreads();
    if (*any == 0) continue;
    gather_tile(Y, head + (1 - side) * C, ld, tc, D);
    gather_tile(Vs, head + 2 * C, ld, tc, D);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      const float sc = ent[r] ? tile_dot(X, i, Y, lane, D) * s.scale : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(sc));
      float p = 0.f, c = 1.f;
      if (m_new != -INFINITY) {
        p = expf(sc - m_new);
        c = expf(m[r] - m_new);
      }
      l[r] = l[r] * c + warp_sum(p);
      m[r] = m_new;
      if (kDropout && ent[r]) p *= keep_one(drop, bh, T, ta[i], tj);
      Ps[i * 33 + lane] = p;
      if (kZero) Is[i * 33 + lane] = ent[r] ? 1.f : 0.f;
      if (lane == 0) corr[i] = c;
    }
    __syncthreads();
    if (kZero) {  // acc = acc corr + P V and accv += I V in one pass
#pragma unroll
      for (int r = 0; r < kMaxOut; r++) {
        const int idx = threadIdx.x + kThreads * r;
        if (idx < kTile * D) acc[r] *= corr[idx / D];
      }
      out_mac2(acc, Ps, Vs, accv, Is, Vs, D);
    } else {
      out_mac_rescaled(acc, corr, Ps, Vs, D);
    }
  }
  const float* col = kZero ? st.col + int64_t(bh) * (D + 1) : nullptr;  // Vsum, n
  if (kZero) __syncthreads();  // corr is rewritten below

#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int i = warp + kWarps * r, t = ta[i];
    const bool fb = !kZero && last && m[r] == -INFINITY && t >= 0 && key_valid(mask, s, b, t);
    float sii = 0.f;
    if (fb) {
      for (int d = lane; d < D; d += 32) sii += head[int64_t(t) * ld + d] * head[int64_t(t) * ld + C + d];
      sii = warp_sum(sii) * s.scale;
    }
    const int total = int(warp_sum(float(cnt[r])));  // <= T < 2^24: exact in float
    const int ents = kZero ? int(warp_sum(float(deg[r]))) : 0;
    if (lane == 0) {
      // kZero's last pass adds z zero logits: shift M = max(m, 0), factor a on the entries' part.
      const int z = kZero && last ? int(col[D]) - ents : 0;
      const float M = z > 0 ? fmaxf(m[r], 0.f) : m[r], a = z > 0 ? expf(m[r] - M) : 1.f;
      const float e0 = z > 0 ? expf(0.f - M) : 0.f, Z = z > 0 ? l[r] * a + float(z) * e0 : l[r];
      const bool any_key = Z > 0.f;
      inv_l[i] = !last ? 1.f : any_key ? 1.f / Z : 0.f;
      fbm[i] = fb ? (kDropout ? keep_one(drop, bh, T, t, t) : 1.f) : -1.f;
      if (kZero) { corr[i] = a; e0s[i] = e0; }
      if (t >= 0) {
        const int64_t at = int64_t(bh) * T + t;
        if (!last) {
          st.ml[at] = m[r];
          st.ml[BHT + at] = l[r];
          if (kZero) st.ml[2 * BHT + at] = float(ents);
        } else {
          stats[at] = fb ? sii : any_key ? M + logf(Z) : INFINITY;
          stats[BHT + at] = fb ? 1.f : (kZero && z == 0 && any_key) ? -1.f : 0.f;
        }
        if (side == 0) rowcount[at] = total + (fb ? 1 : 0);
        else if (fb) rowcount[at] += 1;
      }
    }
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D, t = ta[i];
      if (t < 0) continue;
      float* out = ctx + (int64_t(b) * T + t) * C + h * D + d;
      if (kZero && !last) {
        *out = acc[r];
        st.zs[(bh * int64_t(T) + t) * D + d] = accv[r];
      } else if (kZero) {
        *out = (acc[r] * corr[i] + e0s[i] * (col[d] - accv[r])) * inv_l[i];
      } else {
        *out = fbm[i] >= 0.f ? fbm[i] * head[int64_t(t) * ld + 2 * C + d] : acc[r] * inv_l[i];
      }
    }
  }
}

}  // namespace

// Three [32][D+1] row tiles, the [32][33] score tile (two for fill=zero), row scalars, indices.
size_t sorted_fwd_smem(const Opt& o, int D) {
  return sizeof(float) * (3 * kTile * size_t(D + 1) + kTile * 33 + 4 * kTile + (o.masked ? 0 : kTile * 33)) +
         sizeof(int32_t) * (4 * kTile + 1);
}

int sorted_forward(float* ctx, float* stats, int32_t* rowcount, const Sorted& st, const float* qkv,
                   const int32_t* mask, const Shape& s, const Opt& o, const DropoutKeep& drop) {
  const bool zero = !o.masked;  // use_sorted: no dropout then
  const size_t smem = sorted_fwd_smem(o, s.D);
  const auto kernel = zero      ? bert_lsh_sorted_fwd_kernel<false, true>
                      : drop.on ? bert_lsh_sorted_fwd_kernel<true, false>
                                : bert_lsh_sorted_fwd_kernel<false, false>;
  if (int rc = opt_in_smem(kernel, smem, "bert_lsh_sorted_fwd_kernel", s.D))
    return rc;
  if (zero) {  // Vsum and n per head
    const int C = s.C();
    if (int rc = zero_colsum(st.col, qkv + 2 * C, 3 * int64_t(C), nullptr, mask, s)) return rc;
  }
  const dim3 grid(unsigned(ceil_div(s.T, kTile)), unsigned(int64_t(s.B) * s.H));
  const int passes = o.symn ? 1 : 2;
  for (int side = 0; side < passes; side++) {
    kernel<<<grid, kThreads, smem, stream()>>>(ctx, stats, rowcount, st, qkv, mask, s, o, drop,
                                               side, side == passes - 1 ? 1 : 0);
    if (int rc = check_launch("bert_lsh_sorted_fwd_kernel")) return rc;
  }
  return 0;
}

}  // namespace blsh
}  // namespace lshlab_cuda
