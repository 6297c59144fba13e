/*
 * yoso_backward.cu: YOSO (LSH) attention backward, as attention/yoso.cc with lsh = true:
 *   g   = d/dX of ctx = X / |X| (0 on padded queries)
 *   dV_j  = (1/m) sum_hash sum_{i collides with j} g_i          (the cumulation, roles swapped)
 *   dQn_i = sum_hash sum_{j collides} w_ij (g_i . v_j) kn_j,  dKn_j symmetric with qn_i
 *           w = (tau/2)/m (surrogate), or s f'(s x)/f(x)/m with x = qn_i . kn_j, s = 0.98 (exact)
 *   dq, dk = dQn, dKn through the input normalisations (as yoso.cc's l2_rows_backward).
 * Shapes: dqkv, qkv (B,T,3C); dctx, ctx (B,T,C); ynrm (B,H,T) and qcode, kcode (B,H,m,T) from
 * the forward; mask (B,T) or null. dqkv is overwritten entirely (padded tokens get 0).
 * Per chunk of hashes: sort the key codes and the query codes (yoso_sort.cu); dV from bucket sums
 * of g over the sorted queries gathered by key code (yoso_forward.cu's kernels); dQn (dKn) with
 * one warp per query (key) walking the colliding keys (queries) of each hash: the pair loop of
 * the CPU's portable path. Every sum is one warp's loop in a fixed order (no atomics), so dqkv
 * is bit-reproducible; the partial sums live in dqkv between chunks.
 * Big buckets (surrogate only, the CPU's rule 3 nq nk > 4 (nq + nk) D: long sequences with small
 * tau) take the CPU's D x D route instead of their pairs: Mt = sum over the bucket's keys of
 * kn v^T (queries: qn g^T), one block per bucket, then dQn_i += w Mt g_i, so the cost is
 * O(n m D^2) however the codes fall. Mt lives in slot (run start / L) of its segment (two big
 * runs start more than 4D/3 apart), so no scan or count is needed to place it.
 */
#include <cmath>

#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {

// f(s x) and s f'(s x) of attention/yoso_lsh.cc, in float64.
__device__ double kernel_f(double x, int tau, double sc) {
  x = sc * fmin(1.0, fmax(-1.0, x));
  return pow(1.0 - acos(x) / M_PI, double(tau));
}
__device__ double kernel_grad(double x, int tau, double sc) {
  x = sc * fmin(1.0, fmax(-1.0, x));
  const double r = 1.0 - x * x;
  if (r <= 0) return 0;
  return sc * tau * pow(1.0 - acos(x) / M_PI, double(tau - 1)) / (M_PI * sqrt(r));
}

// A bucket is big when 3 n_self n_partner > 4 (n_self + n_partner) D (the CPU's rule): then
// the pairs cost more than two D x D matrices.
__device__ __forceinline__ bool big_bucket(int n_self, int n_partner, int D) {
  return 3.0 * n_self * n_partner > 4.0 * (double(n_self) + n_partner) * D;
}

// Members of the run of code c in one segment's sorted keys: [*lo, return value).
__device__ __forceinline__ int run_of(const uint32_t* keys, int n, uint32_t c, int* lo) {
  *lo = lower_bound(keys, n, c);
  return lower_bound(keys + *lo, n - *lo, c + 1) + *lo;
}

