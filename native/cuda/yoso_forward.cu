/*
 * yoso_forward.cu: YOSO (LSH) attention forward, as attention/yoso.cc with lsh = true:
 *   X_i = (1/m) sum_hash Table_hash[code_hash(q_i)],  Table[c] = sum of v_j over unpadded keys
 *   with code c;  ctx_i = X_i / max(|X_i|, 1e-12);  padded queries: X = 0, ctx = 0.
 * Shapes: qkv (B,T,3C); mask (B,T) or null; ctx (B,T,C); ynrm (B,H,T) = max(|X|, 1e-12) (the
 * backward's input); qcode, kcode (B,H,m,T); planes (B,H,m,tau,D); collisions (H) or null.
 * Pipeline per chunk of heads x hashes (yoso_plan.cuh): sort the key codes (yoso_sort.cu),
 * bucket sums of V over each run of equal codes (one warp per run, members in token order), then
 * one warp per query gathers its buckets (binary search in the sorted codes) hash by hash into
 * X, which lives in ctx between chunks. Then X / m and the normalisation. Every grid is flat
 * (any B*H and chunk); the row kernels are templates on the lanes' row width PL (4 for D <= 128,
 * 8 for D <= 256).
 * Why no atomics: a run's sum and a query's sum over hashes are each one warp's loop in a fixed
 * order, so ctx is bit-reproducible and its rounding follows the CPU's portable loops (scatter in
 * token order, gather hash by hash, then * (1/m)). Work O(m n (D + log n)), memory O(n) per hash.
 */
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {

// One warp per 32 sorted positions: for each position that starts a run of a real code, the sum
// of the run's value rows, written to the segment's table row (the code, or the start position).
// Block x = segment * pblocks + block of 256 positions.
template <int PL>
__global__ void __launch_bounds__(kThreads)
bucket_sums_kernel(float* table, Sorted sorted, Rows val, Shape s, Seg c, int64_t R, int dense) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n = s.T;
  const unsigned pblocks = unsigned((n + kThreads - 1) / kThreads);
  const int64_t seg = blockIdx.x / pblocks;
  const int bh = c.bh0 + int(seg / c.mc), b = bh / s.H, h = bh % s.H;
  const int p0 = (int(blockIdx.x % pblocks) * kWarps + warp) * 32, p = p0 + lane;
  const uint32_t* keys = sorted.keys + sorted_at(seg, n, 0);
  const uint32_t* idx = sorted.idx + sorted_at(seg, n, 0);
  const uint32_t real = 1u << s.tau;
  const bool start = p < n && keys[p] < real && (p == 0 || keys[p - 1] != keys[p]);
  const unsigned starts = __ballot_sync(0xffffffffu, start);
  for (int bit = 0; bit < 32; bit++) {
    if (!((starts >> bit) & 1u)) continue;
    const int q = p0 + bit;
    const uint32_t code = keys[q];
    float acc[PL];
#pragma unroll
    for (int k = 0; k < PL; k++) acc[k] = 0.f;
    for (int r = q; r < n && keys[r] == code; r++) {
      const float* v = val.row(b, h, int(idx[r]));
#pragma unroll
      for (int k = 0; k < PL; k++)
        if (lane + 32 * k < s.D) acc[k] += v[lane + 32 * k];
    }
    float* out = table + table_at(seg, R, dense ? int64_t(code) : int64_t(q), s.D);
#pragma unroll
    for (int k = 0; k < PL; k++)
      if (lane + 32 * k < s.D) out[lane + 32 * k] = acc[k];
  }
}

// One warp per (b, h, row i) of the chunk's heads: out_i = (h0 ? out_i : 0) + sum over the
// chunk's hashes of the table row of code_i (nothing for padded rows or codes no unpadded key
// has). Block x = chunk head * iblocks + block of 8 rows.
template <int PL>
__global__ void __launch_bounds__(kThreads)
bucket_gather_kernel(Rows out, int64_t* counts, const int32_t* codes, const int32_t* mask,
                     const float* table, Sorted sorted, Shape s, Seg c, int64_t R, int dense) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n = s.T;
  const unsigned iblocks = unsigned((n + kWarps - 1) / kWarps);
  const int i = int(blockIdx.x % iblocks) * kWarps + warp;
  const int bl = int(blockIdx.x / iblocks), bh = c.bh0 + bl;
  if (i >= n) return;
  const int b = bh / s.H, h = bh % s.H;
  float* o = out.row(b, h, i);
  float acc[PL];
