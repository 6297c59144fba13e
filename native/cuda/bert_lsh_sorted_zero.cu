/*
 * bert_lsh_sorted_zero.cu: fill=zero on BERT-LSH's sorted path (disjoint buckets, no attention
 * dropout): the per-head column sums that make it O(entries + T D) instead of O(T^2), the CPU's
 * exact split (attention/bert_lsh.cc) in online-softmax form. Under fill=zero every unpadded key
 * j of row i has logit l_ij = A_ij / sqrt(D) on an entry (i, j) of S_i (bert_lsh_common.cuh) and 0
 * otherwise; n = unpadded keys of the sequence, z_i = n - |S_i| zero logits.
 *
 * Forward (bert_lsh_sorted_fwd.cu): the kernel keeps the entries-only online softmax (max m_e,
 * sum l_e, O_e = sum exp(l - m_e) v_j) and the plain sum s_i = sum_{j in S_i} v_j; at the end,
 * with Vsum = col[bh] (sum of v over unpadded keys) and M = max(m_e, 0) when z_i > 0 (m_e else):
 *   Z_i = l_e exp(m_e - M) + z_i exp(-M),   O_i = [O_e exp(m_e - M) + exp(-M) (Vsum - s_i)] / Z_i,
 *   lse_i = M + log Z_i.  Every exponent is <= 0 (no overflow for large logits); a row whose keys
 *   are all entries keeps the entries-only softmax (no zero logit, the shift is m_e, no
 *   underflow for very negative logits) and is flagged -1 in stats' second plane.
 * Backward (bert_lsh_sorted_bwd.cu): the entries' dS as fill=masked (lse now holds the zero
 * logits; delta_i = dO_i . O_i). dV_j of an unpadded key, with c_i = exp(-lse_i) the probability
 * of a zero logit of row i (0 for a flagged row, whose keys are all entries):
 *   dV_j = sum_i P_ij dO_i = col_bwd[bh] + sum_{i: (i, j) entry} (P_ij - c_i) dO_i,
 *   col_bwd = sum over every row i (padded query rows too: they attend like the others) of
 *   c_i dO_i. The zero logits are constants: no dS through q and k.
 * This file: zero_colsum, one block per (b, h): thread (g, d) sums rows t = g, g + G, .. of
 * column d (G = 256 / D groups), then the G partial sums in order: deterministic, no atomics.
 * The forward's col[bh][D] is n (exact in float below 2^24).
 */
#include <cmath>

#include "bert_lsh_common.cuh"

namespace lshlab_cuda {
namespace blsh {
namespace {
using namespace attn;

// col[bh] = (sum_t w_t x_t[0..D), sum_t w_t); x rows at base + t ld of sequence b, head h.
// w_t: key t unpadded (lse null), else 0 for a flagged row (stats' second plane < 0) and
// exp(-lse_t) otherwise (0 for a row without keys, lse = +inf).
__global__ void __launch_bounds__(kThreads)
bert_lsh_zero_colsum_kernel(float* col, const float* x, int64_t ld, const float* lse,
                            const int32_t* mask, Shape s) {
  __shared__ float part[kThreads], wpart[kThreads];
  const int bh = blockIdx.x, b = bh / s.H, h = bh % s.H, D = s.D, T = s.T;
  const int G = kThreads / D, g = threadIdx.x / D, d = threadIdx.x % D;
  const int64_t BHT = int64_t(s.B) * s.H * T;
  const float* base = x + int64_t(b) * T * ld + h * D;
  float acc = 0.f, wsum = 0.f;
  if (g < G)
    for (int t = g; t < T; t += G) {
      const int64_t at = int64_t(bh) * T + t;
      const float w = lse == nullptr ? (key_valid(mask, s, b, t) ? 1.f : 0.f)
                      : lse[BHT + at] < 0.f ? 0.f : expf(0.f - lse[at]);
      acc += w * base[int64_t(t) * ld + d];
      wsum += w;
    }
  part[threadIdx.x] = acc;
  wpart[threadIdx.x] = wsum;
  __syncthreads();
  if (threadIdx.x < D) {
    float a = 0.f;
    for (int k = 0; k < G; k++) a += part[k * D + threadIdx.x];
    col[int64_t(bh) * (D + 1) + threadIdx.x] = a;
  }
  if (threadIdx.x == 0) {
    float a = 0.f;
    for (int k = 0; k < G; k++) a += wpart[k * D];
    col[int64_t(bh) * (D + 1) + D] = a;
  }
}

}  // namespace

int zero_colsum(float* col, const float* x, int64_t ld, const float* lse, const int32_t* mask,
                const Shape& s) {
  const auto kernel = bert_lsh_zero_colsum_kernel;
  kernel<<<unsigned(int64_t(s.B) * s.H), kThreads, 0, stream()>>>(col, x, ld, lse, mask, s);
  return check_launch("bert_lsh_zero_colsum_kernel");
}

}  // namespace blsh
}  // namespace lshlab_cuda
