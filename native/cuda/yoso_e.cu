/*
 * yoso_e.cu: yoso-e, YOSO's expectation (attention/yoso.h with lsh = false), dense and fused:
 *   E_ij = mask_i mask_j f(s qn_i . kn_j),  f(x) = (1 - acos(clamp(x))/pi)^tau,  X = E V,
 *   ctx = X / max(|X|, 1e-12);  s = 1, or 0.98 for backward=exact (yoso.cc's v2 scaling).
 * Backward: W_ij = (g_i . v_j) * ((tau/2) E_ij | s f'(s x_ij) masked), dQn = W Kn, dKn = W^T Qn,
 *   dV = E^T g; then through the normalisations (prep_rows / finish_rows, yoso_rows.cu).
 * Shapes: qkv, dqkv (B,T,3C); ctx, dctx (B,T,C); ynrm (B,H,T); mask (B,T) or null; workspace:
 *   (3 D + 2) B H T floats = qn, kn, g (B,H,T,D) and the norms of q, k (B,H,T).
 * Why fused and tiled like attention_forward.cu / attention_backward.cu (same 32 x 32 tiles,
 * 256 threads, attention_tile.cuh): the (T,T) matrix E never reaches device memory, so memory
 * stays O(T D) and the cost is the O(T^2 D) of the dot products; the kernel f replaces the
 * softmax, so no running max is needed. dQn is summed per query block and dKn, dV per key block
 * (E and W recomputed in each): no atomics, deterministic. f and f' in float32 (the CPU takes them
 * in float64 of the float dot product; the difference is ~tau ulps of f).
 */
#include <cmath>

#include "attention_tile.cuh"
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {
using attn::kMaxOut;
using attn::kTile;
using attn::load_tile;
using attn::out_mac;
using attn::out_mac2;
using attn::out_store;
using attn::out_store2;
using attn::out_zero;
using attn::tile_dot;
constexpr int kRowsPerWarp = kTile / kWarps;

struct Kernel {
  int tau;
  float sc;    // argument scale s
  int exact;   // backward weight s f'(s x) instead of (tau/2) f
  __device__ float f(float x) const {
    x = sc * fminf(1.f, fmaxf(-1.f, x));
    return powf(1.f - acosf(x) / float(M_PI), float(tau));
  }
  __device__ float fprime(float x) const {  // s f'(s x); 0 where f' is unbounded
    x = sc * fminf(1.f, fmaxf(-1.f, x));
    const float r = 1.f - x * x;
    if (r <= 0.f) return 0.f;
    const float base = 1.f - acosf(x) / float(M_PI);
    return sc * tau * powf(base, float(tau - 1)) / (float(M_PI) * sqrtf(r));
  }
};

__device__ __forceinline__ bool valid(const int32_t* mask, const Shape& s, int b, int t) {
  return t < s.T && token(mask, s, b, t);
}

// v[r] = valid(row t0 + warp + 8 r): the rows of the tile this warp scores.
__device__ __forceinline__ void warp_rows_valid(bool (&v)[kRowsPerWarp], const int32_t* mask,
                                                const Shape& s, int b, int t0) {
  const int warp = threadIdx.x / 32;
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) v[r] = valid(mask, s, b, t0 + warp + kWarps * r);
}

// Rows [t0, t0 + 32) of head bh (b * H + h) of a per-head (B,H,T,D) array into tile[32][D+1].
__device__ __forceinline__ void load_head(float* tile, const float* x, const Shape& s, int bh,
                                          int t0) {
  load_tile(tile, x + int64_t(bh) * s.T * s.D, s.D, t0, s.T, s.D);
}

// Rows [t0, t0 + 32) of v, head h of batch b, of qkv (B,T,3C) into tile[32][D+1].
__device__ __forceinline__ void load_v(float* tile, const float* qkv, const Shape& s, int b, int h,
                                       int t0) {
  const int C = s.C();
  load_tile(tile, qkv + int64_t(b) * s.T * 3 * C + 2 * C + h * s.D, 3 * int64_t(C), t0, s.T, s.D);
}