#pragma unroll
  for (int k = 0; k < PL; k++)
    acc[k] = c.h0 > 0 && lane + 32 * k < s.D ? o[lane + 32 * k] : 0.f;
  int64_t cnt = 0;
  if (token(mask, s, b, i)) {
    for (int u = 0; u < c.mc; u++) {
      const uint32_t code = uint32_t(codes[code_at(bh, s.m, c.h0 + u, n, i)]);
      const int64_t seg = int64_t(bl) * c.mc + u;
      const uint32_t* keys = sorted.keys + sorted_at(seg, n, 0);
      const int p = lower_bound(keys, n, code);
      if (p == n || keys[p] != code) continue;
      const float* t = table + table_at(seg, R, dense ? int64_t(code) : int64_t(p), s.D);
#pragma unroll
      for (int k = 0; k < PL; k++)
        if (lane + 32 * k < s.D) acc[k] += t[lane + 32 * k];
      if (counts) cnt += lower_bound(keys, n, code + 1) - p;
    }
  }
#pragma unroll
  for (int k = 0; k < PL; k++)
    if (lane + 32 * k < s.D) o[lane + 32 * k] = acc[k];
  if (counts && lane == 0) {
    const int64_t e = int64_t(bh) * n + i;
    counts[e] = (c.h0 > 0 ? counts[e] : 0) + cnt;
  }
}

// One warp per (b, t, h): X *= 1/m, ynrm = max(|X|, eps) (float64 sum), ctx = X * (1 / ynrm).
template <int PL>
__global__ void __launch_bounds__(kThreads)
yoso_normalize_kernel(float* ctx, float* ynrm, Shape s) {
  const int64_t g = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (g >= s.BH() * s.T) return;
  const int h = int(g % s.H);
  const int64_t bt = g / s.H, b = bt / s.T, t = bt % s.T;
  float* x = ctx + bt * s.C() + h * s.D;
  const float inv_m = float(1.0 / s.m);
  float r[PL];
  double ss = 0;
#pragma unroll
  for (int k = 0; k < PL; k++) {
    r[k] = lane + 32 * k < s.D ? x[lane + 32 * k] * inv_m : 0.f;
    ss += double(r[k]) * r[k];
  }
  ss = warp_sum_d(ss);
  const double nv = fmax(sqrt(ss), kEps);
  if (lane == 0) ynrm[(b * s.H + h) * s.T + t] = float(nv);
  const float inv = float(1.0 / nv);
#pragma unroll
  for (int k = 0; k < PL; k++)
    if (lane + 32 * k < s.D) x[lane + 32 * k] = r[k] * inv;
}

// One block per head: collisions[h] = sum over b, t of counts (integers: order-free, exact).
__global__ void __launch_bounds__(kThreads)
yoso_collisions_kernel(double* collisions, const int64_t* counts, Shape s) {
  __shared__ long long part[kThreads];
  const int h = blockIdx.x;
  long long sum = 0;
  for (int64_t e = threadIdx.x; e < int64_t(s.B) * s.T; e += kThreads)
    sum += counts[((e / s.T) * s.H + h) * s.T + e % s.T];
  part[threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    long long total = 0;
    for (int t = 0; t < kThreads; t++) total += part[t];
    collisions[h] = double(total);
  }
}

}  // namespace

int bucket_sums(float* table, const Sorted& sorted, Rows val, const Shape& s, const Plan& p,
                const Seg& c) {
  unsigned grid = 0;
  if (int rc = grid_of(&grid, sums_blocks(s, c.S()), "bucket_sums_kernel")) return rc;
  return with_lanes(s.D, [&](auto pl) {
    auto* k = &bucket_sums_kernel<decltype(pl)::value>;
    k<<<grid, kThreads, 0, stream()>>>(table, sorted, val, s, c, p.R, p.dense);
    return check_launch("bucket_sums_kernel");
  });
}

