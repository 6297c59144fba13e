/*
 * attention_backward.cu: exact softmax attention backward (FlashAttention-2 style, float32),
 * recomputing the probabilities tile by tile from the forward's lse; no (T,T) buffer, no
 * atomics (deterministic), three kernels:
 *   delta  : delta_i = sum_d dctx_i,d * ctx_i,d                         one warp per row
 *   dq     : dQ_i = scale * sum_j dS_ij K_j                             block = 32 queries
 *   dk, dv : dV_j = sum_i P_ij dO_i,  dK_j = scale * sum_i dS_ij Q_i    block = 32 keys
 * (16 queries, 16 keys at D > 128)
 * with P_ij = exp(S_ij - lse_i) (0 for padding keys and for rows with lse = +inf) and
 * dS_ij = P_ij (dO_i . V_j - delta_i). With dropout (keep multiplier M_ij = keep ? 1/(1-p) : 0,
 * the forward's mask, drawn again per tile by dropout_tile): dV_j = sum_i P_ij M_ij dO_i and
 * dS_ij = P_ij (M_ij dO_i . V_j - delta_i); delta_i = dctx_i . ctx_i still holds, as in the
 * CPU's exact_tiled.cc.
 * Shapes: qkv, dqkv (B,T,3C) [q | k | v]; dctx, ctx (B,T,C); lse, delta (B,H,T); mask (B,T).
 * dqkv is overwritten entirely (padding keys get zero dK, dV).
 * Geometry as attention_tile.cuh; the dk/dv kernel transposes the score tile (resident key rows,
 * query columns) so that its reductions over queries read shared memory row by row. D <= 128:
 * Tiles32 for both. D in 129..256: dq Tiles16x32 (16 queries, 32 keys per tile), dk/dv Tiles16
 * (16 keys, 16 queries per tile: four (rows, D + 1) tiles, where 16 + 16 + 32 + 32 rows would
 * not fit 99 KiB). dq reads each dropout multiplier where it then writes dS, so the two share a
 * tile. Shared memory at D = 128 / 256: dq 70,272 / 100,800 bytes (either mode), dk/dv 74,752 /
 * 68,096 (+ 4,224 / + 1,088 with dropout).
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

// G: the tile geometry; kDropout: separate instantiations, as the forward's (registers of the
// inference path).
template <class G, bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_dq_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse,
                    const float* delta, const int32_t* mask, Shape s, DropoutKeep drop) {
  constexpr int kR = G::kRows, kC = G::kCols, kLd = G::kLd;
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Qs = smem;               // [kR][D+1]
  float* dOs = Qs + kR * Dp;      // [kR][D+1]
  float* Ks = dOs + kR * Dp;      // [kC][D+1]
  float* Vs = Ks + kC * Dp;       // [kC][D+1]
  float* dSs = Vs + kC * Dp;      // [kR queries][kC+1]
  float* Ms = dSs;                // [kR queries][kC+1] dropout multipliers (kDropout): each is
                                  // read by the thread that then writes dS in its place

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int q0 = blockIdx.x * kR;
  const int lane = G::col();
  const int64_t ld = 3 * int64_t(C);
  load_tile<kR>(Qs, qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T, D);
  load_tile<kR>(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T, D);
  float lse_r[G::kPasses], delta_r[G::kPasses];
#pragma unroll
  for (int r = 0; r < G::kPasses; r++) {
    const int t = q0 + G::row(r);
    lse_r[r] = t < s.T ? lse[int64_t(bh) * s.T + t] : INFINITY;
    delta_r[r] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
  }
  float dq[kMaxOut];
  out_zero(dq);

  for (int k0 = 0; k0 < s.T; k0 += kC) {
    __syncthreads();
    load_tile<kC>(Ks, qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T, D);
    load_tile<kC>(Vs, qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T, D);
    if (kDropout) dropout_tile<kR, kC>(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
    const bool valid = key_valid(mask, s, b, k0 + lane);
#pragma unroll
    for (int r = 0; r < G::kPasses; r++) {
      const int i = G::row(r);
      float ds = 0.f;
      if (valid) {
        const float p = expf(tile_dot(Qs, i, Ks, lane, D) * s.scale - lse_r[r]);
        float dp = tile_dot(dOs, i, Vs, lane, D);
        if (kDropout) dp *= Ms[i * kLd + lane];
        ds = p * (dp - delta_r[r]);
      }
      dSs[i * kLd + lane] = ds;
    }
    __syncthreads();
    out_mac<G>(dq, dSs, Ks, D);
  }
  out_store<G>(dqkv + int64_t(b) * s.T * ld + h * D, ld, dq, s.scale, q0, s.T, D);
}

template <class G, bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_dkv_kernel(float* dqkv, const float* dctx, const float* qkv, const float* lse,
                     const float* delta, const int32_t* mask, Shape s, DropoutKeep drop) {
  constexpr int kR = G::kRows, kC = G::kCols, kLd = G::kLd;
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* Ks = smem;               // [kR][D+1]  resident
  float* Vs = Ks + kR * Dp;       // [kR][D+1]  resident
  float* Qs = Vs + kR * Dp;       // [kC][D+1]  per query tile
  float* dOs = Qs + kC * Dp;      // [kC][D+1]
  float* Ps = dOs + kC * Dp;      // [kR keys][kC+1]
  float* dSs = Ps + kR * kLd;     // [kR keys][kC+1]
  float* lse_s = dSs + kR * kLd;       // [kC]
  float* delta_s = lse_s + kC;         // [kC]
  float* Ms = delta_s + kC;            // [kC queries][kR+1] dropout multipliers (kDropout)

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int k0 = blockIdx.x * kR;
  const int lane = G::col();  // query of the score tile
  const int64_t ld = 3 * int64_t(C);
  load_tile<kR>(Ks, qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T, D);
  load_tile<kR>(Vs, qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T, D);
  bool valid[G::kPasses];
#pragma unroll
  for (int r = 0; r < G::kPasses; r++) valid[r] = key_valid(mask, s, b, k0 + G::row(r));
  float dk[kMaxOut], dv[kMaxOut];
  out_zero(dk);
  out_zero(dv);

  for (int q0 = 0; q0 < s.T; q0 += kC) {
    __syncthreads();
    load_tile<kC>(Qs, qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T, D);
    load_tile<kC>(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T, D);
    if (threadIdx.x < kC) {
      const int t = q0 + threadIdx.x;
      lse_s[threadIdx.x] = t < s.T ? lse[int64_t(bh) * s.T + t] : INFINITY;  // P = 0 past T
      delta_s[threadIdx.x] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
    }
    if (kDropout) dropout_tile<kC, kR>(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < G::kPasses; r++) {
      const int j = G::row(r);  // key row of the tile; lane = query row
      float p = 0.f, ds = 0.f;
      if (valid[r]) {
        p = expf(tile_dot(Qs, lane, Ks, j, D) * s.scale - lse_s[lane]);
        float dp = tile_dot(dOs, lane, Vs, j, D);
        if (kDropout) {
          const float mul = Ms[lane * (kR + 1) + j];
          dp *= mul;
          ds = p * (dp - delta_s[lane]);
          p *= mul;  // P' for dV
        } else {
          ds = p * (dp - delta_s[lane]);
        }
      }
      Ps[j * kLd + lane] = p;
      dSs[j * kLd + lane] = ds;
    }
    __syncthreads();
    out_mac2<G>(dv, Ps, dOs, dk, dSs, Qs, D);
  }
  // Row 0 of this head's k part, then its v part C floats on.
  out_store2<G>(dqkv + int64_t(b) * s.T * ld + C + h * D, ld, dk, s.scale, C, dv, 1.f, k0, s.T,
                D);
}

// Bytes of dynamic shared memory of the dq and dk/dv kernels (their layouts above).
template <class G>
size_t dq_smem(int D) {
  return sizeof(float) * (size_t(2 * G::kRows + 2 * G::kCols) * (D + 1) + G::kRows * G::kLd);
}
template <class G>
size_t dkv_smem(int D, bool dropout) {
  const size_t floats = size_t(2 * G::kRows + 2 * G::kCols) * (D + 1) + 2 * G::kRows * G::kLd +
                        2 * G::kCols + (dropout ? G::kCols * (G::kRows + 1) : 0);
  return sizeof(float) * floats;
}

// The dq kernel on Gq tiles, then the dk/dv kernel on Gkv tiles.
template <class Gq, class Gkv>
int backward(float* dqkv, const float* dctx, const float* qkv, const float* lse,
             const float* delta, const int32_t* mask, const Shape& s, const DropoutKeep& drop) {
  const size_t smem_dq = dq_smem<Gq>(s.D);
  const auto dq_kernel = drop.on ? attention_dq_kernel<Gq, true> : attention_dq_kernel<Gq, false>;
  if (int rc = opt_in_smem(dq_kernel, smem_dq, "attention_dq_kernel", s.D)) return rc;
  const dim3 grid_dq(unsigned(ceil_div(s.T, Gq::kRows)), unsigned(s.B * s.H));
  dq_kernel<<<grid_dq, kThreads, smem_dq, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s, drop);
  if (int rc = check_launch("attention_dq_kernel")) return rc;

  const size_t smem_dkv = dkv_smem<Gkv>(s.D, drop.on);
  const auto dkv_kernel =
      drop.on ? attention_dkv_kernel<Gkv, true> : attention_dkv_kernel<Gkv, false>;
  if (int rc = opt_in_smem(dkv_kernel, smem_dkv, "attention_dkv_kernel", s.D)) return rc;
  const dim3 grid_dkv(unsigned(ceil_div(s.T, Gkv::kRows)), unsigned(s.B * s.H));
  dkv_kernel<<<grid_dkv, kThreads, smem_dkv, stream()>>>(dqkv, dctx, qkv, lse, delta, mask, s,
                                                          drop);
  return check_launch("attention_dkv_kernel");
}

}  // namespace

int attention_backward(float* dqkv, float* delta, const float* dctx, const float* qkv,
                       const float* ctx, const float* lse, const int32_t* mask, int B, int T,
                       int H, int D, const lshlab_cuda_dropout* dropout) {
  clear_error();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = check_head_size("attention_backward", D)) return rc;
  if (int64_t(B) * H > 65535) return fail(1, "attention_backward", "B * H must be at most 65535");
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const DropoutKeep drop = make_dropout_keep(dropout);
  const int64_t rows = int64_t(B) * T * H;
  attention_delta_kernel<<<unsigned(ceil_div(rows, kWarps)), kThreads, 0, stream()>>>(delta, dctx, ctx, s);
  if (int rc = check_launch("attention_delta_kernel")) return rc;
  return D <= Tiles32::kMaxD
             ? backward<Tiles32, Tiles32>(dqkv, dctx, qkv, lse, delta, mask, s, drop)
             : backward<Tiles16x32, Tiles16>(dqkv, dctx, qkv, lse, delta, mask, s, drop);
}

}  // namespace lshlab_cuda
