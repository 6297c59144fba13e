/*
 * yoso_hash.cu: YOSO's random hyperplanes and the hash codes of the unit queries and keys.
 *   planes (B,H,m,tau,D): element e of (b, h, hash) = philox_normal(seed, Stream::Attention, step,
 *                         plane_index(site, b, h, hash, e)), as attention/yoso_lsh.cc's
 *                         yoso_planes (Box-Muller in float64, then rounded to float).
 *   codes  (B,H,m,T):     bit t of code(x) = (x/|x| . plane_t > 0), for q and k, all tokens
 *                         (padding included, as the CPU; the mask is applied when codes are used).
 * Why draw on the device: the planes are a pure function of their Philox counter, so each thread
 * draws its own pair of normals with no host round trip; they equal the CPU's to float rounding
 * of the float64 Box-Muller value (bit for bit whenever the device's log/cos round to the same
 * float, which the parity test checks). The normalisation mirrors yoso.cc's l2_rows (sum of
 * squares in float64, x * float(1 / max(|x|, 1e-12))) so the unit rows match the CPU's; only the
 * projection's summation order differs, which can flip a bit whose projection is within float
 * rounding of 0 (the CPU's own float and double paths differ there the same way).
 * Hash kernel: block = 32 rows x 4 hashes of one head (a flat grid: t blocks fastest, then hash
 * groups, then heads, any B*H); the 32 q and k rows (normalised) and the 4 hashes' planes sit in
 * shared memory; warp w computes side w / 4 (q or k), hash w % 4, lane = row: rows are read
 * conflict-free (stride D + 1), planes as broadcasts. The planes come in passes of tb bits
 * (yoso_plan.cuh's hash_bits_per_pass) so the block fits 99 KiB at D 256; for D <= 128 one pass
 * holds all tau bits. Each bit's projection is the same loop over d whatever the passes.
 * The planes' seed and step: by value or from the step constants (hash_draw.cuh).
 */
#include <cmath>

