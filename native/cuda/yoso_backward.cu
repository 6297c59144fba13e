/*
 * yoso_backward.cu: YOSO (LSH) attention backward, as attention/yoso.cc with lsh = true:
 *   g   = d/dX of ctx = X / |X| (0 on padded queries)
 *   dV_j  = (1/m) sum_hash sum_{i collides with j} g_i          (the cumulation, roles swapped)
 *   dQn_i = sum_hash sum_{j collides} w_ij (g_i . v_j) kn_j,  dKn_j symmetric with qn_i
 *           w = (tau/2)/m (surrogate), or s f'(s x)/f(x)/m with x = qn_i . kn_j, s = 0.98 (exact)
 *   dq, dk = dQn, dKn through the input normalisations (as yoso.cc's l2_rows_backward).
 * Shapes: dqkv, qkv (B,T,3C); dctx, ctx (B,T,C); ynrm (B,H,T) and qcode, kcode (B,H,m,T) from
 * the forward; mask (B,T) or null. dqkv is overwritten entirely (padded tokens get 0).
 * Per chunk of heads (yoso_plan.cuh): the unit rows qn, kn and g of those heads (yoso_rows.cu),
 * then per chunk of hashes: sort the key codes and the query codes (yoso_sort.cu); dV from
 * bucket sums of g over the sorted queries gathered by key code (yoso_forward.cu's kernels); dQn
 * (dKn) with one warp per query (key) walking the colliding keys (queries) of each hash: the
 * pair loop of the CPU's portable path; then the heads' dq, dk through the input normalisations.
 * Every sum is one warp's loop in a fixed order (no atomics), so dqkv is bit-reproducible; the
 * partial sums live in dqkv between chunks of hashes.
 * Big buckets (surrogate only, the CPU's rule 3 nq nk > 4 (nq + nk) D: long sequences with small
 * tau) take the CPU's D x D route instead of their pairs: Mt = sum over the bucket's keys of
 * kn v^T (queries: qn g^T), one block per bucket and 128 (D <= 128: all) or 64 rows of Mt, then
 * dQn_i += w Mt g_i, so the cost is O(n m D^2) however the codes fall. Mt lives in slot (run
 * start / L) of its segment (two big runs start more than 4D/3 apart), so no scan or count is
 * needed to place it. Row kernels are templates on the lanes' row width (4 for D <= 128, 8 for
 * D <= 256); every grid is flat.
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

// Block per (segment, matrix slot, part) of the partner side: if a big run starts in the slot's
// positions [slot L, slot L + L) (at most one can), rows [e0, e0 + E) of Mt, Mt[e][d] = sum over
// its members of pu[d] p[e] (the CPU's A = sum k v^T or Bm = sum q g^T, stored transposed so
// that a warp's lanes read a row of it), members in token order. E = MD (all rows) for
// D <= 128, 64 above (kMat = E MD / 256 = 64 accumulators either way). Thread t owns elements
// t + 256 r of the block's E x D.
template <int MD, int E>
__global__ void __launch_bounds__(kThreads)
bucket_matrix_kernel(float* mats, Sorted partner, Sorted self, Rows p_rows, Rows pu_rows,
                     Shape s, Seg c, int L, int64_t nslot) {
  constexpr int kMat = E * MD / kThreads;
  __shared__ float P[32][E], PU[32][MD];
  __shared__ int found, found_n;
  const int n = s.T, D = s.D;
  const unsigned parts = unsigned((D + E - 1) / E);
  const int e0 = int(blockIdx.x % parts) * E;
  const int64_t sl = blockIdx.x / parts, seg = sl / nslot;
  const int slot = int(sl % nslot), bh = c.bh0 + int(seg / c.mc), b = bh / s.H, h = bh % s.H;
  const uint32_t* keys = partner.keys + sorted_at(seg, n, 0);
  const uint32_t* idx = partner.idx + sorted_at(seg, n, 0);
  if (threadIdx.x == 0) found = -1;
  __syncthreads();
  for (int q = threadIdx.x; q < L; q += kThreads) {  // L > 256 for D > 191
    const int p = slot * L + q;
    const bool start = p < n && keys[p] < (1u << s.tau) && (p == 0 || keys[p - 1] != keys[p]);
    if (start) {
      int lo, ls;
      const int end = run_of(keys, n, keys[p], &lo);
      const int nself = run_of(self.keys + sorted_at(seg, n, 0), n, keys[p], &ls) - ls;
      if (big_bucket(nself, end - p, D)) { found = p; found_n = end - p; }
    }
  }
  __syncthreads();
  if (found < 0) return;
  const int ne = D - e0 < E ? D - e0 : E;  // rows of Mt in this block
  float acc[kMat];
#pragma unroll
  for (int r = 0; r < kMat; r++) acc[r] = 0.f;
  for (int m0 = 0; m0 < found_n; m0 += 32) {
    __syncthreads();
    for (int i = threadIdx.x; i < 32 * D; i += kThreads) {
      const int m = i / D, d = i % D;
      const bool in = m0 + m < found_n;
      const int j = in ? int(idx[found + m0 + m]) : 0;
      if (d < ne) P[m][d] = in ? p_rows.row(b, h, j)[e0 + d] : 0.f;
      PU[m][d] = in ? pu_rows.row(b, h, j)[d] : 0.f;
    }
    __syncthreads();
    const int count = found_n - m0 < 32 ? found_n - m0 : 32;
#pragma unroll
    for (int r = 0; r < kMat; r++) {
      const int el = int(threadIdx.x) + kThreads * r, e = el / D, d = el % D;
      if (e < ne)
        for (int m = 0; m < count; m++) acc[r] += PU[m][d] * P[m][e];
    }
  }
  float* out = mats + matrix_at(seg, nslot, slot, D) + int64_t(e0) * D;
#pragma unroll
  for (int r = 0; r < kMat; r++)
    if (int(threadIdx.x) + kThreads * r < ne * D) out[threadIdx.x + kThreads * r] = acc[r];
}

// One warp per (b, h, row i) of the "self" side of the chunk's heads: out_i (+)= sum over the
// chunk's hashes of sum_{partner j in i's bucket} w_ij (a_i . p_j) pu_j, hash by hash (dQn:
// self = queries, a = g, partner = keys, p = v, pu = kn; dKn: self = keys, a = v, p = g,
// pu = qn); a big bucket (surrogate only) takes w Mt^T a from bucket_matrix_kernel instead of
// its pairs. Block x = chunk head * iblocks + block of 8 rows.
template <int PL>
__global__ void __launch_bounds__(kThreads)
yoso_pairs_kernel(Rows out, Rows a_rows, Rows su_rows, Rows p_rows, Rows pu_rows,
                  const int32_t* codes, const int32_t* mask, Sorted partner, Sorted self,
                  const float* mats, Shape s, Seg c, int exact, int L, int64_t nslot) {
  __shared__ float arow[kWarps][32 * PL];  // a_i, for the matrix products
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n = s.T, D = s.D;
  const unsigned iblocks = unsigned((n + kWarps - 1) / kWarps);
  const int i = int(blockIdx.x % iblocks) * kWarps + warp;
  const int bl = int(blockIdx.x / iblocks), bh = c.bh0 + bl;
  if (i >= n) return;
  const int b = bh / s.H, h = bh % s.H;
  float* o = out.row(b, h, i);
  float acc[PL], a[PL], su[PL];
#pragma unroll
  for (int k = 0; k < PL; k++) acc[k] = c.h0 > 0 && lane + 32 * k < D ? o[lane + 32 * k] : 0.f;
  if (token(mask, s, b, i)) {
    load_row(a, a_rows.row(b, h, i), D, lane);
    load_row(su, su_rows.row(b, h, i), D, lane);
#pragma unroll
    for (int k = 0; k < PL; k++) arow[warp][lane + 32 * k] = a[k];
    __syncwarp();
    const float w0 = float(0.5 * s.tau / s.m);
    for (int u = 0; u < c.mc; u++) {
      const uint32_t code = uint32_t(codes[code_at(bh, s.m, c.h0 + u, n, i)]);
      const int64_t seg = int64_t(bl) * c.mc + u;
      const uint32_t* keys = partner.keys + sorted_at(seg, n, 0);
      const uint32_t* idx = partner.idx + sorted_at(seg, n, 0);
      float t[PL];
#pragma unroll
      for (int k = 0; k < PL; k++) t[k] = 0.f;
      int lo, ls;
      const int hi = run_of(keys, n, code, &lo);
      if (!exact && hi > lo &&
          big_bucket(run_of(self.keys + sorted_at(seg, n, 0), n, code, &ls) - ls, hi - lo, D)) {
        const float* Mt = mats + matrix_at(seg, nslot, lo / L, D);  // t = w0 Mt^T a
        for (int e = 0; e < D; e++) {
          const float ae = arow[warp][e];
#pragma unroll
          for (int k = 0; k < PL; k++)
            if (lane + 32 * k < D) t[k] += Mt[e * D + lane + 32 * k] * ae;
        }
#pragma unroll
        for (int k = 0; k < PL; k++) acc[k] += w0 * t[k];
        continue;
      }
      for (int r = lo; r < hi; r++) {
        const int j = int(idx[r]);
        float pv[PL], pu[PL];
        load_row(pv, p_rows.row(b, h, j), D, lane);
        load_row(pu, pu_rows.row(b, h, j), D, lane);
        float dot = 0.f, x = 0.f;
#pragma unroll
        for (int k = 0; k < PL; k++) {
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
        for (int k = 0; k < PL; k++) t[k] += cf * pu[k];
      }
#pragma unroll
      for (int k = 0; k < PL; k++) acc[k] += t[k];
    }
  }
#pragma unroll
  for (int k = 0; k < PL; k++)
    if (lane + 32 * k < D) o[lane + 32 * k] = acc[k];
}

// dQn, dKn (and the matrices) of one chunk of heads x hashes, into dqkv's q and k parts.
template <int PL>
int pairs_chunk(const Rows& dq, const Rows& dk, const Rows& v, const Rows& G, const Rows& Qn,
                const Rows& Kn, const int32_t* qcode, const int32_t* kcode, const int32_t* mask,
                const Sorted& keys, const Sorted& queries, const Chunk& w, const Shape& s,
                const Plan& p, const Seg& c, int exact) {
  unsigned grid = 0;
  if (!exact) {  // big buckets' matrices: sum kn v^T over keys, sum qn g^T over queries
    if (int rc = grid_of(&grid, matrix_blocks(s, p, c.S()), "bucket_matrix_kernel")) return rc;
    auto* mk = PL == kPerLane ? &bucket_matrix_kernel<kMaxD, kMaxD>
                              : &bucket_matrix_kernel<kMaxHeadD, 64>;
    mk<<<grid, kThreads, 0, stream()>>>(w.mats[0], keys, queries, v, Kn, s, c, p.L, p.nslot);
    if (int rc = check_launch("bucket_matrix_kernel(keys)")) return rc;
    mk<<<grid, kThreads, 0, stream()>>>(w.mats[1], queries, keys, G, Qn, s, c, p.L, p.nslot);
    if (int rc = check_launch("bucket_matrix_kernel(queries)")) return rc;
  }
  if (int rc = grid_of(&grid, gather_blocks(s, c.nb), "yoso_pairs_kernel")) return rc;
  auto* pk = &yoso_pairs_kernel<PL>;
  pk<<<grid, kThreads, 0, stream()>>>(dq, G, Qn, v, Kn, qcode, mask, keys, queries, w.mats[0], s,
                                      c, exact, p.L, p.nslot);
  if (int rc = check_launch("yoso_pairs_kernel(dq)")) return rc;
  pk<<<grid, kThreads, 0, stream()>>>(dk, v, Kn, G, Qn, kcode, mask, queries, keys, w.mats[1], s,
                                      c, exact, p.L, p.nslot);
  return check_launch("yoso_pairs_kernel(dk)");
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
  // The chunk's unit rows: qn, kn, g (nb,T,D) and the norms (nb,T), in the plan's fixed part.
  const int64_t rows = int64_t(p.nb) * T, hd = rows * D;
  float* qn = static_cast<float*>(workspace);
  float *kn = qn + hd, *g = kn + hd, *qnrm = g + hd, *knrm = qnrm + rows;
  const Chunk w = carve(workspace, p);
  const Rows dq = qkv_rows(dqkv, s, 0), dk = qkv_rows(dqkv, s, 1), dv = qkv_rows(dqkv, s, 2);
  const Rows v = qkv_rows(qkv, s, 2);
  const int BH = int(s.BH());
  for (int bh0 = 0; bh0 < BH; bh0 += p.nb) {
    const int nb = BH - bh0 < p.nb ? BH - bh0 : p.nb;
    if (int rc = prep_rows(qn, kn, g, qnrm, knrm, qkv, dctx, ctx, ynrm, mask, s, bh0, nb))
      return rc;
    const Rows G = head_rows(g, s, bh0), Qn = head_rows(qn, s, bh0), Kn = head_rows(kn, s, bh0);
    for (int h0 = 0; h0 < s.m; h0 += p.mc) {
      const Seg c{bh0, nb, h0, s.m - h0 < p.mc ? s.m - h0 : p.mc};
      Sorted keys, queries;
      if (int rc = sort_codes(&keys, kcode, mask, s, c, w.keys[0], w.idx[0], w.keys[1],
                              w.idx[1], w.counts))
        return rc;
      if (int rc = sort_codes(&queries, qcode, mask, s, c, w.keys[2], w.idx[2], w.keys[3],
                              w.idx[3], w.counts))
        return rc;
      if (int rc = bucket_sums(w.table, queries, G, s, p, c)) return rc;
      if (int rc = bucket_gather(dv, nullptr, kcode, mask, w.table, queries, s, p, c)) return rc;
      if (int rc = with_lanes(D, [&](auto pl) {
            return pairs_chunk<decltype(pl)::value>(dq, dk, v, G, Qn, Kn, qcode, kcode, mask,
                                                    keys, queries, w, s, p, c, exact);
          }))
        return rc;
    }
    if (int rc = finish_rows(dqkv, qn, kn, qnrm, knrm, s, float(1.0 / s.m), bh0, nb)) return rc;
  }
  return 0;
}

}  // namespace lshlab_cuda
