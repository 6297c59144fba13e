/*
 * attention_backward.cu: exact softmax attention backward (FlashAttention-2 style, float32),
 * recomputing the probabilities tile by tile from the forward's lse; no (T,T) buffer, no
 * atomics (deterministic), three kernels:
 *   delta  : delta_i = sum_d dctx_i,d * ctx_i,d                         one warp per row
 *   dq     : dQ_i = scale * sum_j dS_ij K_j                             block = 32 queries
 *   dk, dv : dV_j = sum_i P_ij dO_i,  dK_j = scale * sum_i dS_ij Q_i    block = 32 keys
 * with P_ij = exp(S_ij - lse_i) (0 for padding keys and for rows with lse = +inf) and
 * dS_ij = P_ij (dO_i . V_j - delta_i). With dropout (keep multiplier M_ij = keep ? 1/(1-p) : 0,
 * the forward's mask, drawn again per tile by dropout_tile): dV_j = sum_i P_ij M_ij dO_i and
 * dS_ij = P_ij (M_ij dO_i . V_j - delta_i); delta_i = dctx_i . ctx_i still holds, as in the
 * CPU's exact_tiled.cc.
 * Shapes: qkv, dqkv (B,T,3C) [q | k | v]; dctx, ctx (B,T,C); lse, delta (B,H,T); mask (B,T).
 * dqkv is overwritten entirely (padding keys get zero dK, dV).
 * Geometry as attention_tile.cuh; the dk/dv kernel transposes the score tile (warp = key rows,
 * lane = query) so that its reductions over queries read shared memory row by row.
 */
#include <cmath>

#include "attention_tile.cuh"

namespace lshlab_cuda {
namespace {
using namespace attn;

__global__ void attention_delta_kernel(float* delta, const float* dctx, const float* ctx, Shape s) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;  // (b, t, h) flattened
  const int lane = threadIdx.x % 32;
  const int64_t rows = int64_t(s.B) * s.T * s.H;
  if (row >= rows) return;
  const int h = int(row % s.H);
  const int64_t bt = row / s.H;
  const int b = int(bt / s.T), t = int(bt % s.T);
  const float* dO = dctx + bt * s.C() + h * s.D;
  const float* O = ctx + bt * s.C() + h * s.D;
  float acc = 0.f;
  for (int d = lane; d < s.D; d += 32) acc += dO[d] * O[d];
  acc = warp_sum(acc);
  if (lane == 0) delta[(int64_t(b) * s.H + h) * s.T + t] = acc;
}

// kDropout: separate instantiations, as the forward's (registers of the inference path).
template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_dq_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse,
                    const float* delta, const int32_t* mask, Shape s, DropoutKeep drop) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Qs = smem;               // [32][D+1]
  float* dOs = Qs + kTile * Dp;   // [32][D+1]
  float* Ks = dOs + kTile * Dp;   // [32][D+1]
  float* Vs = Ks + kTile * Dp;    // [32][D+1]
  float* dSs = Vs + kTile * Dp;   // [32 queries][33]
  float* Ms = dSs + kTile * 33;   // [32 queries][33] dropout multipliers (kDropout)

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int q0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C);
  load_tile(Qs, qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T, D);
  load_tile(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T, D);
  float lse_r[kRowsPerWarp], delta_r[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int t = q0 + warp + kWarps * r;
    lse_r[r] = t < s.T ? lse[int64_t(bh) * s.T + t] : INFINITY;
    delta_r[r] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
  }
  float dq[kMaxOut];
  out_zero(dq);

  for (int k0 = 0; k0 < s.T; k0 += kTile) {
    __syncthreads();
    load_tile(Ks, qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T, D);
    load_tile(Vs, qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T, D);
    if (kDropout) dropout_tile(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
    const bool valid = key_valid(mask, s, b, k0 + lane);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      float ds = 0.f;
      if (valid) {
        const float p = expf(tile_dot(Qs, i, Ks, lane, D) * s.scale - lse_r[r]);
        float dp = tile_dot(dOs, i, Vs, lane, D);
        if (kDropout) dp *= Ms[i * 33 + lane];
        ds = p * (dp - delta_r[r]);
      }
      dSs[i * 33 + lane] = ds;
    }
    __syncthreads();
    out_mac(dq, dSs, Ks, D);
  }
  out_store(dqkv + int64_t(b) * s.T * ld + h * D, ld, dq, s.scale, q0, s.T, D);
}

