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
 * Hash kernel: block = 32 rows x 4 hashes; the 32 q and k rows (normalised) and the 4 hashes'
 * tau x D planes sit in shared memory; warp w computes side w / 4 (q or k), hash w % 4, lane =
 * row: rows are read conflict-free (stride D + 1), planes as broadcasts.
 */
#include <cmath>

#include "core/philox.h"
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {

constexpr int kRows = 32, kHashes = 4;

__device__ __forceinline__ double box_muller(uint32_t a, uint32_t b) {
  const double u1 = (double(a >> 8) + 1.0) / 16777217.0;
  const double u2 = double(b >> 8) / 16777216.0;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// One thread per pair of plane elements (e, e + 1) of one (b, h, hash) row of tau * D: normals
// i and i + 1 (i = plane_index(..., e), even) come from one Philox block, lanes {0,1} and {2,3}.
__global__ void yoso_planes_kernel(float* planes, Shape s, uint64_t seed, uint32_t step,
                                   uint32_t site) {
  const int64_t per = int64_t(s.tau) * s.D, pairs = (per + 1) / 2;
  const int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (g >= s.BH() * s.m * pairs) return;
  const int64_t row = g / pairs, e = 2 * (g % pairs);
  const int hash = int(row % s.m), bh = int(row / s.m), b = bh / s.H, h = bh % s.H;
  const uint64_t i = ((((uint64_t(site) << 12 | uint64_t(b)) << 8 | uint64_t(h)) << 10 |
                       uint64_t(hash)) << 20) | uint64_t(e);
  uint32_t c[4] = {uint32_t(i >> 1), uint32_t(i >> 33), uint32_t(lshlab::Stream::Attention),
                   step};
  lshlab::Philox4x32::generate(c, seed);
  float* out = planes + row * per + e;
  out[0] = float(box_muller(c[0], c[1]));
  if (e + 1 < per) out[1] = float(box_muller(c[2], c[3]));
}

__global__ void __launch_bounds__(kThreads)
yoso_hash_kernel(int32_t* qcode, int32_t* kcode, const float* qkv, const float* planes, Shape s) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, tau = s.tau;
  float* X = smem;                       // [2][32][D+1]: q rows, then k rows
  float* P = X + 2 * kRows * Dp;         // [4][tau][D]
  const int bh = blockIdx.z, b = bh / s.H, h = bh % s.H;
  const int t0 = blockIdx.x * kRows, hash0 = blockIdx.y * kHashes;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(s.C());
  for (int idx = threadIdx.x; idx < 2 * kRows * D; idx += kThreads) {
    const int side = idx / (kRows * D), r = (idx / D) % kRows, d = idx % D;
    const int t = t0 + r;
    X[(side * kRows + r) * Dp + d] =
        t < s.T ? qkv[(int64_t(b) * s.T + t) * ld + side * s.C() + h * D + d] : 0.f;
  }
  const int nh = s.m - hash0 < kHashes ? s.m - hash0 : kHashes;
  const float* pl = planes + (bh * int64_t(s.m) + hash0) * tau * D;
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
  if (u >= nh || t >= s.T) return;
  const float* x = X + (side * kRows + lane) * Dp;
  int32_t code = 0;
  for (int bit = 0; bit < tau; bit++) {
    const float* p = P + (u * tau + bit) * D;
    float acc = 0.f;
    for (int d = 0; d < D; d++) acc += x[d] * p[d];
    code |= int32_t(acc > 0.f) << bit;
  }
  (side ? kcode : qcode)[(bh * int64_t(s.m) + hash0 + u) * s.T + t] = code;
}

}  // namespace

int draw_planes(float* planes, const Shape& s, uint64_t seed, uint32_t step, uint32_t site) {
  const int64_t per = int64_t(s.tau) * s.D, n = s.BH() * s.m * ((per + 1) / 2);
  yoso_planes_kernel<<<unsigned(ceil_div(n, kThreads)), kThreads, 0, stream()>>>(planes, s, seed,
                                                                                 step, site);
  return check_launch("yoso_planes_kernel");
}

int hash_codes(int32_t* qcode, int32_t* kcode, const float* qkv, const float* planes,
               const Shape& s) {
  const size_t smem = sizeof(float) * (2 * kRows * (s.D + 1) + kHashes * s.tau * s.D);
  if (int rc = check(cudaFuncSetAttribute(yoso_hash_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
                     "cudaFuncSetAttribute(yoso_hash_kernel)"))
    return rc;
  const dim3 grid(unsigned(ceil_div(s.T, kRows)), unsigned(ceil_div(s.m, kHashes)),
                  unsigned(s.BH()));
  yoso_hash_kernel<<<grid, kThreads, smem, stream()>>>(qcode, kcode, qkv, planes, s);
  return check_launch("yoso_hash_kernel");
}

}  // namespace yoso
}  // namespace lshlab_cuda
