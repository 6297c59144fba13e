/*
 * attention_bf16_backward.cu: exact softmax attention backward on bf16 tensor cores (wmma
 * m16n16k16, fp32 accumulation), the backward of attention_bf16_forward.cu, FlashAttention-2
 * style as attention_backward.cu (probabilities recomputed from the forward's lse, no (T,T)
 * buffer, no atomics: deterministic), three kernels:
 *   delta  : delta_i = sum_d bf16(dO_i,d) ctx_i,d                        one warp per row
 *   dq     : dQ_i = scale sum_j bf16(dS_ij) K_j                          block = 64 queries
 *   dk, dv : dV_j = sum_i bf16(P'_ij) dO_i, dK_j = scale sum_i bf16(dS_ij) Q_i   block = 64 keys
 * with P_ij = exp(S_ij - lse_i) from S = bf16(Q) bf16(K)^T scale (0 for padding keys and rows
 * with lse = +inf), dP_ij = M_ij bf16(dO_i) . bf16(V_j), dS_ij = P_ij (dP_ij - delta_i), P' = P M
 * (M: the dropout keep multiplier of the forward's mask, 1 without dropout).
 * Shapes: qkv, dqkv (B,T,3C) [q | k | v]; dctx, ctx (B,T,C); lse, delta (B,H,T); mask (B,T).
 * dqkv is overwritten entirely (padding keys get zero dK, dV).
 *
 * What is bf16: Q, K, V, dO rounded when loaded into shared memory (nearest even); P' and dS
 * rounded before their products, as FlashAttention-2. Sums, softmax, delta, dQ/dK/dV fp32. delta
 * uses the same bf16-rounded dO as dP, so sum_j P_ij dP_ij = delta_i holds for the rounded
 * operands (an unrounded delta would leave a bias of ~2^-9 delta_i in every dS_ij of the row).
 *
 * dq: per warp 16 queries (Q's and dO's fragments in registers, dQ in accumulators), key tiles
 * of 64 in shared memory; S and dP to fp32 scratch, two lanes per query row form dS over 32
 * keys each (the dropout bits: 32 consecutive counter indices). Shared memory 78,848 bytes at
 * D = 128, 62,464 at D = 64. dk/dv: per warp 16 keys, query tiles of 32; the score tile is
 * transposed (keys x queries) so each lane owns one query (its lse, delta, and 16 consecutive
 * dropout indices); K and V stay in shared memory (their fragments in registers with dK and dV
 * would pass 255 registers at D = 128). Shared memory 81,152 bytes at D = 128, 56,576 at D = 64.
 */
#include <cmath>

#include "attention_bf16.cuh"

