/*
 * bert_lsh_sort.cu: the bucket index of BERT-LSH's sorted path (disjoint buckets: one hash
 * function, or combine=and, whose composite key is the tuple of all codes; either fill).
 *   in : codes (2,B,H,nh,T), q codes then k codes
 *   out: per head bh and side s (0 q, 1 k): ord[s] the rows sorted stably by key, sb[s] the
 *        dense bucket id of each sorted position, start[s][u] the first position of bucket u
 *        (start[s][nb] = T). Bucket ids are shared by both sides: q and k rows with equal keys
 *        get the same id, so the key rows colliding with query bucket u are
 *        ord[1][start[1][u] .. start[1][u + 1]).
 * How: per head one segment of 2T elements e = side * T + t, sorted by the key tuple (code_0,
 * .., code_{nh-1}) with an LSD radix sort (8-bit digits of each code, last code first; stable,
 * so equal keys keep q rows then k rows, each in row order), the digit read from codes through
 * the element. Each pass: hist / scan / scatter over tiles of 256 elements with a warp
 * multisplit (yoso_sort.cu's scheme): no atomics, deterministic. Then one block per head walks
 * the sorted segment: new-key flags and q counts per thread chunk, a block scan, and the
 * writes of ord, sb and start.
 * Path choice: use_sorted (env LSHLAB_CUDA_BERT_LSH_PATH=dense|sorted forces a path; fill=zero
 * with attention dropout always takes the dense kernels, as the CPU falls back to dense, and so
 * does a head size whose sorted tiles exceed the GPU's shared memory per block).
 */
#include <cstdlib>
#include <cstring>

#include "bert_lsh_common.cuh"
#include "radix_sort.cuh"

