/*
 * bert_lsh_hash.cu: BERT-LSH's hash family draw and the bucket codes of every q and k row, on
 * the device, bit for bit as attention/bert_lsh_hash.cc (BertLshFamily::draw and ::bucket):
 *   planes (B,H,nh,bands,D): normal j of head (b, h) = the float Box-Muller of
 *       bert_lsh_normal8_scalar on the Philox block at word base + (j & ~3) (base = family << 20,
 *       family = (site << 32) | (b << 16) | h), words (j & 2, (j & 2) + 1), cos for even j, sin
 *       for odd j; polynomial log / sin / cos, every operation rounded as the CPU's (no FMA).
 *   coef (B,H,nh,bands): (philox_u32(base + 2^19 + k) * table_size) >> 32.
 *   codes (2,B,H,nh,T): (sum of coef[g][b] over bands b with plane_b . x > 0) mod table_size,
 *       the projection in float64 summed in the CPU's float-row order (project2 of
 *       bert_lsh_hash.cc: eight accumulators over d mod 8, ((a0 + a2) + (a4 + a6)) + ((a1 + a3) +
 *       (a5 + a7)), then the tail d = 8 floor(D/8) .. D-1 one by one). Every token is hashed
 *       (padding too, as the CPU); the mask applies where codes are used.
 * Planes kernel: one thread per Philox block (4 normals) or per coefficient. Hash kernel: one
 * block per (32 tokens, b h): the 32 q rows and 32 k rows in shared memory, one hash function's
 * bands x D planes at a time; thread = (row, band) projection, then thread = row sums its code.
 * The draw's seed and step: by value or from the step constants (hash_draw.cuh).
 */
#include "bert_lsh_common.cuh"
#include "core/philox.h"