namespace lshlab_cuda {
namespace {
using namespace attn_bf16;
using attn::Shape;

constexpr int kKeys = 64;     // dq: keys per tile
constexpr int kQueries = 32;  // dk/dv: queries per tile

__global__ void attention_bf16_delta_kernel(float* delta, const float* dctx, const float* ctx, Shape s) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;  // (b, t, h) flattened
  const int lane = threadIdx.x % 32;
  if (row >= int64_t(s.B) * s.T * s.H) return;
  const int h = int(row % s.H);
  const int64_t bt = row / s.H;
  const float* dO = dctx + bt * s.C() + h * s.D;
  const float* O = ctx + bt * s.C() + h * s.D;
  float acc = 0.f;
  for (int d = lane; d < s.D; d += 32) acc += __bfloat162float(__float2bfloat16_rn(dO[d])) * O[d];
  acc = attn::warp_sum(acc);
  if (lane == 0) delta[(bt / s.T * s.H + h) * s.T + bt % s.T] = acc;
}

template <int D>
constexpr size_t dq_smem_bytes() {
  return 2 * sizeof(bf16) * size_t(kKeys) * ld_bf16(D) + 2 * sizeof(float) * size_t(kBlockRows) * ld_f32(kKeys) +
         sizeof(bf16) * size_t(kBlockRows) * ld_bf16(kKeys);
}
template <int D>
constexpr size_t dkv_smem_bytes() {
  return 2 * sizeof(bf16) * (size_t(kBlockRows) + kQueries) * ld_bf16(D) +
         2 * sizeof(float) * size_t(kBlockRows) * ld_f32(kQueries) + 2 * sizeof(bf16) * size_t(kBlockRows) * ld_bf16(kQueries) +
         2 * sizeof(float) * kQueries;
}

template <int D, bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_bf16_dq_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse, const float* delta,
                         const int32_t* mask, Shape s, DropoutKeep drop) {
  constexpr int kLdT = ld_bf16(D), kF = D / 16, kLdS = ld_f32(kKeys), kLdP = ld_bf16(kKeys);
  static_assert(kKeys == kBlockRows, "Q and dO are staged in K's and V's tiles");
  extern __shared__ float smem[];
  bf16* Ks = reinterpret_cast<bf16*>(smem);                   // [64][D+8]
  bf16* Vs = Ks + kKeys * kLdT;                               // [64][D+8]
  float* Ss = reinterpret_cast<float*>(Vs + kKeys * kLdT);    // [64][68]
  float* dPs = Ss + kBlockRows * kLdS;                        // [64][68]
  bf16* dSs = reinterpret_cast<bf16*>(dPs + kBlockRows * kLdS);  // [64][72]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, C = s.C();
  const int q0 = blockIdx.x * kBlockRows;
  const int64_t ld = 3 * int64_t(C);
  float* Sw = Ss + warp * kWarpRows * kLdS;
  float* dPw = dPs + warp * kWarpRows * kLdS;
  bf16* dSw = dSs + warp * kWarpRows * kLdP;

  load_tile_bf16<kBlockRows, D>(Ks, attn::qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T);
  load_tile_bf16<kBlockRows, D>(Vs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T);
  __syncthreads();
  FragA qa[kF], doa[kF];
#pragma unroll
  for (int k = 0; k < kF; k++) {
    wmma::load_matrix_sync(qa[k], Ks + warp * kWarpRows * kLdT + 16 * k, kLdT);
    wmma::load_matrix_sync(doa[k], Vs + warp * kWarpRows * kLdT + 16 * k, kLdT);
  }
  FragC dq[kF];
#pragma unroll
  for (int j = 0; j < kF; j++) wmma::fill_fragment(dq[j], 0.f);

  const int r = lane / 2, half = lane % 2;  // lanes 2r, 2r + 1: query row r, keys 32 half ..
  const int q = q0 + warp * kWarpRows + r;
  const float scale2 = s.scale * kLog2e;
  const float lse2 = q < s.T ? lse[int64_t(bh) * s.T + q] * kLog2e : INFINITY;  // P = 0 past T
  const float delta_q = q < s.T ? delta[int64_t(bh) * s.T + q] : 0.f;

  for (int k0 = 0; k0 < s.T; k0 += kKeys) {
    __syncthreads();
    load_tile_bf16<kKeys, D>(Ks, attn::qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T);
    load_tile_bf16<kKeys, D>(Vs, attn::qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T);
    __syncthreads();
#pragma unroll
    for (int n = 0; n < kKeys / 16; n++) {  // S = Q K^T, dP = dO V^T (16 x 64 each)
      FragC sc, dp;
      wmma::fill_fragment(sc, 0.f);
      wmma::fill_fragment(dp, 0.f);
#pragma unroll
      for (int k = 0; k < kF; k++) {
        FragBt kb, vb;
        wmma::load_matrix_sync(kb, Ks + 16 * n * kLdT + 16 * k, kLdT);
        wmma::mma_sync(sc, qa[k], kb, sc);
        wmma::load_matrix_sync(vb, Vs + 16 * n * kLdT + 16 * k, kLdT);
        wmma::mma_sync(dp, doa[k], vb, dp);
      }
      wmma::store_matrix_sync(Sw + 16 * n, sc, kLdS, wmma::mem_row_major);
      wmma::store_matrix_sync(dPw + 16 * n, dp, kLdS, wmma::mem_row_major);
    }
    __syncwarp();
    const int kbase = k0 + 32 * half;
    uint32_t keep = 0;
    if (kDropout && q < s.T) keep = keep_bits(drop, drop.base + (uint64_t(bh) * s.T + uint64_t(q)) * s.T + uint64_t(kbase), 32);
    const float* srow = Sw + r * kLdS + 32 * half;
    const float* dprow = dPw + r * kLdS + 32 * half;
    bf16* dsrow = dSw + r * kLdP + 32 * half;
    for (int c = 0; c < 32; c++) {
      float ds = 0.f;
      if (attn::key_valid(mask, s, b, kbase + c)) {
        const float p = exp2f(srow[c] * scale2 - lse2);
        const float dpv = kDropout ? ((keep >> c) & 1u ? dprow[c] * drop.scale : 0.f) : dprow[c];
        ds = p * (dpv - delta_q);
      }
      dsrow[c] = __float2bfloat16_rn(ds);
    }
    __syncwarp();
    FragA dsa[kKeys / 16];  // dQ (16 x D) += dS K
#pragma unroll
    for (int k = 0; k < kKeys / 16; k++) wmma::load_matrix_sync(dsa[k], dSw + 16 * k, kLdP);
#pragma unroll
    for (int j = 0; j < kF; j++)
#pragma unroll
      for (int k = 0; k < kKeys / 16; k++) {
        FragB kb;
        wmma::load_matrix_sync(kb, Ks + 16 * k * kLdT + 16 * j, kLdT);
        wmma::mma_sync(dq[j], dsa[k], kb, dq[j]);
      }
  }
#pragma unroll
  for (int j = 0; j < kF; j++)
#pragma unroll
    for (int i = 0; i < kElems; i++) dq[j].x[i] *= s.scale;
  __syncthreads();  // K's and V's tiles become the staging of dQ
  constexpr int kLdO = ld_f32(D);
  float* Ow = smem + warp * kWarpRows * kLdO;
  store_row(Ow, kLdO, dq);
  __syncwarp();
  for (int idx = lane; idx < kWarpRows * D; idx += 32) {
    const int i = idx / D, d = idx % D;
    const int t = q0 + warp * kWarpRows + i;
    if (t < s.T) dqkv[(int64_t(b) * s.T + t) * ld + h * D + d] = Ow[i * kLdO + d];
  }
}