namespace lshlab_cuda {
namespace blsh {
namespace {
using attn::kThreads;
using attn::kWarps;
using radix::kBins;
constexpr int kBits = radix::kRadixBits;
constexpr int kSortedMinT = 2048;  // auto: below this the dense kernels (unmeasured guess)

struct Seg {
  const int32_t* codes;
  int64_t BHT;
  int T, nh;
  // Code g of element e (side * T + t) of head bh.
  __device__ __forceinline__ int32_t code(int bh, uint32_t e, int g) const {
    const int side = int(e) >= T ? 1 : 0, t = int(e) - side * T;
    return codes[side * BHT * nh + (int64_t(bh) * nh + g) * T + t];
  }
};

using radix::tile_digits;  // warp multisplit: per-warp digit counts, lane ranks (radix_sort.cuh)

__global__ void sort_init_kernel(uint32_t* idx, int64_t total, int n) {
  const int64_t g = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  if (g < total) idx[g] = uint32_t(g % n);
}

__global__ void __launch_bounds__(kThreads)
sort_hist_kernel(int32_t* counts, const uint32_t* idx, Seg sg, int n, int tiles, int g, int shift) {
  __shared__ int32_t wh[kWarps][kBins];
  const int bh = blockIdx.y, e = blockIdx.x * kThreads + threadIdx.x;
  const bool valid = e < n;
  const uint32_t dig = valid ? (uint32_t(sg.code(bh, idx[int64_t(bh) * n + e], g)) >> shift) & (kBins - 1) : 0u;
  unsigned peers, rank;
  tile_digits(wh, dig, valid, &peers, &rank);
  int32_t c = 0;
  for (int w = 0; w < kWarps; w++) c += wh[w][threadIdx.x];
  counts[(int64_t(bh) * kBins + threadIdx.x) * tiles + blockIdx.x] = c;
}

// One block per head: exclusive prefix sum of its kBins * tiles counts, in place.
__global__ void __launch_bounds__(kThreads) sort_scan_kernel(int32_t* counts, int64_t total) {
  __shared__ int32_t part[kThreads];
  int32_t* c = counts + blockIdx.x * total;
  const int64_t L = (total + kThreads - 1) / kThreads, lo = threadIdx.x * L;
  const int64_t hi = lo + L < total ? lo + L : total;
  int32_t sum = 0;
  for (int64_t i = lo; i < hi; i++) sum += c[i];
  part[threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.x == 0)
    for (int t = 0, run = 0; t < kThreads; t++) { const int32_t v = part[t]; part[t] = run; run += v; }
  __syncthreads();
  int32_t run = part[threadIdx.x];
  for (int64_t i = lo; i < hi; i++) { const int32_t v = c[i]; c[i] = run; run += v; }
}

__global__ void __launch_bounds__(kThreads)
sort_scatter_kernel(uint32_t* io, const uint32_t* ii, const int32_t* counts, Seg sg, int n,
                    int tiles, int g, int shift) {
  __shared__ int32_t wh[kWarps][kBins];
  const int bh = blockIdx.y, e = blockIdx.x * kThreads + threadIdx.x, warp = threadIdx.x / 32;
  const bool valid = e < n;
  const uint32_t el = valid ? ii[int64_t(bh) * n + e] : 0u;
  const uint32_t dig = valid ? (uint32_t(sg.code(bh, el, g)) >> shift) & (kBins - 1) : 0u;
  unsigned peers, rank;
  tile_digits(wh, dig, valid, &peers, &rank);
  if (!valid) return;
  int64_t pos = counts[(int64_t(bh) * kBins + dig) * tiles + blockIdx.x] + rank;
  for (int w = 0; w < warp; w++) pos += wh[w][dig];
  io[int64_t(bh) * n + pos] = el;
}

// One block per head over its sorted segment (n = 2T elements): ord, sb, start of both sides.
__global__ void __launch_bounds__(kThreads)
sort_index_kernel(Sorted st, const uint32_t* idx, Seg sg, int64_t BH) {
  __shared__ int32_t nf[kThreads], nq[kThreads];
  const int bh = blockIdx.x, T = sg.T, n = 2 * T;
  const uint32_t* el = idx + int64_t(bh) * n;
  const int L = (n + kThreads - 1) / kThreads, lo0 = int(threadIdx.x) * L;
  const int lo = lo0 < n ? lo0 : n, hi = lo + L < n ? lo + L : n;
  auto fresh = [&](int p) {  // a new key starts at sorted position p
    if (p == 0) return true;
    for (int g = 0; g < sg.nh; g++)
      if (sg.code(bh, el[p - 1], g) != sg.code(bh, el[p], g)) return true;
    return false;
  };
  int f = 0, q = 0;
  for (int p = lo; p < hi; p++) { f += fresh(p) ? 1 : 0; q += int(el[p]) < T ? 1 : 0; }
  nf[threadIdx.x] = f;
  nq[threadIdx.x] = q;
  __syncthreads();
  if (threadIdx.x == 0) {
    int rf = 0, rq = 0;
    for (int t = 0; t < kThreads; t++) {
      const int a = nf[t], c = nq[t];
      nf[t] = rf; nq[t] = rq; rf += a; rq += c;
    }
    for (int s = 0; s < 2; s++) st.start[(s * BH + bh) * (n + 1) + rf] = T;
  }
  __syncthreads();
  int u = nf[threadIdx.x] - 1, qp = nq[threadIdx.x], kp = lo - qp;
  int32_t* qstart = st.start + int64_t(bh) * (n + 1);
  int32_t* kstart = st.start + (BH + bh) * int64_t(n + 1);
  for (int p = lo; p < hi; p++) {
    if (fresh(p)) { u++; qstart[u] = qp; kstart[u] = kp; }
    const int e = int(el[p]), side = e >= T ? 1 : 0;
    int& at = side ? kp : qp;
    st.ord[(side * BH + bh) * T + at] = e - side * T;
    st.sb[(side * BH + bh) * T + at] = u;
    at++;
  }
}

size_t up(size_t n) { return (n + 255) / 256 * 256; }
int64_t tiles_of(int T) { return (2 * int64_t(T) + kThreads - 1) / kThreads; }

}  // namespace

bool use_sorted(const Opt& o, int T, int D, bool dropout) {
  if (!sorted_eligible(o) || (!o.masked && dropout)) return false;
  const size_t smem = sorted_fwd_smem(o, D) > sorted_bwd_smem(D) ? sorted_fwd_smem(o, D) : sorted_bwd_smem(D);
  if (smem > smem_optin_bytes()) return false;
  const char* e = std::getenv("LSHLAB_CUDA_BERT_LSH_PATH");
  if (e && std::strcmp(e, "dense") == 0) return false;
  if (e && std::strcmp(e, "sorted") == 0) return true;
  return T >= kSortedMinT;
}

size_t sorted_bytes(const Opt& o, int B, int T, int H, int D) {
  if (!sorted_eligible(o)) return 0;
  const size_t BH = size_t(B) * H, n = 2 * size_t(T);
  const size_t zero = o.masked ? 0 : up(BH * (D + 1) * 4) + up(BH * T * size_t(D) * 4);
  return 2 * up(BH * n * 4) + up(BH * kBins * size_t(tiles_of(T)) * 4) + 2 * up(2 * BH * T * 4) +
         up(2 * BH * (n + 1) * 4) + up(3 * BH * T * 4) + zero;
}

size_t sorted_offset(const Opt& o, int B, int T, int H, int D) {
  const size_t bh = size_t(B) * H;
  return up(bh * T * 4) + up(bh * o.nh * o.bands * D * 4) + up(bh * o.nh * o.bands * 4);
}

int sort_rows(Sorted* out, void* area, const int32_t* codes, const attn::Shape& s, const Opt& o) {
  const int64_t BH = int64_t(s.B) * s.H, n = 2 * int64_t(s.T), tiles = tiles_of(s.T);
  char* w = static_cast<char*>(area);
  auto take = [&w](size_t bytes) { char* p = w; w += up(bytes); return p; };
  uint32_t* ia = reinterpret_cast<uint32_t*>(take(BH * n * 4));
  uint32_t* ib = reinterpret_cast<uint32_t*>(take(BH * n * 4));
  int32_t* counts = reinterpret_cast<int32_t*>(take(BH * kBins * tiles * 4));
  out->ord = reinterpret_cast<int32_t*>(take(2 * BH * s.T * 4));
  out->sb = reinterpret_cast<int32_t*>(take(2 * BH * s.T * 4));
  out->start = reinterpret_cast<int32_t*>(take(2 * BH * (n + 1) * 4));
  out->ml = reinterpret_cast<float*>(take(3 * BH * s.T * 4));
  out->col = o.masked ? nullptr : reinterpret_cast<float*>(take(BH * (s.D + 1) * 4));
  out->zs = o.masked ? nullptr : reinterpret_cast<float*>(take(BH * s.T * s.D * 4));
  const Seg sg{codes, BH * s.T, s.T, o.nh};
  sort_init_kernel<<<unsigned(ceil_div(BH * n, kThreads)), kThreads, 0, stream()>>>(ia, BH * n, int(n));
  if (int rc = check_launch("bert_lsh sort_init_kernel")) return rc;
  int bits = 0;
  while (bits < 31 && (int64_t(1) << bits) < o.table) bits++;
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(BH));
  for (int g = o.nh - 1; g >= 0; g--)
    for (int shift = 0; shift < bits; shift += kBits) {
      sort_hist_kernel<<<grid, kThreads, 0, stream()>>>(counts, ia, sg, int(n), int(tiles), g, shift);
      if (int rc = check_launch("bert_lsh sort_hist_kernel")) return rc;
      sort_scan_kernel<<<unsigned(BH), kThreads, 0, stream()>>>(counts, kBins * tiles);
      if (int rc = check_launch("bert_lsh sort_scan_kernel")) return rc;
      sort_scatter_kernel<<<grid, kThreads, 0, stream()>>>(ib, ia, counts, sg, int(n), int(tiles), g, shift);
      if (int rc = check_launch("bert_lsh sort_scatter_kernel")) return rc;
      uint32_t* t = ia; ia = ib; ib = t;
    }
  sort_index_kernel<<<unsigned(BH), kThreads, 0, stream()>>>(*out, ia, sg, BH);
  return check_launch("bert_lsh sort_index_kernel");
}

}  // namespace blsh
}  // namespace lshlab_cuda
