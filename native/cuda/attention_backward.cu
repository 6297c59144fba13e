/*
 * attention_backward.cu: exact softmax attention backward (FlashAttention-2 style, float32),
 * recomputing the probabilities tile by tile from the forward's lse; no (T,T) buffer, no
 * atomics (deterministic), three kernels:
 *   delta  : delta_i = sum_d dctx_i,d * ctx_i,d                         one warp per row
 *   dq     : dQ_i = scale * sum_j dS_ij K_j                             block = 32 queries
 *   dk, dv : dV_j = sum_i P_ij dO_i,  dK_j = scale * sum_i dS_ij Q_i    block = 32 keys
 * with P_ij = exp(S_ij - lse_i) (0 for padding keys and for rows with lse = +inf) and
 * dS_ij = P_ij (dO_i . V_j - delta_i).
 * Shapes: qkv, dqkv (B,T,3C) [q | k | v]; dctx, ctx (B,T,C); lse, delta (B,H,T); mask (B,T).
 * dqkv is overwritten entirely (padding keys get zero dK, dV). No dropout (see the forward).
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

__global__ void __launch_bounds__(kThreads)
attention_dq_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse,
                    const float* delta, const int32_t* mask, Shape s) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Qs = smem;               // [32][D+1]
  float* dOs = Qs + kTile * Dp;   // [32][D+1]
  float* Ks = dOs + kTile * Dp;   // [32][D+1]
  float* Vs = Ks + kTile * Dp;    // [32][D+1]
  float* dSs = Vs + kTile * Dp;   // [32 queries][33]

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
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) dq[r] = 0.f;

  for (int k0 = 0; k0 < s.T; k0 += kTile) {
    __syncthreads();
    load_tile(Ks, qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T, D);
    load_tile(Vs, qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T, D);
    __syncthreads();
    const bool valid = key_valid(mask, s, b, k0 + lane);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      float ds = 0.f;
      if (valid) {
        const float p = expf(tile_dot(Qs, i, Ks, lane, D) * s.scale - lse_r[r]);
        ds = p * (tile_dot(dOs, i, Vs, lane, D) - delta_r[r]);
      }
      dSs[i * 33 + lane] = ds;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kMaxOut; r++) {
      const int idx = threadIdx.x + kThreads * r;
      if (idx < kTile * D) {
        const int i = idx / D, d = idx % D;
        float acc = dq[r];
        for (int j = 0; j < kTile; j++) acc += dSs[i * 33 + j] * Ks[j * Dp + d];
        dq[r] = acc;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D;
      if (q0 + i < s.T) dqkv[(int64_t(b) * s.T + q0 + i) * 3 * C + h * D + d] = dq[r] * s.scale;
    }
  }
}

__global__ void __launch_bounds__(kThreads)
attention_dkv_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse,
                     const float* delta, const int32_t* mask, Shape s) {
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
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) dk[r] = dv[r] = 0.f;

  for (int q0 = 0; q0 < s.T; q0 += kTile) {
    __syncthreads();
    load_tile(Qs, qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T, D);
    load_tile(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T, D);
    if (threadIdx.x < kTile) {
      const int t = q0 + threadIdx.x;
      lse_s[threadIdx.x] = t < s.T ? lse[int64_t(bh) * s.T + t] : INFINITY;  // P = 0 past T
      delta_s[threadIdx.x] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int j = warp + kWarps * r;  // key row of the tile; lane = query row
      float p = 0.f, ds = 0.f;
      if (valid[r]) {
        p = expf(tile_dot(Qs, lane, Ks, j, D) * s.scale - lse_s[lane]);
        ds = p * (tile_dot(dOs, lane, Vs, j, D) - delta_s[lane]);
      }
      Ps[j * 33 + lane] = p;
      dSs[j * 33 + lane] = ds;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kMaxOut; r++) {
      const int idx = threadIdx.x + kThreads * r;
      if (idx < kTile * D) {
        const int j = idx / D, d = idx % D;
        float av = dv[r], ak = dk[r];
        for (int i = 0; i < kTile; i++) {
          av += Ps[j * 33 + i] * dOs[i * Dp + d];
          ak += dSs[j * 33 + i] * Qs[i * Dp + d];
        }
        dv[r] = av;
        dk[r] = ak;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int j = idx / D, d = idx % D;
      if (k0 + j < s.T) {
        float* row = dqkv + (int64_t(b) * s.T + k0 + j) * 3 * C + h * D + d;
        row[C] = dk[r] * s.scale;
        row[2 * C] = dv[r];
      }
    }
  }
}

}  // namespace

int attention_backward(float* dqkv, float* delta, const float* dctx, const float* qkv,
                       const float* ctx, const float* lse, const int32_t* mask, int B, int T,
                       int H, int D) {
  clear_error();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (D <= 0 || D > kMaxD) return fail(1, "attention_backward", "head size D must be in 1..128");
  if (int64_t(B) * H > 65535) return fail(1, "attention_backward", "B * H must be at most 65535");
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const int64_t rows = int64_t(B) * T * H;
  attention_delta_kernel<<<unsigned(ceil_div(rows, kWarps)), kThreads, 0, stream()>>>(delta, dctx, ctx, s);
  if (int rc = check_launch("attention_delta_kernel")) return rc;

  const dim3 grid(unsigned(ceil_div(T, kTile)), unsigned(B * H));
  const size_t smem_dq = sizeof(float) * (4 * kTile * (D + 1) + kTile * 33);
  if (int rc = check(cudaFuncSetAttribute(attention_dq_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_dq)),
                     "cudaFuncSetAttribute(attention_dq_kernel)"))
    return rc;
  attention_dq_kernel<<<grid, kThreads, smem_dq, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s);
  if (int rc = check_launch("attention_dq_kernel")) return rc;

  const size_t smem_dkv = sizeof(float) * (4 * kTile * (D + 1) + 2 * kTile * 33 + 2 * kTile);
  if (int rc = check(cudaFuncSetAttribute(attention_dkv_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_dkv)),
                     "cudaFuncSetAttribute(attention_dkv_kernel)"))
    return rc;
  attention_dkv_kernel<<<grid, kThreads, smem_dkv, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s);
  return check_launch("attention_dkv_kernel");
}

}  // namespace lshlab_cuda
