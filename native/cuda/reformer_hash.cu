/*
 * reformer_hash.cu: the Reformer hash (attention/reformer.cc hash_and_gather, first half) and
 * the key scales, on the device, bit for bit with the CPU's float path:
 *   rot (B,H,D,R,nb/2)  element i of (b,h) = float(philox_normal(seed, Stream::Attention, step,
 *                       (site & 0xFFF) << 50 | b << 34 | h << 24 | i)), Box-Muller in float64
 *   keys (B,H,R,Tp)     bucket(t) = argmax([x R_r; -x R_r]) (first maximum, as torch and the CPU
 *                       scan), nb for padding (mask 0 or t >= T); idx = t (the sort's payload)
 *   ks (B,H,Tp)         float(1 / sqrt(|x|^2 / D + 1e-6) / sqrt(D)), |x|^2 summed in float64 in
 *                       d order, as reformer.cc
 * Why the projection is an explicit fmaf chain in d order from 0: that is what the CPU's float
 * GEMM computes for K = D <= its K block (one FMA accumulator per output, k in order), so the
 * buckets equal the CPU's float buckets, not just its double ones up to near-ties. The rotations
 * equal the CPU's to float rounding of the float64 value (bit for bit whenever the device's
 * log/cos round to the same float; the parity test counts).
 * Hash kernel: block = 32 tokens x 8 warps; the 32 x rows sit in shared memory (stride D + 1,
 * conflict-free); warp w takes rounds w, w + 8, ...; lane = token; rotation reads are broadcasts.
 * The rotations' seed and step: by value or from the step constants (hash_draw.cuh).
 */
#include <cmath>

#include "core/philox.h"
#include "reformer_common.cuh"

namespace lshlab_cuda {
namespace reformer {
namespace {

__device__ __forceinline__ double box_muller(uint32_t a, uint32_t b) {
  const double u1 = (double(a >> 8) + 1.0) / 16777217.0;
  const double u2 = double(b >> 8) / 16777216.0;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// One thread per pair of normals (e, e + 1) of one (b,h): philox_normal(i) uses u32 draws 2i and
// 2i + 1, i.e. lanes {0,1} of counter i / 2 for even i and lanes {2,3} for i + 1.
__global__ void reformer_rot_kernel(float* rot, Plan p, HashDraw draw, uint32_t site) {
  const int64_t per = int64_t(p.D) * p.R * p.nb2(), pairs = (per + 1) / 2;
  const int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (g >= p.BH() * pairs) return;
  const int64_t bh = g / pairs, e = 2 * (g % pairs);
  const uint64_t b = uint64_t(bh / p.H), h = uint64_t(bh % p.H);
  const uint64_t i = ((uint64_t(site & 0xFFFu) << 50) | (b << 34) | (h << 24)) + uint64_t(e);
  uint32_t c[4] = {uint32_t(i >> 1), uint32_t(i >> 33), uint32_t(lshlab::Stream::Attention),
                   draw.step_now()};
  lshlab::Philox4x32::generate(c, draw.seed_now());
  float* out = rot + bh * per + e;
  out[0] = float(box_muller(c[0], c[1]));
  if (e + 1 < per) out[1] = float(box_muller(c[2], c[3]));
}

__global__ void __launch_bounds__(kThreads)
reformer_hash_kernel(uint32_t* keys, uint32_t* idx, int32_t* buckets, const float* qkv,
                     const int32_t* mask, const float* rot, Plan p) {
  extern __shared__ float smem[];
  const int D = p.D, Dp = D + 1, nb2 = p.nb2(), RN = p.R * nb2;
  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H, t0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(p.C());
  for (int e = threadIdx.x; e < kTile * D; e += kThreads) {
    const int r = e / D, d = e % D, t = t0 + r;
    smem[r * Dp + d] = t < p.T ? qkv[(int64_t(b) * p.T + t) * ld + h * D + d] : 0.f;
  }
  __syncthreads();
  const int t = t0 + lane;
  if (t >= p.Tp) return;
  const bool real = t < p.T && (mask == nullptr || mask[int64_t(b) * p.T + t] != 0);
  const float* x = smem + lane * Dp;
  const float* R0 = rot + int64_t(bh) * D * RN;  // (D, R, nb/2)
  for (int r = warp; r < p.R; r += kWarps) {
    int best = p.nb;
    if (real) {
      float hi = -INFINITY, lo = INFINITY;  // first maximum and first minimum of x R_r
      int khi = 0, klo = 0;
      for (int k = 0; k < nb2; k++) {
        const float* col = R0 + r * nb2 + k;
        float acc = 0.f;
        for (int d = 0; d < D; d++) acc = fmaf(x[d], col[int64_t(d) * RN], acc);
        if (acc > hi) { hi = acc; khi = k; }
        if (acc < lo) { lo = acc; klo = k; }
      }
      best = -lo > hi ? nb2 + klo : khi;  // the negative half wins only when strictly greater
    }
    const int64_t o = (int64_t(bh) * p.R + r) * p.Tp + t;
    keys[o] = uint32_t(best);
    idx[o] = uint32_t(t);
    if (buckets && t < p.T) buckets[(int64_t(bh) * p.R + r) * p.T + t] = best;
  }
}

// One thread per (b,h,t < Tp).
__global__ void reformer_scale_kernel(float* ks, int32_t* order, int32_t* undo, const float* qkv,
                                      Plan p) {
  const int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (g >= p.BH() * p.Tp) return;
  const int64_t bh = g / p.Tp;
  const int t = int(g % p.Tp), b = int(bh / p.H), h = int(bh % p.H);
  double ss = 0;
  if (t < p.T) {
    const float* x = qkv + (int64_t(b) * p.T + t) * 3 * p.C() + h * p.D;
    for (int d = 0; d < p.D; d++) ss += double(x[d]) * x[d];  // products exact in float64
  }
  ks[g] = float(1.0 / sqrt(ss / p.D + 1e-6) / sqrt(double(p.D)));
  if (p.standard) order[g] = undo[g] = t;  // S = Tp = T: slot = position
}

}  // namespace

int draw_rotations(float* rot, const Plan& p, const HashDraw& draw, uint32_t site) {
  const int64_t per = int64_t(p.D) * p.R * p.nb2(), n = p.BH() * ((per + 1) / 2);
  reformer_rot_kernel<<<unsigned(ceil_div(n, kThreads)), kThreads, 0, stream()>>>(rot, p, draw, site);
  return check_launch("reformer_rot_kernel");
}

int hash_buckets(uint32_t* keys, uint32_t* idx, int32_t* buckets, const float* qkv,
                 const int32_t* mask, const float* rot, const Plan& p) {
  const size_t smem = sizeof(float) * kTile * (p.D + 1);
  const dim3 grid(unsigned(ceil_div(p.Tp, kTile)), unsigned(p.BH()));
  reformer_hash_kernel<<<grid, kThreads, smem, stream()>>>(keys, idx, buckets, qkv, mask, rot, p);
  return check_launch("reformer_hash_kernel");
}

int key_scales(State st, const float* qkv, const Plan& p) {
  const int64_t n = p.BH() * p.Tp;
  reformer_scale_kernel<<<unsigned(ceil_div(n, kThreads)), kThreads, 0, stream()>>>(
      st.ks, st.order, st.undo, qkv, p);
  return check_launch("reformer_scale_kernel");
}

}  // namespace reformer
}  // namespace lshlab_cuda