template <int D, bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_bf16_dkv_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse, const float* delta,
                          const int32_t* mask, Shape s, DropoutKeep drop) {
  constexpr int kLdT = ld_bf16(D), kF = D / 16, kLdS = ld_f32(kQueries), kLdP = ld_bf16(kQueries);
  extern __shared__ float smem[];
  bf16* Ks = reinterpret_cast<bf16*>(smem);      // [64][D+8]  resident keys
  bf16* Vs = Ks + kBlockRows * kLdT;             // [64][D+8]
  bf16* Qs = Vs + kBlockRows * kLdT;             // [32][D+8]  per query tile
  bf16* dOs = Qs + kQueries * kLdT;              // [32][D+8]
  float* Sts = reinterpret_cast<float*>(dOs + kQueries * kLdT);  // [64 keys][36] S^T
  float* dPts = Sts + kBlockRows * kLdS;                          // [64 keys][36] dP^T
  bf16* Pts = reinterpret_cast<bf16*>(dPts + kBlockRows * kLdS);  // [64 keys][40] P'^T
  bf16* dSts = Pts + kBlockRows * kLdP;                           // [64 keys][40] dS^T
  float* lse_s = reinterpret_cast<float*>(dSts + kBlockRows * kLdP);  // [32] lse log2 e
  float* delta_s = lse_s + kQueries;                                  // [32]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, C = s.C();
  const int k0 = blockIdx.x * kBlockRows, kw = k0 + warp * kWarpRows;  // the warp's first key
  const int64_t ld = 3 * int64_t(C);
  float* Stw = Sts + warp * kWarpRows * kLdS;
  float* dPtw = dPts + warp * kWarpRows * kLdS;
  bf16* Ptw = Pts + warp * kWarpRows * kLdP;
  bf16* dStw = dSts + warp * kWarpRows * kLdP;
  const bf16* Kw = Ks + warp * kWarpRows * kLdT;
  const bf16* Vw = Vs + warp * kWarpRows * kLdT;

  load_tile_bf16<kBlockRows, D>(Ks, attn::qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T);
  load_tile_bf16<kBlockRows, D>(Vs, attn::qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T);
  uint32_t valid = 0;  // bit j: the warp's key kw + j takes part
  for (int j = 0; j < kWarpRows; j++)
    if (attn::key_valid(mask, s, b, kw + j)) valid |= 1u << j;
  FragC dk[kF], dv[kF];
#pragma unroll
  for (int j = 0; j < kF; j++) {
    wmma::fill_fragment(dk[j], 0.f);
    wmma::fill_fragment(dv[j], 0.f);
  }
  const float scale2 = s.scale * kLog2e;

  for (int q0 = 0; q0 < s.T; q0 += kQueries) {
    __syncthreads();
    load_tile_bf16<kQueries, D>(Qs, attn::qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T);
    load_tile_bf16<kQueries, D>(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T);
    if (threadIdx.x < kQueries) {
      const int t = q0 + threadIdx.x;
      lse_s[threadIdx.x] = t < s.T ? lse[int64_t(bh) * s.T + t] * kLog2e : INFINITY;  // P = 0 past T
      delta_s[threadIdx.x] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int n = 0; n < kQueries / 16; n++) {  // S^T = K Q^T, dP^T = V dO^T (16 keys x 32 queries)
      FragC st, dpt;
      wmma::fill_fragment(st, 0.f);
      wmma::fill_fragment(dpt, 0.f);
#pragma unroll
      for (int k = 0; k < kF; k++) {
        FragA a;
        FragBt bt;
        wmma::load_matrix_sync(a, Kw + 16 * k, kLdT);
        wmma::load_matrix_sync(bt, Qs + 16 * n * kLdT + 16 * k, kLdT);
        wmma::mma_sync(st, a, bt, st);
        wmma::load_matrix_sync(a, Vw + 16 * k, kLdT);
        wmma::load_matrix_sync(bt, dOs + 16 * n * kLdT + 16 * k, kLdT);
        wmma::mma_sync(dpt, a, bt, dpt);
      }
      wmma::store_matrix_sync(Stw + 16 * n, st, kLdS, wmma::mem_row_major);
      wmma::store_matrix_sync(dPtw + 16 * n, dpt, kLdS, wmma::mem_row_major);
    }
    __syncwarp();
    // Lane = query q0 + lane; its 16 keys kw .. kw + 15 are consecutive dropout indices.
    const int q = q0 + lane;
    uint32_t keep = 0;
    if (kDropout && q < s.T) keep = keep_bits(drop, drop.base + (uint64_t(bh) * s.T + uint64_t(q)) * s.T + uint64_t(kw), kWarpRows);
    const float lse2 = lse_s[lane], delta_q = delta_s[lane];
    for (int j = 0; j < kWarpRows; j++) {
      float p = 0.f, ds = 0.f;
      if ((valid >> j) & 1u) {
        p = exp2f(Stw[j * kLdS + lane] * scale2 - lse2);
        float dp = dPtw[j * kLdS + lane];
        if (kDropout) {
          const float mul = (keep >> j) & 1u ? drop.scale : 0.f;
          ds = p * (dp * mul - delta_q);
          p *= mul;  // P' for dV
        } else {
          ds = p * (dp - delta_q);
        }
      }
      Ptw[j * kLdP + lane] = __float2bfloat16_rn(p);
      dStw[j * kLdP + lane] = __float2bfloat16_rn(ds);
    }
    __syncwarp();
    FragA pa[kQueries / 16], dsa[kQueries / 16];  // dV += P'^T dO, dK += dS^T Q (16 x D)
#pragma unroll
    for (int k = 0; k < kQueries / 16; k++) {
      wmma::load_matrix_sync(pa[k], Ptw + 16 * k, kLdP);
      wmma::load_matrix_sync(dsa[k], dStw + 16 * k, kLdP);
    }
#pragma unroll
    for (int j = 0; j < kF; j++)
#pragma unroll
      for (int k = 0; k < kQueries / 16; k++) {
        FragB x;
        wmma::load_matrix_sync(x, dOs + 16 * k * kLdT + 16 * j, kLdT);
        wmma::mma_sync(dv[j], pa[k], x, dv[j]);
        wmma::load_matrix_sync(x, Qs + 16 * k * kLdT + 16 * j, kLdT);
        wmma::mma_sync(dk[j], dsa[k], x, dk[j]);
      }
  }
#pragma unroll
  for (int j = 0; j < kF; j++)
#pragma unroll
    for (int i = 0; i < kElems; i++) dk[j].x[i] *= s.scale;
  __syncthreads();  // the tiles become the staging of dK (first half) and dV
  constexpr int kLdO = ld_f32(D);
  float* dKw = smem + warp * kWarpRows * kLdO;
  float* dVw = dKw + kBlockRows * kLdO;
  store_row(dKw, kLdO, dk);
  store_row(dVw, kLdO, dv);
  __syncwarp();
  for (int idx = lane; idx < kWarpRows * D; idx += 32) {
    const int i = idx / D, d = idx % D;
    const int t = kw + i;
    if (t < s.T) {
      float* out = dqkv + (int64_t(b) * s.T + t) * ld + C + h * D + d;
      out[0] = dKw[i * kLdO + d];
      out[C] = dVw[i * kLdO + d];
    }
  }
}

