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
 * Head sizes up to 256, on attention_backward.cu's geometries: Tiles32 for D <= 128; for D in
 * 129..256 the forward and dQn kernels take 16 queries x 32 keys (Tiles16x32), the dKn/dV kernel
 * 16 keys x 16 queries (Tiles16), so each block's tiles fit the 99 KiB sm_86 / sm_89 opt-in.
 * Shared memory at D = 128 / 256: forward 53,760 / 84,352 bytes, dQn 70,272 / 100,800, dKn/dV
 * 74,496 / 67,968.
 */
#include <cmath>

#include "attention_tile.cuh"
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {
using attn::kMaxOut;
using attn::load_tile;
using attn::out_mac;
using attn::out_mac2;
using attn::out_store;
using attn::out_store2;
using attn::out_zero;
using attn::tile_dot;
using attn::Tiles16;
using attn::Tiles16x32;
using attn::Tiles32;

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

// v[r] = valid(row t0 + G::row(r)): the resident rows of the score tile this thread scores.
template <class G>
__device__ __forceinline__ void rows_valid(bool (&v)[G::kPasses], const int32_t* mask,
                                           const Shape& s, int b, int t0) {
#pragma unroll
  for (int r = 0; r < G::kPasses; r++) v[r] = valid(mask, s, b, t0 + G::row(r));
}

// Rows [t0, t0 + kR) of head bh (b * H + h) of a per-head (B,H,T,D) array into tile[kR][D+1].
template <int kR>
__device__ __forceinline__ void load_head(float* tile, const float* x, const Shape& s, int bh,
                                          int t0) {
  load_tile<kR>(tile, x + int64_t(bh) * s.T * s.D, s.D, t0, s.T, s.D);
}

// Rows [t0, t0 + kR) of v, head h of batch b, of qkv (B,T,3C) into tile[kR][D+1].
template <int kR>
__device__ __forceinline__ void load_v(float* tile, const float* qkv, const Shape& s, int b, int h,
                                       int t0) {
  const int C = s.C();
  load_tile<kR>(tile, qkv + int64_t(b) * s.T * 3 * C + 2 * C + h * s.D, 3 * int64_t(C), t0, s.T,
                s.D);
}

// Block = G::kRows queries of one (b, h): X = E V over key tiles, then each warp normalises its
// rows.
template <class G>
__global__ void __launch_bounds__(kThreads)
yoso_e_forward_kernel(float* ctx, float* ynrm, const float* qn, const float* kn, const float* qkv,
                      const int32_t* mask, Shape s, Kernel kf) {
  constexpr int kR = G::kRows, kC = G::kCols, kLd = G::kLd;
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Qs = smem;               // [kR][D+1] unit queries, then X
  float* Ks = Qs + kR * Dp;       // [kC][D+1]
  float* Vs = Ks + kC * Dp;       // [kC][D+1]
  float* Es = Vs + kC * Dp;       // [kR][kC+1]
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, q0 = blockIdx.x * kR;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, col = G::col();
  const int64_t hrow = int64_t(bh) * s.T;  // row 0 of this head in (B,H,T,.)
  load_head<kR>(Qs, qn, s, bh, q0);
  bool qv[G::kPasses];
  rows_valid<G>(qv, mask, s, b, q0);
  float o[kMaxOut];
  out_zero(o);
  for (int k0 = 0; k0 < s.T; k0 += kC) {
    __syncthreads();
    load_head<kC>(Ks, kn, s, bh, k0);
    load_v<kC>(Vs, qkv, s, b, h, k0);
    __syncthreads();
    const bool kv = valid(mask, s, b, k0 + col);
#pragma unroll
    for (int r = 0; r < G::kPasses; r++) {
      const int i = G::row(r);
      Es[i * kLd + col] = qv[r] && kv ? kf.f(tile_dot(Qs, i, Ks, col, D)) : 0.f;
    }
    __syncthreads();
    out_mac<G>(o, Es, Vs, D);
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kR * D) Qs[(idx / D) * Dp + idx % D] = o[r];
  }
  __syncthreads();
  for (int i = warp; i < kR && q0 + i < s.T; i += kWarps) {  // l2_rows, float64 sum
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

// Block = G::kRows queries: dQn_i = sum_j W_ij kn_j, written to dqkv's q part.
template <class G>
__global__ void __launch_bounds__(kThreads)
yoso_e_dq_kernel(float* dqkv, const float* qn, const float* kn, const float* g, const float* qkv,
                 const int32_t* mask, Shape s, Kernel kf) {
  constexpr int kR = G::kRows, kC = G::kCols, kLd = G::kLd;
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Qs = smem;               // [kR][D+1]
  float* Gs = Qs + kR * Dp;       // [kR][D+1]
  float* Ks = Gs + kR * Dp;       // [kC][D+1]
  float* Vs = Ks + kC * Dp;       // [kC][D+1]
  float* Ws = Vs + kC * Dp;       // [kR queries][kC+1]
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, q0 = blockIdx.x * kR;
  const int col = G::col();
  const float half = 0.5f * kf.tau;
  load_head<kR>(Qs, qn, s, bh, q0);
  load_head<kR>(Gs, g, s, bh, q0);
  bool qv[G::kPasses];
  rows_valid<G>(qv, mask, s, b, q0);
  float acc[kMaxOut];
  out_zero(acc);
  for (int k0 = 0; k0 < s.T; k0 += kC) {
    __syncthreads();
    load_head<kC>(Ks, kn, s, bh, k0);
    load_v<kC>(Vs, qkv, s, b, h, k0);
    __syncthreads();
    const bool kv = valid(mask, s, b, k0 + col);
#pragma unroll
    for (int r = 0; r < G::kPasses; r++) {
      const int i = G::row(r);
      float w = 0.f;
      if (qv[r] && kv) {
        const float x = tile_dot(Qs, i, Ks, col, D), gv = tile_dot(Gs, i, Vs, col, D);
        w = gv * (kf.exact ? kf.fprime(x) : half * kf.f(x));
      }
      Ws[i * kLd + col] = w;
    }
    __syncthreads();
    out_mac<G>(acc, Ws, Ks, D);
  }
  out_store<G>(dqkv + int64_t(b) * s.T * 3 * C + h * D, 3 * int64_t(C), acc, 1.f, q0, s.T, D);
}

// Block = G::kRows keys: dKn_j = sum_i W_ij qn_i and dV_j = sum_i E_ij g_i, to dqkv's k and v
// parts. The score tile is transposed (resident key rows, query columns) so both sums read rows.
template <class G>
__global__ void __launch_bounds__(kThreads)
yoso_e_dkv_kernel(float* dqkv, const float* qn, const float* kn, const float* g, const float* qkv,
                  const int32_t* mask, Shape s, Kernel kf) {
  constexpr int kR = G::kRows, kC = G::kCols, kLd = G::kLd;
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Ks = smem;               // [kR][D+1] resident
  float* Vs = Ks + kR * Dp;       // [kR][D+1] resident
  float* Qs = Vs + kR * Dp;       // [kC][D+1] per query tile
  float* Gs = Qs + kC * Dp;       // [kC][D+1]
  float* Es = Gs + kC * Dp;       // [kR keys][kC+1]
  float* Ws = Es + kR * kLd;      // [kR keys][kC+1]
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, k0 = blockIdx.x * kR;
  const int col = G::col();  // query of the score tile
  const float half = 0.5f * kf.tau;
  load_head<kR>(Ks, kn, s, bh, k0);
  load_v<kR>(Vs, qkv, s, b, h, k0);
  bool kv[G::kPasses];
  rows_valid<G>(kv, mask, s, b, k0);
  float dk[kMaxOut], dv[kMaxOut];
  out_zero(dk);
  out_zero(dv);
  for (int q0 = 0; q0 < s.T; q0 += kC) {
    __syncthreads();
    load_head<kC>(Qs, qn, s, bh, q0);
    load_head<kC>(Gs, g, s, bh, q0);
    __syncthreads();
    const bool qv = valid(mask, s, b, q0 + col);
#pragma unroll
    for (int r = 0; r < G::kPasses; r++) {
      const int j = G::row(r);
      float e = 0.f, w = 0.f;
      if (kv[r] && qv) {
        const float x = tile_dot(Qs, col, Ks, j, D), gv = tile_dot(Gs, col, Vs, j, D);
        e = kf.f(x);
        w = gv * (kf.exact ? kf.fprime(x) : half * e);
      }
      Es[j * kLd + col] = e;
      Ws[j * kLd + col] = w;
    }
    __syncthreads();
    out_mac2<G>(dk, Ws, Qs, dv, Es, Gs, D);
  }
  // Row 0 of this head's k part, then its v part C floats on.
  out_store2<G>(dqkv + int64_t(b) * s.T * 3 * C + C + h * D, 3 * int64_t(C), dk, 1.f, C, dv, 1.f,
                k0, s.T, D);
}

// prep_rows / finish_rows (yoso_rows.cu) hold a row of up to kMaxHeadD in each lane's registers.
static_assert(attn::kMaxDWide <= kMaxHeadD, "yoso_rows.cu takes every head size the tiles take");

int yoso_e_check(const char* what, const Shape& s) {
  if (int rc = attn::check_head_size(what, s.D)) return rc;
  if (s.tau < 1 || s.tau > 30) return fail(1, what, "tau must be in 1..30");
  if (s.BH() > 65535) return fail(1, what, "B * H must be at most 65535");
  return 0;
}

// Launches kernel k with `floats` of dynamic shared memory on the (T/kRows, B*H) grid.
template <class G, typename K, typename... Args>
int launch(K k, const char* name, size_t floats, const Shape& s, Args... args) {
  const size_t smem = floats * sizeof(float);
  if (int rc = opt_in_smem(k, smem, name, s.D)) return rc;
  const dim3 grid(unsigned(ceil_div(s.T, G::kRows)), unsigned(s.BH()));
  k<<<grid, kThreads, smem, stream()>>>(args...);
  return check_launch(name);
}

// Floats of a (rows, D + 1) tile and of a weight tile of G.
inline size_t tile_floats(int rows, int D) { return size_t(rows) * (D + 1); }
template <class G>
size_t weights_floats() {
  return size_t(G::kRows) * G::kLd;
}

template <class G>
int forward(float* ctx, float* ynrm, const float* qn, const float* kn, const float* qkv,
            const int32_t* mask, const Shape& s, Kernel kf) {
  const size_t floats =
      tile_floats(G::kRows, s.D) + 2 * tile_floats(G::kCols, s.D) + weights_floats<G>();
  return launch<G>(yoso_e_forward_kernel<G>, "yoso_e_forward_kernel", floats, s, ctx, ynrm, qn,
                   kn, qkv, mask, s, kf);
}

template <class Gq, class Gkv>
int backward(float* dqkv, const float* qn, const float* kn, const float* g, const float* qkv,
             const int32_t* mask, const Shape& s, Kernel kf) {
  const size_t dq = 2 * tile_floats(Gq::kRows, s.D) + 2 * tile_floats(Gq::kCols, s.D) +
                    weights_floats<Gq>();
  if (int rc = launch<Gq>(yoso_e_dq_kernel<Gq>, "yoso_e_dq_kernel", dq, s, dqkv, qn, kn, g, qkv,
                          mask, s, kf))
    return rc;
  const size_t dkv = 2 * tile_floats(Gkv::kRows, s.D) + 2 * tile_floats(Gkv::kCols, s.D) +
                     2 * weights_floats<Gkv>();
  return launch<Gkv>(yoso_e_dkv_kernel<Gkv>, "yoso_e_dkv_kernel", dkv, s, dqkv, qn, kn, g, qkv,
                     mask, s, kf);
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
  return D <= Tiles32::kMaxD ? forward<Tiles32>(ctx, ynrm, qn, kn, qkv, mask, s, kf)
                             : forward<Tiles16x32>(ctx, ynrm, qn, kn, qkv, mask, s, kf);
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
  if (int rc = D <= Tiles32::kMaxD
                   ? backward<Tiles32, Tiles32>(dqkv, qn, kn, g, qkv, mask, s, kf)
                   : backward<Tiles16x32, Tiles16>(dqkv, qn, kn, g, qkv, mask, s, kf))
    return rc;
  return finish_rows(dqkv, qn, kn, qnrm, knrm, s, 1.f);
}

}  // namespace lshlab_cuda