#include "core/philox.h"
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {

constexpr int kRows = kHashRows, kHashes = kHashHashes;

__device__ __forceinline__ double box_muller(uint32_t a, uint32_t b) {
  const double u1 = (double(a >> 8) + 1.0) / 16777217.0;
  const double u2 = double(b >> 8) / 16777216.0;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// One thread per pair of plane elements (e, e + 1) of one (b, h, hash) row of tau * D: normals
// i and i + 1 (i = plane_index(..., e), even) come from one Philox block, lanes {0,1} and {2,3}.
__global__ void yoso_planes_kernel(float* planes, Shape s, HashDraw draw, uint32_t site) {
  const int64_t per = int64_t(s.tau) * s.D, pairs = (per + 1) / 2;
  const int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (g >= s.BH() * s.m * pairs) return;
  const int64_t row = g / pairs, e = 2 * (g % pairs);
  const int hash = int(row % s.m), bh = int(row / s.m), b = bh / s.H, h = bh % s.H;
  const uint64_t i = ((((uint64_t(site) << 12 | uint64_t(b)) << 8 | uint64_t(h)) << 10 |
                       uint64_t(hash)) << 20) | uint64_t(e);
  uint32_t c[4] = {uint32_t(i >> 1), uint32_t(i >> 33), uint32_t(lshlab::Stream::Attention),
                   draw.step_now()};
  lshlab::Philox4x32::generate(c, draw.seed_now());
  float* out = planes + row * per + e;
  out[0] = float(box_muller(c[0], c[1]));
  if (e + 1 < per) out[1] = float(box_muller(c[2], c[3]));
}

// Multi = false: one pass holds all tau bits (tb == tau: D <= 128, or small tau); true: passes
// of tb bits, the warps that own no (row, hash) kept for the block's barriers.
template <bool Multi>
__global__ void __launch_bounds__(kThreads)
yoso_hash_kernel(int32_t* qcode, int32_t* kcode, const float* qkv, const float* planes, Shape s,
                 int tb) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, tau = s.tau;
  float* X = smem;                       // [2][32][D+1]: q rows, then k rows
  float* P = X + 2 * kRows * Dp;         // [4][tb][D]: a pass's bits of the 4 hashes
  const int tblocks = int((s.T + kRows - 1) / kRows), groups = (s.m + kHashes - 1) / kHashes;
  const int64_t blk = blockIdx.x / tblocks;
  const int64_t bh = blk / groups;
  const int b = int(bh / s.H), h = int(bh % s.H);
  const int t0 = int(blockIdx.x % tblocks) * kRows, hash0 = int(blk % groups) * kHashes;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int idx = threadIdx.x; idx < 2 * kRows * D; idx += kThreads) {
    const int side = idx / (kRows * D), r = (idx / D) % kRows, d = idx % D;
    const int t = t0 + r;
    X[(side * kRows + r) * Dp + d] = t < s.T ? qkv[token_row_at(b, t, h, s, 3, side) + d] : 0.f;
  }
  const int nh = s.m - hash0 < kHashes ? s.m - hash0 : kHashes;
  const float* pl = planes + (bh * s.m + hash0) * tau * D;
  if (!Multi)
    for (int idx = threadIdx.x; idx < nh * tau * D; idx += kThreads) P[idx] = pl[idx];
  __syncthreads();
  // l2_rows: warp w normalises rows w, w + 8, ... of the 64 (sum of squares in float64).
  for (int r = warp; r < 2 * kRows; r += kWarps) {
    float* x = X + r * Dp;
    double ss = 0;
    for (int d = lane; d < D; d += 32) ss += double(x[d]) * x[d];
    ss = warp_sum_d(ss);
    const float inv = float(1.0 / fmax(sqrt(ss), kEps));
    for (int d = lane; d < D; d += 32) x[d] *= inv;
  }
  __syncthreads();
  const int side = warp / kHashes, u = warp % kHashes, t = t0 + lane;
  const bool active = u < nh && t < s.T;
  if (!Multi && !active) return;
  const float* x = X + (side * kRows + lane) * Dp;
  int32_t code = 0;
  for (int bit0 = 0; bit0 < tau; bit0 += tb) {
    const int nbits = tau - bit0 < tb ? tau - bit0 : tb;
    if (Multi) {
      __syncthreads();  // every warp is done with the previous pass's planes
      for (int idx = threadIdx.x; idx < nh * nbits * D; idx += kThreads) {
        const int hu = idx / (nbits * D), e = idx % (nbits * D);
        P[hu * tb * D + e] = pl[(int64_t(hu) * tau + bit0) * D + e];
      }
      __syncthreads();
      if (!active) continue;
    }
    for (int bit = 0; bit < nbits; bit++) {
      const float* p = P + (u * tb + bit) * D;
      float acc = 0.f;
      for (int d = 0; d < D; d++) acc += x[d] * p[d];
      code |= int32_t(acc > 0.f) << (bit0 + bit);
    }
  }
  if (active) (side ? kcode : qcode)[code_at(bh, s.m, hash0 + u, s.T, t)] = code;
}

}  // namespace

int draw_planes(float* planes, const Shape& s, const HashDraw& draw, uint32_t site) {
  const int64_t per = int64_t(s.tau) * s.D, n = s.BH() * s.m * ((per + 1) / 2);
  unsigned grid = 0;
  if (int rc = grid_of(&grid, ceil_div(n, kThreads), "yoso_planes_kernel")) return rc;
  yoso_planes_kernel<<<grid, kThreads, 0, stream()>>>(planes, s, draw, site);
  return check_launch("yoso_planes_kernel");
}

int hash_codes(int32_t* qcode, int32_t* kcode, const float* qkv, const float* planes,
               const Shape& s) {
  const size_t smem = hash_smem_bytes(s);  // <= 99 KiB by construction
  const int tb = hash_bits_per_pass(s);
  auto* k = tb < s.tau ? &yoso_hash_kernel<true> : &yoso_hash_kernel<false>;
  if (int rc = check(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(smem)),
                     "cudaFuncSetAttribute(yoso_hash_kernel)"))
    return rc;
  unsigned grid = 0;
  if (int rc = grid_of(&grid, hash_blocks(s), "yoso_hash_kernel")) return rc;
  k<<<grid, kThreads, smem, stream()>>>(qcode, kcode, qkv, planes, s, tb);
  return check_launch("yoso_hash_kernel");
}

}  // namespace yoso
}  // namespace lshlab_cuda
