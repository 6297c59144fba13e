/*
 * attention_bf16_forward.cu: exact softmax attention forward on bf16 tensor cores (wmma
 * m16n16k16, fp32 accumulation), for --precision bf16 (autocast-style: PyTorch's autocast runs
 * attention in bf16). Same semantics, layout and fp32 storage as attention_forward.cu:
 *
 *   S = bf16(Q) bf16(K)^T / sqrt(D) over valid keys, lse_i = logsumexp_j S_ij,
 *   ctx_i = sum_j bf16(P'_ij) bf16(V_j) / l_i   (P' = P times the dropout keep multiplier)
 * Shapes: qkv (B,T,3C) [q | k | v, head h at h*D]; mask (B,T) 1 = token, or null;
 *         ctx (B,T,C); lse (B,H,T), +inf (and a zero ctx row) where every key is padding.
 *
 * What is bf16: Q, K, V are read as fp32 and rounded to bf16 (nearest even, as bf16_convert.cu)
 * into the shared-memory tiles; the unnormalised probabilities are rounded to bf16 before the
 * P V product, as FlashAttention does. Everything else is fp32: the products' sums, the scale,
 * the online softmax (max, sum, lse: l sums the fp32 probabilities), O's accumulators, ctx and
 * lse. The inputs stay fp32 in memory because the model keeps fp32 activations; converting while
 * loading costs one fp32 read per element instead of a separate conversion pass.
 *
 * Block: 64 queries (16 per warp) of one (batch, head); key tiles of 64. Per tile each warp
 * computes its 16 x 64 scores (Q's fragments stay in registers), stores them to its fp32
 * scratch, and two lanes per query row run the online softmax over 32 keys each (one shuffle for
 * the max, one for the sum; the dropout bits are 32 consecutive counter indices); then O (16 x D
 * in accumulator fragments, rescaled row by row through fragment_rows) += P V.
 * Exponentials in base 2 (scores pre-scaled by log2 e): exp2f is one instruction.
 * Shared memory: K, V tiles 2 x 64 (D + 8) bf16, scores 64 x 68 fp32, P 64 x 72 bf16, row
 * factors: 61,952 bytes at D = 128, 45,568 at D = 64 (Q is staged in K's tile, the output in
 * K's and V's). Head sizes 64 and 128 (templated); others run attention_forward.cu (fp32).
 */
#include <cmath>

#include "attention_bf16.cuh"