// Block = 32 queries of one (b, h): X = E V over key tiles, then each warp normalises its rows.
__global__ void __launch_bounds__(kThreads)
yoso_e_forward_kernel(float* ctx, float* ynrm, const float* qn, const float* kn, const float* qkv,
                      const int32_t* mask, Shape s, Kernel kf) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Qs = smem;               // [32][D+1] unit queries, then X
  float* Ks = Qs + kTile * Dp;    // [32][D+1]
  float* Vs = Ks + kTile * Dp;    // [32][D+1]
  float* Es = Vs + kTile * Dp;    // [32][33]
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, q0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t hrow = int64_t(bh) * s.T;  // row 0 of this head in (B,H,T,.)
  load_head(Qs, qn, s, bh, q0);
  bool qv[kRowsPerWarp];
  warp_rows_valid(qv, mask, s, b, q0);
  float o[kMaxOut];
  out_zero(o);
  for (int k0 = 0; k0 < s.T; k0 += kTile) {
    __syncthreads();
    load_head(Ks, kn, s, bh, k0);
    load_v(Vs, qkv, s, b, h, k0);
    __syncthreads();
    const bool kv = valid(mask, s, b, k0 + lane);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      Es[i * 33 + lane] = qv[r] && kv ? kf.f(tile_dot(Qs, i, Ks, lane, D)) : 0.f;
    }
    __syncthreads();
    out_mac(o, Es, Vs, D);
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) Qs[(idx / D) * Dp + idx % D] = o[r];
  }
  __syncthreads();
  for (int i = warp; i < kTile && q0 + i < s.T; i += kWarps) {  // l2_rows, float64 sum
    const float* x = Qs + i * Dp;
    double ss = 0;
    for (int d = lane; d < D; d += 32) ss += double(x[d]) * x[d];
    const double nv = fmax(sqrt(warp_sum_d(ss)), kEps);
    const float inv = float(1.0 / nv);
    float* out = ctx + (int64_t(b) * s.T + q0 + i) * C + h * D;
    for (int d = lane; d < D; d += 32) out[d] = x[d] * inv;
    if (lane == 0) ynrm[hrow + q0 + i] = float(nv);
  }
}

// Block = 32 queries: dQn_i = sum_j W_ij kn_j, written to dqkv's q part.
__global__ void __launch_bounds__(kThreads)
yoso_e_dq_kernel(float* dqkv, const float* qn, const float* kn, const float* g, const float* qkv,
                 const int32_t* mask, Shape s, Kernel kf) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Qs = smem;               // [32][D+1]
  float* Gs = Qs + kTile * Dp;    // [32][D+1]
  float* Ks = Gs + kTile * Dp;    // [32][D+1]
  float* Vs = Ks + kTile * Dp;    // [32][D+1]
  float* Ws = Vs + kTile * Dp;    // [32 queries][33]
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, q0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float half = 0.5f * kf.tau;
  load_head(Qs, qn, s, bh, q0);
  load_head(Gs, g, s, bh, q0);
  bool qv[kRowsPerWarp];
  warp_rows_valid(qv, mask, s, b, q0);
  float acc[kMaxOut];
  out_zero(acc);
  for (int k0 = 0; k0 < s.T; k0 += kTile) {
    __syncthreads();
    load_head(Ks, kn, s, bh, k0);
    load_v(Vs, qkv, s, b, h, k0);
    __syncthreads();
    const bool kv = valid(mask, s, b, k0 + lane);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      float w = 0.f;
      if (qv[r] && kv) {
        const float x = tile_dot(Qs, i, Ks, lane, D), gv = tile_dot(Gs, i, Vs, lane, D);
        w = gv * (kf.exact ? kf.fprime(x) : half * kf.f(x));
      }
      Ws[i * 33 + lane] = w;
    }
    __syncthreads();
    out_mac(acc, Ws, Ks, D);
  }
  out_store(dqkv + int64_t(b) * s.T * 3 * C + h * D, 3 * int64_t(C), acc, 1.f, q0, s.T, D);
}

// Block = 32 keys: dKn_j = sum_i W_ij qn_i and dV_j = sum_i E_ij g_i, to dqkv's k and v parts.
// The score tile is transposed (warp = key rows, lane = query) so both sums read rows.
__global__ void __launch_bounds__(kThreads)
yoso_e_dkv_kernel(float* dqkv, const float* qn, const float* kn, const float* g, const float* qkv,
                  const int32_t* mask, Shape s, Kernel kf) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Ks = smem;               // [32][D+1] resident
  float* Vs = Ks + kTile * Dp;    // [32][D+1] resident
  float* Qs = Vs + kTile * Dp;    // [32][D+1] per query tile
  float* Gs = Qs + kTile * Dp;    // [32][D+1]
  float* Es = Gs + kTile * Dp;    // [32 keys][33]
  float* Ws = Es + kTile * 33;    // [32 keys][33]
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, k0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float half = 0.5f * kf.tau;
  load_head(Ks, kn, s, bh, k0);
  load_v(Vs, qkv, s, b, h, k0);
  bool kv[kRowsPerWarp];
  warp_rows_valid(kv, mask, s, b, k0);
  float dk[kMaxOut], dv[kMaxOut];
  out_zero(dk);
  out_zero(dv);
  for (int q0 = 0; q0 < s.T; q0 += kTile) {
    __syncthreads();
    load_head(Qs, qn, s, bh, q0);
    load_head(Gs, g, s, bh, q0);
    __syncthreads();
    const bool qv = valid(mask, s, b, q0 + lane);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int j = warp + kWarps * r;
      float e = 0.f, w = 0.f;
      if (kv[r] && qv) {
        const float x = tile_dot(Qs, lane, Ks, j, D), gv = tile_dot(Gs, lane, Vs, j, D);
        e = kf.f(x);
        w = gv * (kf.exact ? kf.fprime(x) : half * e);
      }
      Es[j * 33 + lane] = e;
      Ws[j * 33 + lane] = w;
    }
    __syncthreads();
    out_mac2(dk, Ws, Qs, dv, Es, Gs, D);
  }
  // Row 0 of this head's k part, then its v part C floats on.
  out_store2(dqkv + int64_t(b) * s.T * 3 * C + C + h * D, 3 * int64_t(C), dk, 1.f, C, dv, 1.f, k0,
             s.T, D);
}

