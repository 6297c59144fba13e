/*
 * attention_forward.cu: exact softmax attention forward, fused (FlashAttention style, float32,
 * no tensor cores yet): scores, online softmax and P V in one kernel, one block per (32 query
 * rows, batch, head); the (T,T) score matrix never reaches device memory.
 *
 *   S = Q K^T / sqrt(D) over valid keys, lse_i = logsumexp_j S_ij, ctx_i = sum_j softmax(S)_ij V_j
 * Shapes: qkv (B,T,3C) [q | k | v, head h at h*D]; mask (B,T) 1 = token, or null;
 *         ctx (B,T,C); lse (B,H,T), +inf (and a zero ctx row) where every key is padding.
 * As attention/exact.h's tiled path, dropout included: the keep mask (attention_tile.cuh's
 * dropout_tile, the CPU's mask exactly) multiplies the unnormalised probabilities that enter
 * O = P' V, while the running sum l (hence lse and the 1/l normalisation) uses P undropped.
 *
 * Per key tile: 256 threads compute the (query rows) x 32 scores, each warp updates the running
 * max m and sum l of its rows (shuffles) and writes P and the rescale factor to shared memory,
 * then each thread rescales and accumulates its <= 16 elements of O in registers. Blocks of 32
 * query rows (Tiles32) for D <= 128, 16 (Tiles16x32) for D in 129..256 (attention_tile.cuh):
 * shared memory 54,016 bytes at D = 128, 84,480 at D = 256 (+ 4,224 and + 2,112 with dropout).
 */
#include <cmath>

#include "attention_tile.cuh"

namespace lshlab_cuda {
namespace {
using namespace attn;

// G: the tile geometry (Tiles32 or Tiles16x32: 32 keys per tile, one per lane, for the warp
// reductions). kDropout: a separate instantiation, so the inference path keeps its registers
// (the Philox rounds would otherwise raise the whole kernel's count and halve its occupancy).
template <class G, bool kDropout>
__global__ void __launch_bounds__(kThreads)
attention_forward_kernel(float* ctx, float* lse, const float* qkv, const int32_t* mask, Shape s,
                         DropoutKeep drop) {
  static_assert(G::kCols == 32, "a score row is one warp");
  constexpr int kR = G::kRows, kC = G::kCols, kLd = G::kLd;
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1;
  float* Qs = smem;                // [kR][D+1]
  float* Ks = Qs + kR * Dp;        // [32][D+1]
  float* Vs = Ks + kC * Dp;        // [32][D+1]
  float* Ps = Vs + kC * Dp;        // [kR][33]  probabilities of the tile (unnormalised)
  float* corr = Ps + kR * kLd;     // [kR]      rescale factor of O's rows for this tile
  float* inv_l = corr + kR;        // [kR]
  float* Ms = inv_l + kR;          // [kR][33]  dropout multipliers of the tile (kDropout)

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int q0 = blockIdx.x * kR;
  const int lane = G::col();
  const int64_t ld = 3 * int64_t(s.C());

  load_tile<kR>(Qs, qkv_row(qkv, s, b, 0, 0, h), ld, q0, s.T, D);

  float m[G::kPasses], l[G::kPasses];
#pragma unroll
  for (int r = 0; r < G::kPasses; r++) {
    m[r] = -INFINITY;
    l[r] = 0.f;
  }
  float o[kMaxOut];
  out_zero(o);

  for (int k0 = 0; k0 < s.T; k0 += kC) {
    __syncthreads();  // the previous tile's Ks, Vs, Ps are no longer read
    load_tile<kC>(Ks, qkv_row(qkv, s, b, 0, 1, h), ld, k0, s.T, D);
    load_tile<kC>(Vs, qkv_row(qkv, s, b, 0, 2, h), ld, k0, s.T, D);
    if (kDropout) dropout_tile<kR, kC>(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
    const bool valid = key_valid(mask, s, b, k0 + lane);
#pragma unroll
    for (int r = 0; r < G::kPasses; r++) {
      const int i = G::row(r);
      const float sc = valid ? tile_dot(Qs, i, Ks, lane, D) * s.scale : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(sc));
      float p = 0.f, c = 1.f;
      if (m_new != -INFINITY) {  // else: no valid key yet; nothing to add, nothing to rescale
        p = expf(sc - m_new);
        c = expf(m[r] - m_new);
      }
      l[r] = l[r] * c + warp_sum(p);
      m[r] = m_new;
      Ps[i * kLd + lane] = kDropout ? p * Ms[i * kLd + lane] : p;
      if (lane == 0) corr[i] = c;
    }
    __syncthreads();
    out_mac_rescaled<G>(o, corr, Ps, Vs, D);
  }

  // Row results: lse and 1/l (0 for a row with no valid key: ctx 0, lse +inf).
#pragma unroll
  for (int r = 0; r < G::kPasses; r++) {
    const int i = G::row(r);
    if (lane == 0) {
      const bool any = l[r] > 0.f;
      inv_l[i] = any ? 1.f / l[r] : 0.f;
      if (q0 + i < s.T) lse[int64_t(bh) * s.T + q0 + i] = any ? m[r] + logf(l[r]) : INFINITY;
    }
  }
  __syncthreads();
  const int C = s.C();
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kR * D) {
      const int i = idx / D, d = idx % D;
      if (q0 + i < s.T) ctx[(int64_t(b) * s.T + q0 + i) * C + h * D + d] = o[r] * inv_l[i];
    }
  }
}

// Bytes of dynamic shared memory of attention_forward_kernel<G, kDropout> (its layout above).
template <class G>
size_t forward_smem(int D, bool dropout) {
  const size_t floats = size_t(G::kRows + 2 * G::kCols) * (D + 1) + G::kRows * G::kLd +
                        2 * G::kRows + (dropout ? G::kRows * G::kLd : 0);
  return sizeof(float) * floats;
}

template <class G>
int forward(float* ctx, float* lse, const float* qkv, const int32_t* mask, const Shape& s,
            const DropoutKeep& drop) {
  const size_t smem = forward_smem<G>(s.D, drop.on);
  const auto kernel =
      drop.on ? attention_forward_kernel<G, true> : attention_forward_kernel<G, false>;
  if (int rc = opt_in_smem(kernel, smem, "attention_forward_kernel", s.D)) return rc;
  const dim3 grid(unsigned(ceil_div(s.T, G::kRows)), unsigned(s.B * s.H));
  kernel<<<grid, kThreads, smem, stream()>>>(ctx, lse, qkv, mask, s, drop);
  return check_launch("attention_forward_kernel");
}

}  // namespace

int attention_forward(float* ctx, float* lse, const float* qkv, const int32_t* mask, int B, int T,
                      int H, int D, const lshlab_cuda_dropout* dropout) {
  clear_error();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = check_head_size("attention_forward", D)) return rc;
  if (int64_t(B) * H > 65535) return fail(1, "attention_forward", "B * H must be at most 65535");
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const DropoutKeep drop = make_dropout_keep(dropout);
  return D <= Tiles32::kMaxD ? forward<Tiles32>(ctx, lse, qkv, mask, s, drop)
                             : forward<Tiles16x32>(ctx, lse, qkv, mask, s, drop);
}

}  // namespace lshlab_cuda