// Block per (matrix slot, segment) of the partner side: if a big run starts in the slot's
// positions [slot L, slot L + L) (at most one can), Mt[e][d] = sum over its members of
// pu[d] p[e] (the CPU's A = sum k v^T or Bm = sum q g^T, stored transposed so that a warp's
// lanes read a row of it), members in token order. Thread t owns elements t + 256 r.
__global__ void __launch_bounds__(kThreads)
bucket_matrix_kernel(float* mats, Sorted partner, Sorted self, Rows p_rows, Rows pu_rows,
                     Shape s, int mc, int L, int64_t nslot) {
  constexpr int kMat = kMaxD * kMaxD / kThreads;
  __shared__ float P[32][kMaxD], PU[32][kMaxD];
  __shared__ int found, found_n;
  const int n = s.T, D = s.D, slot = blockIdx.x;
  const int64_t seg = blockIdx.y, bh = seg / mc;
  const int b = int(bh / s.H), h = int(bh % s.H);
  const uint32_t* keys = partner.keys + seg * n;
  const uint32_t* idx = partner.idx + seg * n;
  if (threadIdx.x == 0) found = -1;
  __syncthreads();
  const int p = slot * L + int(threadIdx.x);
  const bool start = int(threadIdx.x) < L && p < n && keys[p] < (1u << s.tau) &&
                     (p == 0 || keys[p - 1] != keys[p]);
  if (start) {
    int lo, ls;
    const int end = run_of(keys, n, keys[p], &lo);
    const int nself = run_of(self.keys + seg * n, n, keys[p], &ls) - ls;
    if (big_bucket(nself, end - p, D)) { found = p; found_n = end - p; }
  }
  __syncthreads();
  if (found < 0) return;
  float acc[kMat];
#pragma unroll
  for (int r = 0; r < kMat; r++) acc[r] = 0.f;
  for (int m0 = 0; m0 < found_n; m0 += 32) {
    __syncthreads();
    for (int i = threadIdx.x; i < 32 * D; i += kThreads) {
      const int m = i / D, d = i % D;
      const bool in = m0 + m < found_n;
      const int j = in ? int(idx[found + m0 + m]) : 0;
      P[m][d] = in ? p_rows.row(b, h, j)[d] : 0.f;
      PU[m][d] = in ? pu_rows.row(b, h, j)[d] : 0.f;
    }
    __syncthreads();
    const int count = found_n - m0 < 32 ? found_n - m0 : 32;
#pragma unroll
    for (int r = 0; r < kMat; r++) {
      const int el = int(threadIdx.x) + kThreads * r, e = el / D, d = el % D;
      if (e < D)
        for (int m = 0; m < count; m++) acc[r] += PU[m][d] * P[m][e];
    }
  }
  float* out = mats + (seg * nslot + slot) * D * D;
#pragma unroll
  for (int r = 0; r < kMat; r++)
    if (int(threadIdx.x) + kThreads * r < D * D) out[threadIdx.x + kThreads * r] = acc[r];
}

// One warp per (b, h, row i) of the "self" side: out_i (+)= sum over the chunk's hashes of
// sum_{partner j in i's bucket} w_ij (a_i . p_j) pu_j, hash by hash (dQn: self = queries,
// a = g, partner = keys, p = v, pu = kn; dKn: self = keys, a = v, p = g, pu = qn); a big
// bucket (surrogate only) takes w Mt^T a from bucket_matrix_kernel instead of its pairs.
__global__ void __launch_bounds__(kThreads)
yoso_pairs_kernel(Rows out, Rows a_rows, Rows su_rows, Rows p_rows, Rows pu_rows,
                  const int32_t* codes, const int32_t* mask, Sorted partner, Sorted self,
                  const float* mats, Shape s, int mc, int h0, int exact, int L, int64_t nslot) {
  __shared__ float arow[kWarps][kMaxD];  // a_i, for the matrix products
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n = s.T, D = s.D;
  const int i = blockIdx.x * kWarps + warp;
  const int64_t bh = blockIdx.y;
  if (i >= n) return;
  const int b = int(bh / s.H), h = int(bh % s.H);
  float* o = out.row(b, h, i);
  float acc[kPerLane], a[kPerLane], su[kPerLane];
#pragma unroll
  for (int k = 0; k < kPerLane; k++) acc[k] = h0 > 0 && lane + 32 * k < D ? o[lane + 32 * k] : 0.f;
  if (token(mask, s, b, i)) {
    load_row(a, a_rows.row(b, h, i), D, lane);
    load_row(su, su_rows.row(b, h, i), D, lane);
#pragma unroll
    for (int k = 0; k < kPerLane; k++) arow[warp][lane + 32 * k] = a[k];
    __syncwarp();
    const float w0 = float(0.5 * s.tau / s.m);
    for (int u = 0; u < mc; u++) {
      const uint32_t c = uint32_t(codes[(bh * s.m + h0 + u) * n + i]);
      const int64_t seg = bh * mc + u;
      const uint32_t* keys = partner.keys + seg * n;
      const uint32_t* idx = partner.idx + seg * n;
      float t[kPerLane];
#pragma unroll
      for (int k = 0; k < kPerLane; k++) t[k] = 0.f;
      int lo, ls;
      const int hi = run_of(keys, n, c, &lo);
      if (!exact && hi > lo &&
          big_bucket(run_of(self.keys + seg * n, n, c, &ls) - ls, hi - lo, D)) {
        const float* Mt = mats + (seg * nslot + lo / L) * D * D;  // t = w0 Mt^T a
        for (int e = 0; e < D; e++) {
          const float ae = arow[warp][e];
#pragma unroll
          for (int k = 0; k < kPerLane; k++)
            if (lane + 32 * k < D) t[k] += Mt[e * D + lane + 32 * k] * ae;
        }
#pragma unroll
        for (int k = 0; k < kPerLane; k++) acc[k] += w0 * t[k];
        continue;
      }
      for (int r = lo; r < hi; r++) {
        const int j = int(idx[r]);
        float pv[kPerLane], pu[kPerLane];
        load_row(pv, p_rows.row(b, h, j), D, lane);
        load_row(pu, pu_rows.row(b, h, j), D, lane);
        float dot = 0.f, x = 0.f;
#pragma unroll
        for (int k = 0; k < kPerLane; k++) {
          dot += a[k] * pv[k];
          x += su[k] * pu[k];
        }
        dot = warp_sum(dot);
        float w = w0;
        if (exact) {  // importance weight: E[w 1{collide}] = s f'(s x)
          const double xd = double(warp_sum(x)), f = kernel_f(xd, s.tau, 1.0);
          w = f > 1e-300 ? float(kernel_grad(xd, s.tau, 0.98) / f / s.m) : 0.f;
        }
        const float cf = w * dot;
#pragma unroll
        for (int k = 0; k < kPerLane; k++) t[k] += cf * pu[k];
      }
#pragma unroll
      for (int k = 0; k < kPerLane; k++) acc[k] += t[k];
    }
  }
#pragma unroll
  for (int k = 0; k < kPerLane; k++)
    if (lane + 32 * k < D) o[lane + 32 * k] = acc[k];
}

}  // namespace
}  // namespace yoso