template <int D>
int backward(float* dqkv, const float* dctx, const float* qkv, const float* lse, const float* delta,
             const int32_t* mask, const Shape& s, const DropoutKeep& drop) {
  static_assert(2 * kBlockRows * ld_f32(D) * sizeof(float) <= dkv_smem_bytes<D>(), "dK, dV staging");
  static_assert(kBlockRows * ld_f32(D) * sizeof(float) <= 2 * kKeys * ld_bf16(D) * sizeof(bf16), "dQ staging");
  const dim3 grid(unsigned(ceil_div(s.T, kBlockRows)), unsigned(s.B * s.H));
  constexpr size_t smem_dq = dq_smem_bytes<D>();
  const auto dq_kernel = drop.on ? attention_bf16_dq_kernel<D, true> : attention_bf16_dq_kernel<D, false>;
  if (int rc = opt_in_smem(dq_kernel, smem_dq, "attention_bf16_dq_kernel", s.D)) return rc;
  dq_kernel<<<grid, kThreads, smem_dq, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s, drop);
  if (int rc = check_launch("attention_bf16_dq_kernel")) return rc;
  constexpr size_t smem_dkv = dkv_smem_bytes<D>();
  const auto dkv_kernel = drop.on ? attention_bf16_dkv_kernel<D, true> : attention_bf16_dkv_kernel<D, false>;
  if (int rc = opt_in_smem(dkv_kernel, smem_dkv, "attention_bf16_dkv_kernel", s.D)) return rc;
  dkv_kernel<<<grid, kThreads, smem_dkv, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s, drop);
  return check_launch("attention_bf16_dkv_kernel");
}

}  // namespace

int attention_backward_bf16(float* dqkv, float* delta, const float* dctx, const float* qkv, const float* ctx,
                            const float* lse, const int32_t* mask, int B, int T, int H, int D,
                            const lshlab_cuda_dropout* dropout) {
  clear_error();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = check_head_size_bf16("attention_backward_bf16", D)) return rc;
  if (int64_t(B) * H > 65535) return fail(1, "attention_backward_bf16", "B * H must be at most 65535");
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const DropoutKeep drop = make_dropout_keep(dropout);
  const int64_t rows = int64_t(B) * T * H;
  attention_bf16_delta_kernel<<<unsigned(ceil_div(rows, kWarps)), kThreads, 0, stream()>>>(delta, dctx, ctx, s);
  if (int rc = check_launch("attention_bf16_delta_kernel")) return rc;
  return D == 64 ? backward<64>(dqkv, dctx, qkv, lse, delta, mask, s, drop)
                 : backward<128>(dqkv, dctx, qkv, lse, delta, mask, s, drop);
}

}  // namespace lshlab_cuda