int bucket_gather(Rows out, int64_t* counts, const int32_t* codes, const int32_t* mask,
                  const float* table, const Sorted& sorted, const Shape& s, const Plan& p,
                  const Seg& c) {
  unsigned grid = 0;
  if (int rc = grid_of(&grid, gather_blocks(s, c.nb), "bucket_gather_kernel")) return rc;
  return with_lanes(s.D, [&](auto pl) {
    auto* k = &bucket_gather_kernel<decltype(pl)::value>;
    k<<<grid, kThreads, 0, stream()>>>(out, counts, codes, mask, table, sorted, s, c, p.R,
                                       p.dense);
    return check_launch("bucket_gather_kernel");
  });
}

int yoso_check(const char* what, const Shape& s) {
  if (s.D <= 0 || s.D > kMaxHeadD) return fail(1, what, "head size D must be in 1..256");
  if (s.tau < 1 || s.tau > 30) return fail(1, what, "tau must be in 1..30");
  if (s.m < 1 || s.m > 1024) return fail(1, what, "num_hash must be in 1..1024");
  if (s.B >= 4096 || s.H >= 256 || int64_t(s.tau) * s.D > (int64_t(1) << 20))
    return fail(1, what, "shape too large for the hash-plane stream (B < 4096, H < 256, "
                         "tau*D <= 2^20)");
  if (max_blocks(s, make_plan(s)) > kMaxGrid)
    return fail(1, what, "shape too large: a launch would need more than 2^31 - 1 blocks");
  return 0;
}

}  // namespace yoso

using namespace yoso;

int yoso_workspace_size(size_t* bytes, int B, int T, int H, int D, int tau, int num_hash) {
  clear_error();
  *bytes = 0;
  const Shape s{B, T, H, D, num_hash, tau};
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = yoso_check("yoso_workspace_size", s)) return rc;
  *bytes = make_plan(s).total;
  return 0;
}

int yoso_forward(float* ctx, float* ynrm, int32_t* qcode, int32_t* kcode, float* planes,
                 double* collisions, void* workspace, const float* qkv, const int32_t* mask,
                 int B, int T, int H, int D, int tau, int num_hash, uint64_t seed, uint32_t step,
                 uint32_t site) {
  clear_error();
  void* mark = take_stage_mark();
  const Shape s{B, T, H, D, num_hash, tau};
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = yoso_check("yoso_forward", s)) return rc;
  if (site >= 4096) return fail(1, "yoso_forward", "site must be < 4096 (hash-plane stream)");
  const Plan p = make_plan(s);
  if (int rc = draw_planes(planes, s, make_hash_draw(seed, step), site)) return rc;
  if (int rc = hash_codes(qcode, kcode, qkv, planes, s)) return rc;
  if (int rc = record_stage_mark(mark)) return rc;  // the codes are ready; sorting is per chunk below
  int64_t* counts = collisions ? static_cast<int64_t*>(workspace) : nullptr;
  const Chunk w = carve(workspace, p);
  const int BH = int(s.BH());
  for (int bh0 = 0; bh0 < BH; bh0 += p.nb)
    for (int h0 = 0; h0 < s.m; h0 += p.mc) {
      const Seg c{bh0, BH - bh0 < p.nb ? BH - bh0 : p.nb, h0, s.m - h0 < p.mc ? s.m - h0 : p.mc};
      Sorted keys;
      if (int rc = sort_codes(&keys, kcode, mask, s, c, w.keys[0], w.idx[0], w.keys[1],
                              w.idx[1], w.counts))
        return rc;
      if (int rc = bucket_sums(w.table, keys, qkv_rows(qkv, s, 2), s, p, c)) return rc;
      if (int rc = bucket_gather(ctx_rows(ctx, s), counts, qcode, mask, w.table, keys, s, p, c))
        return rc;
    }
  unsigned grid = 0;
  if (int rc = grid_of(&grid, row_blocks(s, s.BH()), "yoso_normalize_kernel")) return rc;
  if (int rc = with_lanes(D, [&](auto pl) {
        auto* k = &yoso_normalize_kernel<decltype(pl)::value>;
        k<<<grid, kThreads, 0, stream()>>>(ctx, ynrm, s);
        return check_launch("yoso_normalize_kernel");
      }))
    return rc;
  if (!collisions) return 0;
  yoso_collisions_kernel<<<unsigned(H), kThreads, 0, stream()>>>(collisions, counts, s);
  return check_launch("yoso_collisions_kernel");
}

}  // namespace lshlab_cuda