int yoso_e_check(const char* what, const Shape& s) {
  if (s.D <= 0 || s.D > kMaxD) return fail(1, what, "head size D must be in 1..128");
  if (s.tau < 1 || s.tau > 30) return fail(1, what, "tau must be in 1..30");
  if (s.BH() > 65535) return fail(1, what, "B * H must be at most 65535");
  return 0;
}

// Launches kernel k with `floats` of dynamic shared memory on the (T/32, B*H) grid.
template <typename K>
int launch(K k, const char* name, size_t floats, const Shape& s, float* dqkv, const float* qn,
           const float* kn, const float* g, const float* qkv, const int32_t* mask, Kernel kf) {
  const size_t smem = floats * sizeof(float);
  if (int rc = check(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(smem)), name))
    return rc;
  const dim3 grid(unsigned(ceil_div(s.T, kTile)), unsigned(s.BH()));
  k<<<grid, kThreads, smem, stream()>>>(dqkv, qn, kn, g, qkv, mask, s, kf);
  return check_launch(name);
}

}  // namespace
}  // namespace yoso

using namespace yoso;

int yoso_e_forward(float* ctx, float* ynrm, float* workspace, const float* qkv,
                   const int32_t* mask, int B, int T, int H, int D, int tau, int exact) {
  clear_error();
  const Shape s{B, T, H, D, 1, tau};
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = yoso_e_check("yoso_e_forward", s)) return rc;
  const int64_t hd = s.BH() * T * D;
  float *qn = workspace, *kn = qn + hd, *qnrm = kn + 2 * hd, *knrm = qnrm + s.BH() * T;
  if (int rc = prep_rows(qn, kn, nullptr, qnrm, knrm, qkv, nullptr, nullptr, nullptr, mask, s))
    return rc;
  const Kernel kf{tau, exact ? 0.98f : 1.f, exact};
  const size_t smem = sizeof(float) * (3 * kTile * (D + 1) + kTile * 33);
  if (int rc = check(cudaFuncSetAttribute(yoso_e_forward_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
                     "cudaFuncSetAttribute(yoso_e_forward_kernel)"))
    return rc;
  const dim3 grid(unsigned(ceil_div(T, kTile)), unsigned(s.BH()));
  yoso_e_forward_kernel<<<grid, kThreads, smem, stream()>>>(ctx, ynrm, qn, kn, qkv, mask, s, kf);
  return check_launch("yoso_e_forward_kernel");
}

int yoso_e_backward(float* dqkv, float* workspace, const float* dctx, const float* qkv,
                    const float* ctx, const float* ynrm, const int32_t* mask, int B, int T, int H,
                    int D, int tau, int exact) {
  clear_error();
  const Shape s{B, T, H, D, 1, tau};
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = yoso_e_check("yoso_e_backward", s)) return rc;
  const int64_t hd = s.BH() * T * D;
  float *qn = workspace, *kn = qn + hd, *g = kn + hd, *qnrm = g + hd, *knrm = qnrm + s.BH() * T;
  if (int rc = prep_rows(qn, kn, g, qnrm, knrm, qkv, dctx, ctx, ynrm, mask, s)) return rc;
  const Kernel kf{tau, exact ? 0.98f : 1.f, exact};
  const size_t tile = size_t(kTile) * (D + 1);
  if (int rc = launch(yoso_e_dq_kernel, "yoso_e_dq_kernel", 4 * tile + kTile * 33, s, dqkv, qn,
                      kn, g, qkv, mask, kf))
    return rc;
  if (int rc = launch(yoso_e_dkv_kernel, "yoso_e_dkv_kernel", 4 * tile + 2 * kTile * 33, s,
                      dqkv, qn, kn, g, qkv, mask, kf))
    return rc;
  return finish_rows(dqkv, qn, kn, qnrm, knrm, s, 1.f);
}

}  // namespace lshlab_cuda