namespace lshlab_cuda {
namespace {
using namespace attn_bf16;
using attn::Shape;

constexpr int kKeys = 64;  // keys per tile
constexpr int kLdS = ld_f32(kKeys), kLdP = ld_bf16(kKeys);

template <int D>
constexpr size_t forward_smem_bytes() {
  return 2 * sizeof(bf16) * size_t(kKeys) * ld_bf16(D)            // K, V
         + sizeof(float) * size_t(kBlockRows) * kLdS              // scores
         + sizeof(bf16) * size_t(kBlockRows) * kLdP               // P
         + sizeof(float) * 2 * kBlockRows;                        // corr, 1/l
}

template <int D, bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_bf16_forward_kernel(float* ctx, float* lse, const float* qkv, const int32_t* mask, Shape s,
                              DropoutKeep drop) {
  constexpr int kLdT = ld_bf16(D), kF = D / 16;
  static_assert(kKeys == kBlockRows, "Q is staged in K's tile");
  static_assert(kBlockRows * ld_f32(D) * sizeof(float) <= 2 * kKeys * kLdT * sizeof(bf16),
                "the output is staged in K's and V's tiles");
  extern __shared__ float smem[];
  bf16* Ks = reinterpret_cast<bf16*>(smem);  // [64][D+8]
  bf16* Vs = Ks + kKeys * kLdT;              // [64][D+8]
  float* Ss = reinterpret_cast<float*>(Vs + kKeys * kLdT);  // [64][68] scores
  bf16* Ps = reinterpret_cast<bf16*>(Ss + kBlockRows * kLdS);  // [64][72]
  float* corr = reinterpret_cast<float*>(Ps + kBlockRows * kLdP);  // [64]
  float* inv_l = corr + kBlockRows;                                // [64]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int q0 = blockIdx.x * kBlockRows;
  const int64_t ld = 3 * int64_t(s.C());
  float* Sw = Ss + warp * kWarpRows * kLdS;
  bf16* Pw = Ps + warp * kWarpRows * kLdP;
  float* corr_w = corr + warp * kWarpRows;
  float* inv_l_w = inv_l + warp * kWarpRows;

  // Q's fragments (this warp's 16 rows), through K's tile.
  load_tile_bf16<kBlockRows, D>(Ks, attn::qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T);
  __syncthreads();
  FragA qa[kF];
#pragma unroll
  for (int k = 0; k < kF; k++) wmma::load_matrix_sync(qa[k], Ks + warp * kWarpRows * kLdT + 16 * k, kLdT);
  int rows[kElems];
  fragment_rows(rows, Sw, lane);
  FragC o[kF];
#pragma unroll
  for (int j = 0; j < kF; j++) wmma::fill_fragment(o[j], 0.f);

  // Lanes 2r and 2r + 1 own query row r of the warp, keys 32 half .. + 31 of each tile.
  const int r = lane / 2, half = lane % 2;
  const int q = q0 + warp * kWarpRows + r;
  const float scale2 = s.scale * kLog2e;
  float m = -INFINITY, l = 0.f;  // running max (base 2) and sum of the row

  for (int k0 = 0; k0 < s.T; k0 += kKeys) {
    __syncthreads();  // every warp is done with the previous K, V (and Q's staging)
    load_tile_bf16<kKeys, D>(Ks, attn::qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T);
    load_tile_bf16<kKeys, D>(Vs, attn::qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T);
    __syncthreads();
#pragma unroll
    for (int n = 0; n < kKeys / 16; n++) {  // S (16 x 64) = Q K^T
      FragC sc;
      wmma::fill_fragment(sc, 0.f);
#pragma unroll
      for (int k = 0; k < kF; k++) {
        FragBt kb;
        wmma::load_matrix_sync(kb, Ks + 16 * n * kLdT + 16 * k, kLdT);
        wmma::mma_sync(sc, qa[k], kb, sc);
      }
      wmma::store_matrix_sync(Sw + 16 * n, sc, kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    const float* srow = Sw + r * kLdS + 32 * half;
    const int kbase = k0 + 32 * half;
    uint32_t keep = 0;
    if (kDropout && q < s.T) keep = keep_bits(drop, drop.base + (uint64_t(bh) * s.T + uint64_t(q)) * s.T + uint64_t(kbase), 32);
    uint32_t valid = 0;  // bit c: key kbase + c is inside the sequence and not padding
    float mx = -INFINITY;
    for (int c = 0; c < 32; c++)
      if (attn::key_valid(mask, s, b, kbase + c)) {
        valid |= 1u << c;
        mx = fmaxf(mx, srow[c] * scale2);
      }
    const float m_new = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1)));
    float sum = 0.f;
    bf16* prow = Pw + r * kLdP + 32 * half;
    for (int c = 0; c < 32; c++) {
      float p = 0.f;
      if ((valid >> c) & 1u) p = exp2f(srow[c] * scale2 - m_new);  // m_new finite: a key is valid
      sum += p;
      if (kDropout) p = (keep >> c) & 1u ? p * drop.scale : 0.f;
      prow[c] = __float2bfloat16_rn(p);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const float c_old = m_new == -INFINITY ? 1.f : exp2f(m - m_new);  // no valid key yet: nothing to rescale
    l = l * c_old + sum;
    m = m_new;
    if (half == 0) corr_w[r] = c_old;
    __syncwarp();

    scale_rows(o, rows, corr_w);  // O (16 x D) = O corr + P V
    FragA pa[kKeys / 16];
#pragma unroll
    for (int k = 0; k < kKeys / 16; k++) wmma::load_matrix_sync(pa[k], Pw + 16 * k, kLdP);
#pragma unroll
    for (int j = 0; j < kF; j++)
#pragma unroll
      for (int k = 0; k < kKeys / 16; k++) {
        FragB vb;
        wmma::load_matrix_sync(vb, Vs + 16 * k * kLdT + 16 * j, kLdT);
        wmma::mma_sync(o[j], pa[k], vb, o[j]);
      }
  }

  // Row results: lse and 1/l (0 for a row with no valid key: ctx 0, lse +inf).
  if (half == 0) {
    const bool any = l > 0.f;
    inv_l_w[r] = any ? 1.f / l : 0.f;
    if (q < s.T) lse[int64_t(bh) * s.T + q] = any ? m * kLn2 + logf(l) : INFINITY;
  }
  __syncwarp();
  scale_rows(o, rows, inv_l_w);
  __syncthreads();  // K's and V's tiles become the output's staging
  constexpr int kLdO = ld_f32(D);
  float* Ow = smem + warp * kWarpRows * kLdO;
  store_row(Ow, kLdO, o);
  __syncwarp();
  const int C = s.C();
  for (int idx = lane; idx < kWarpRows * D; idx += 32) {
    const int i = idx / D, d = idx % D;
    const int t = q0 + warp * kWarpRows + i;
    if (t < s.T) ctx[(int64_t(b) * s.T + t) * C + h * D + d] = Ow[i * kLdO + d];
  }
}

template <int D>
int forward(float* ctx, float* lse, const float* qkv, const int32_t* mask, const Shape& s,
            const DropoutKeep& drop) {
  constexpr size_t smem = forward_smem_bytes<D>();
  const auto kernel = drop.on ? attention_bf16_forward_kernel<D, true> : attention_bf16_forward_kernel<D, false>;
  if (int rc = opt_in_smem(kernel, smem, "attention_bf16_forward_kernel", s.D)) return rc;
  const dim3 grid(unsigned(ceil_div(s.T, kBlockRows)), unsigned(s.B * s.H));
  kernel<<<grid, kThreads, smem, stream()>>>(ctx, lse, qkv, mask, s, drop);
  return check_launch("attention_bf16_forward_kernel");
}

}  // namespace

int attention_forward_bf16(float* ctx, float* lse, const float* qkv, const int32_t* mask, int B, int T,
                           int H, int D, const lshlab_cuda_dropout* dropout) {
  clear_error();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = check_head_size_bf16("attention_forward_bf16", D)) return rc;
  if (int64_t(B) * H > 65535) return fail(1, "attention_forward_bf16", "B * H must be at most 65535");
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const DropoutKeep drop = make_dropout_keep(dropout);
  return D == 64 ? forward<64>(ctx, lse, qkv, mask, s, drop) : forward<128>(ctx, lse, qkv, mask, s, drop);
}

}  // namespace lshlab_cuda