using namespace yoso;

int yoso_backward(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                  const float* ctx, const float* ynrm, const int32_t* qcode, const int32_t* kcode,
                  const int32_t* mask, int B, int T, int H, int D, int tau, int num_hash,
                  int exact) {
  clear_error();
  const Shape s{B, T, H, D, num_hash, tau};
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  if (int rc = yoso_check("yoso_backward", s)) return rc;
  const Plan p = make_plan(s);
  const int64_t rows = s.BH() * T, hd = rows * D;
  float* qn = static_cast<float*>(workspace);
  float *kn = qn + hd, *g = kn + hd, *qnrm = g + hd, *knrm = qnrm + rows;
  if (int rc = prep_rows(qn, kn, g, qnrm, knrm, qkv, dctx, ctx, ynrm, mask, s)) return rc;
  const Chunk w = carve(workspace, p);
  const Rows dq = qkv_rows(dqkv, s, 0), dk = qkv_rows(dqkv, s, 1), dv = qkv_rows(dqkv, s, 2);
  const Rows v = qkv_rows(qkv, s, 2), G = head_rows(g, s), Qn = head_rows(qn, s),
             Kn = head_rows(kn, s);
  const dim3 grid(unsigned(ceil_div(T, kWarps)), unsigned(s.BH()));
  for (int h0 = 0; h0 < s.m; h0 += p.mc) {
    const int mc = s.m - h0 < p.mc ? s.m - h0 : p.mc;
    Sorted keys, queries;
    if (int rc = sort_codes(&keys, kcode, mask, s, p, h0, w.keys[0], w.idx[0], w.keys[1],
                            w.idx[1], w.counts))
      return rc;
    if (int rc = sort_codes(&queries, qcode, mask, s, p, h0, w.keys[2], w.idx[2], w.keys[3],
                            w.idx[3], w.counts))
      return rc;
    if (int rc = bucket_sums(w.table, queries, G, s, p, h0)) return rc;
    if (int rc = bucket_gather(dv, nullptr, kcode, mask, w.table, queries, s, p, h0)) return rc;
    if (!exact) {  // big buckets' matrices: sum kn v^T over keys, sum qn g^T over queries
      const dim3 mgrid(unsigned(p.nslot), unsigned(s.BH() * mc));
      bucket_matrix_kernel<<<mgrid, kThreads, 0, stream()>>>(w.mats[0], keys, queries, v, Kn, s,
                                                             mc, p.L, p.nslot);
      if (int rc = check_launch("bucket_matrix_kernel(keys)")) return rc;
      bucket_matrix_kernel<<<mgrid, kThreads, 0, stream()>>>(w.mats[1], queries, keys, G, Qn, s,
                                                             mc, p.L, p.nslot);
      if (int rc = check_launch("bucket_matrix_kernel(queries)")) return rc;
    }
    yoso_pairs_kernel<<<grid, kThreads, 0, stream()>>>(dq, G, Qn, v, Kn, qcode, mask, keys,
                                                       queries, w.mats[0], s, mc, h0, exact, p.L,
                                                       p.nslot);
    if (int rc = check_launch("yoso_pairs_kernel(dq)")) return rc;
    yoso_pairs_kernel<<<grid, kThreads, 0, stream()>>>(dk, v, Kn, G, Qn, kcode, mask, queries,
                                                       keys, w.mats[1], s, mc, h0, exact, p.L,
                                                       p.nslot);
    if (int rc = check_launch("yoso_pairs_kernel(dk)")) return rc;
  }
  return finish_rows(dqkv, qn, kn, qnrm, knrm, s, float(1.0 / s.m));
}

}  // namespace lshlab_cuda