namespace lshlab_cuda {
namespace blsh {
namespace {
using attn::kThreads;

constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f, kSqrtHalf = 0.707106781186547524f;
constexpr float kS0 = -1.9515295891E-4f, kS1 = 8.3321608736E-3f, kS2 = -1.6666654611E-1f;
constexpr float kC0 = 2.443315711809948E-5f, kC1 = -1.388731625493765E-3f, kC2 = 4.166664568298827E-2f;
constexpr float kTwoPi = 6.28318530717958647692f;

// normal_pair_scalar of bert_lsh_hash.cc, operation by operation.
__device__ __forceinline__ void normal_pair(uint32_t w0, uint32_t w1, float& z0, float& z1) {
  const float kL[9] = {7.0376836292E-2f, -1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f,
                       1.4249322787E-1f, -1.6668057665E-1f, 2.0000714765E-1f, -2.4999993993E-1f,
                       3.3333331174E-1f};
  const float u1 = fmul(float((w0 >> 8) + 1u), 1.0f / 16777216.0f);
  const float u2 = fmul(float(w1 >> 8), 1.0f / 16777216.0f);
  uint32_t bits = f2u(u1);
  int e = int((bits >> 23) & 0xff) - 126;
  bits = (bits & 0x007fffffu) | 0x3f000000u;
  float m = u2f(bits);
  const bool lo = m < kSqrtHalf;
  e -= lo ? 1 : 0;
  m = fsub(lo ? fadd(m, m) : m, 1.0f);
  const float fe = float(e), zz = fmul(m, m);
  float y = kL[0];
#pragma unroll
  for (int i = 1; i < 9; i++) y = fadd(fmul(y, m), kL[i]);
  y = fmul(fmul(y, m), zz);
  y = fadd(y, fmul(fe, kLn2Lo));
  y = fsub(y, fmul(0.5f, zz));
  const float lnu = fadd(fadd(m, y), fmul(fe, kLn2Hi));
  const float r = fsqrt(fmul(-2.0f, lnu));
  const int q = int(fadd(fmul(u2, 4.0f), 0.5f));
  const float a = fmul(fsub(u2, fmul(float(q), 0.25f)), kTwoPi), a2 = fmul(a, a);
  const float s = fadd(a, fmul(fmul(a, a2), fadd(fmul(fadd(fmul(kS0, a2), kS1), a2), kS2)));
  const float c = fadd(fsub(1.0f, fmul(0.5f, a2)),
                       fmul(fmul(a2, a2), fadd(fmul(fadd(fmul(kC0, a2), kC1), a2), kC2)));
  const int qq = q & 3;
  const float cs = qq == 0 ? c : qq == 1 ? -s : qq == 2 ? -c : s;
  const float sn = qq == 0 ? s : qq == 1 ? c : qq == 2 ? -s : -c;
  z0 = fmul(r, cs);
  z1 = fmul(r, sn);
}

// grid (ceil(items / 256), B*H); items = ceil(count / 4) Philox blocks, then nh*bands coefs.
__global__ void bert_lsh_planes_kernel(float* planes, int32_t* coef, attn::Shape s, Opt o,
                                       HashDraw draw, uint32_t site) {
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  const int64_t count = int64_t(o.nh) * o.bands * s.D, nblk = (count + 3) / 4;
  const int64_t item = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  const uint64_t base = ((uint64_t(site) << 32) | (uint64_t(b) << 16) | uint64_t(h)) << 20;
  const uint32_t stream = uint32_t(lshlab::Stream::Attention);
  const uint64_t seed = draw.seed_now();
  const uint32_t step = draw.step_now();
  if (item < nblk) {
    const uint64_t idx = base + uint64_t(4 * item);
    uint32_t w[4] = {uint32_t(idx >> 2), uint32_t(idx >> 34), stream, step};
    lshlab::Philox4x32::generate(w, seed);
    float z[4];
    normal_pair(w[0], w[1], z[0], z[1]);
    normal_pair(w[2], w[3], z[2], z[3]);
    float* out = planes + bh * count;
    for (int l = 0; l < 4 && 4 * item + l < count; l++) out[4 * item + l] = z[l];
  } else if (item < nblk + int64_t(o.nh) * o.bands) {
    const int64_t k = item - nblk;
    const uint32_t u = lshlab::philox_u32(seed, stream, step, base + (uint64_t(1) << 19) + uint64_t(k));
    coef[int64_t(bh) * o.nh * o.bands + k] = int32_t((uint64_t(u) * uint64_t(o.table)) >> 32);
  }
}

// grid (ceil(T / 32), B*H). Shared: X [64][D+1] (q rows, then k rows), P [bands][D], pos
// [bands][64] (projection > 0).
__global__ void __launch_bounds__(kThreads)
bert_lsh_hash_kernel(int32_t* codes, const float* qkv, const float* planes, const int32_t* coef,
                     attn::Shape s, Opt o) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, R = 2 * attn::kTile;
  float* X = smem;
  float* P = X + R * Dp;
  int* pos = reinterpret_cast<int*>(P + o.bands * D);
  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, t0 = blockIdx.x * attn::kTile;
  const int64_t ld = 3 * int64_t(s.C()), BHT = int64_t(s.B) * s.H * s.T;
  for (int idx = threadIdx.x; idx < R * D; idx += kThreads) {
    const int r = idx / D, d = idx % D, side = r / attn::kTile, t = t0 + r % attn::kTile;
    X[r * Dp + d] = t < s.T ? qkv[(int64_t(b) * s.T + t) * ld + side * s.C() + h * D + d] : 0.f;
  }
  for (int g = 0; g < o.nh; g++) {
    const float* pl = planes + (int64_t(bh) * o.nh + g) * o.bands * D;
    __syncthreads();  // the previous hash's P and pos are read
    for (int idx = threadIdx.x; idx < o.bands * D; idx += kThreads) P[idx] = pl[idx];
    __syncthreads();
    for (int idx = threadIdx.x; idx < R * o.bands; idx += kThreads) {
      const int r = idx % R, band = idx / R;
      const float* x = X + r * Dp;
      const float* p = P + band * D;
      double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int d = 0;
      for (; d + 7 < D; d += 8)
#pragma unroll
        for (int l = 0; l < 8; l++) a[l] = dadd(a[l], dmul(double(p[d + l]), double(x[d + l])));
      double acc = dadd(dadd(dadd(a[0], a[2]), dadd(a[4], a[6])), dadd(dadd(a[1], a[3]), dadd(a[5], a[7])));
      for (; d < D; d++) acc = dadd(acc, dmul(double(p[d]), double(x[d])));
      pos[band * R + r] = acc > 0.0;
    }
    __syncthreads();
    if (threadIdx.x < R) {
      const int r = threadIdx.x, side = r / attn::kTile, t = t0 + r % attn::kTile;
      const int32_t* cf = coef + (int64_t(bh) * o.nh + g) * o.bands;
      int64_t sum = 0;
      for (int band = 0; band < o.bands; band++)
        if (pos[band * R + r]) sum += cf[band];
      if (t < s.T) codes[side * BHT * o.nh + (int64_t(bh) * o.nh + g) * s.T + t] = int32_t(sum % o.table);
    }
  }
}

}  // namespace

int hash(int32_t* codes, float* planes, int32_t* coef, const float* qkv, const attn::Shape& s,
         const Opt& o, const HashDraw& draw, uint32_t site) {
  const int64_t items = (int64_t(o.nh) * o.bands * s.D + 3) / 4 + int64_t(o.nh) * o.bands;
  const dim3 pgrid(unsigned(ceil_div(items, kThreads)), unsigned(s.B * s.H));
  bert_lsh_planes_kernel<<<pgrid, kThreads, 0, stream()>>>(planes, coef, s, o, draw, site);
  if (int rc = check_launch("bert_lsh_planes_kernel")) return rc;
  const size_t smem = sizeof(float) * (2 * attn::kTile * (s.D + 1) + o.bands * s.D) +
                      sizeof(int) * 2 * attn::kTile * o.bands;
  if (int rc = opt_in_smem(bert_lsh_hash_kernel, smem, "bert_lsh_hash_kernel", s.D))
    return rc;
  const dim3 grid(unsigned(ceil_div(s.T, attn::kTile)), unsigned(s.B * s.H));
  bert_lsh_hash_kernel<<<grid, kThreads, smem, stream()>>>(codes, qkv, planes, coef, s, o);
  return check_launch("bert_lsh_hash_kernel");
}

}  // namespace blsh
}  // namespace lshlab_cuda