template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_dkv_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse,
                     const float* delta, const int32_t* mask, Shape s, DropoutKeep drop) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Ks = smem;               // [32][D+1]  resident
  float* Vs = Ks + kTile * Dp;    // [32][D+1]  resident
  float* Qs = Vs + kTile * Dp;    // [32][D+1]  per query tile
  float* dOs = Qs + kTile * Dp;   // [32][D+1]
  float* Ps = dOs + kTile * Dp;   // [32 keys][33]
  float* dSs = Ps + kTile * 33;   // [32 keys][33]
  float* lse_s = dSs + kTile * 33;     // [32]
  float* delta_s = lse_s + kTile;      // [32]
  float* Ms = delta_s + kTile;         // [32 queries][33] dropout multipliers (kDropout)

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int k0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C);
  load_tile(Ks, qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T, D);
  load_tile(Vs, qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T, D);
  bool valid[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) valid[r] = key_valid(mask, s, b, k0 + warp + kWarps * r);
  float dk[kMaxOut], dv[kMaxOut];
  out_zero(dk);
  out_zero(dv);

  for (int q0 = 0; q0 < s.T; q0 += kTile) {
    __syncthreads();
    load_tile(Qs, qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T, D);
    load_tile(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T, D);
    if (threadIdx.x < kTile) {
      const int t = q0 + threadIdx.x;
      lse_s[threadIdx.x] = t < s.T ? lse[int64_t(bh) * s.T + t] : INFINITY;  // P = 0 past T
      delta_s[threadIdx.x] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
    }
    if (kDropout) dropout_tile(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int j = warp + kWarps * r;  // key row of the tile; lane = query row
      float p = 0.f, ds = 0.f;
      if (valid[r]) {
        p = expf(tile_dot(Qs, lane, Ks, j, D) * s.scale - lse_s[lane]);
        float dp = tile_dot(dOs, lane, Vs, j, D);
        if (kDropout) {
          const float mul = Ms[lane * 33 + j];
          dp *= mul;
          ds = p * (dp - delta_s[lane]);
          p *= mul;  // P' for dV
        } else {
          ds = p * (dp - delta_s[lane]);
        }
      }
      Ps[j * 33 + lane] = p;
      dSs[j * 33 + lane] = ds;
    }
    __syncthreads();
    out_mac2(dv, Ps, dOs, dk, dSs, Qs, D);
  }
  // Row 0 of this head's k part, then its v part C floats on.
  out_store2(dqkv + int64_t(b) * s.T * ld + C + h * D, ld, dk, s.scale, C, dv, 1.f, k0, s.T, D);
}

}  // namespace

int attention_backward(float* dqkv, float* delta, const float* dctx, const float* qkv,
                       const float* ctx, const float* lse, const int32_t* mask, int B, int T,
                       int H, int D, const lshlab_cuda_dropout* dropout) {
  clear_error();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (D <= 0 || D > kMaxD) return fail(1, "attention_backward", "head size D must be in 1..128");
  if (int64_t(B) * H > 65535) return fail(1, "attention_backward", "B * H must be at most 65535");
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const DropoutKeep drop = make_dropout_keep(dropout);
  const size_t smem_drop = drop.on ? sizeof(float) * kTile * 33 : 0;  // the Ms tile
  const int64_t rows = int64_t(B) * T * H;
  attention_delta_kernel<<<unsigned(ceil_div(rows, kWarps)), kThreads, 0, stream()>>>(delta, dctx, ctx, s);
  if (int rc = check_launch("attention_delta_kernel")) return rc;

  const dim3 grid(unsigned(ceil_div(T, kTile)), unsigned(B * H));
  const size_t smem_dq = sizeof(float) * (4 * kTile * (D + 1) + kTile * 33) + smem_drop;
  const auto dq_kernel = drop.on ? attention_dq_kernel<true> : attention_dq_kernel<false>;
  if (int rc = check(cudaFuncSetAttribute(dq_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_dq)),
                     "cudaFuncSetAttribute(attention_dq_kernel)"))
    return rc;
  dq_kernel<<<grid, kThreads, smem_dq, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s, drop);
  if (int rc = check_launch("attention_dq_kernel")) return rc;

  const size_t smem_dkv =
      sizeof(float) * (4 * kTile * (D + 1) + 2 * kTile * 33 + 2 * kTile) + smem_drop;
  const auto dkv_kernel = drop.on ? attention_dkv_kernel<true> : attention_dkv_kernel<false>;
  if (int rc = check(cudaFuncSetAttribute(dkv_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_dkv)),
                     "cudaFuncSetAttribute(attention_dkv_kernel)"))
    return rc;
  dkv_kernel<<<grid, kThreads, smem_dkv, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s, drop);
  return check_launch("attention_dkv_kernel");
}

}  // namespace lshlab_cuda
