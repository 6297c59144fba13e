/*
 * ops.cc: CPU implementations of the ops in ops.h. Plain loops the compiler can vectorise, rows
 * spread over the thread pool; accumulation in double where a row reduction could lose precision.
 */
#include "ops/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/cpu_info.h"
#include "core/philox.h"
#include "core/threadpool.h"
#include "ops/cpu/vecmath.h"

namespace lshlab {

namespace {
// Runs fn(begin, end) over [0, n) in chunks of at least `grain` items on the global pool.
template <typename F>
void parallel_rows(int64_t n, int64_t grain, const F& fn) {
  ThreadPool& pool = ThreadPool::global();
  int64_t tasks = std::min<int64_t>(pool.num_threads() * 4, (n + grain - 1) / grain);
  if (tasks <= 1) { fn(int64_t(0), n); return; }
  int64_t chunk = (n + tasks - 1) / tasks;
  pool.parallel_for(int(tasks), [&](int t) {
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
  });
}
}  // namespace

// ---------------------------------------------------------------------------------------------
template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* x, const T* w, const T* b, int N, int C,
                       double eps) {
  parallel_rows(N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t n = r0; n < r1; n++) {
      const T* xr = x + n * C;
      double s = 0;
      for (int c = 0; c < C; c++) s += xr[c];
      const double m = s / C;
      double v = 0;
      for (int c = 0; c < C; c++) { double d = xr[c] - m; v += d * d; }
      const double rs = 1.0 / std::sqrt(v / C + eps);
      T* o = out + n * C;
      const T tm = T(m), trs = T(rs);
      for (int c = 0; c < C; c++) o[c] = (xr[c] - tm) * trs * w[c] + b[c];
      mean[n] = tm;
      rstd[n] = trs;
    }
  });
}

template <typename T>
void layernorm_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const T* mean,
                        const T* rstd, int N, int C) {
  // dx per row (parallel); dw/db are column sums, done serially after to avoid races.
  parallel_rows(N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t n = r0; n < r1; n++) {
      const T* xr = x + n * C;
      const T* dr = dout + n * C;
      const T m = mean[n], rs = rstd[n];
      double sum_dn = 0, sum_dn_xh = 0;
      for (int c = 0; c < C; c++) {
        const double dn = double(dr[c]) * w[c];
        sum_dn += dn;
        sum_dn_xh += dn * double((xr[c] - m) * rs);
      }
      const T a = T(sum_dn / C), bb = T(sum_dn_xh / C);
      T* o = dx + n * C;
      for (int c = 0; c < C; c++) {
        const T xh = (xr[c] - m) * rs;
        o[c] = (dr[c] * w[c] - a - xh * bb) * rs;
      }
    }
  });
  for (int n = 0; n < N; n++) {
    const T* xr = x + int64_t(n) * C;
    const T* dr = dout + int64_t(n) * C;
    const T m = mean[n], rs = rstd[n];
    for (int c = 0; c < C; c++) {
      dw[c] += dr[c] * (xr[c] - m) * rs;
      db[c] += dr[c];
    }
  }
}

// ---------------------------------------------------------------------------------------------
template <typename T>
void gelu_forward(T* out, const T* x, int64_t n) {
  parallel_rows(n, 16384, [&](int64_t b, int64_t e) { vec_gelu_forward(out + b, x + b, e - b); });
}

template <typename T>
void gelu_backward(T* dx, const T* dout, const T* x, int64_t n) {
  parallel_rows(n, 16384, [&](int64_t b, int64_t e) { vec_gelu_backward(dx + b, dout + b, x + b, e - b); });
}

template <typename T>
void tanh_forward(T* out, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = std::tanh(x[i]);
}

template <typename T>
void tanh_backward(T* dx, const T* dout, const T* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) dx[i] = dout[i] * (T(1) - out[i] * out[i]);
}

// ---------------------------------------------------------------------------------------------
namespace dropout_detail {  // dropout_avx2.cc
void dropout_mask_avx2(uint8_t* keep, int64_t n, int64_t b0, int64_t b1, uint64_t base,
                       uint32_t stream, uint32_t step, uint32_t threshold, uint64_t seed);
void dropout_apply_avx2(float* out, const float* x, const uint8_t* keep, float scale, int64_t b,
                        int64_t e);
}  // namespace dropout_detail

namespace {
bool dropout_avx2() {
  static const bool yes = cpu_info().avx2;
  return yes;
}
template <typename T>
void dropout_apply(T* out, const T* x, const uint8_t* keep, double p, int64_t n) {
  const T scale = T(1.0 / (1.0 - p));
  parallel_rows(n, 32768, [&](int64_t b, int64_t e) {
    if constexpr (std::is_same_v<T, float>) {
      if (dropout_avx2()) return dropout_detail::dropout_apply_avx2(out, x, keep, scale, b, e);
    }
    for (int64_t i = b; i < e; i++) out[i] = keep[i] ? x[i] * scale : T(0);
  });
}
}  // namespace

void dropout_mask(uint8_t* keep, int64_t n, double p, uint64_t seed, uint32_t step, uint32_t site) {
  // Element i uses Philox counter index (site << 36) + i: sites never overlap below 2^36 elements.
  const uint64_t base = uint64_t(site) << 36;
  const uint32_t threshold = uint32_t(p * 16777216.0);  // compare 24-bit uniforms exactly
  parallel_rows((n + 3) / 4, 4096, [&](int64_t b, int64_t e) {
    if (dropout_avx2())
      return dropout_detail::dropout_mask_avx2(keep, n, b, e, base, uint32_t(Stream::Dropout), step,
                                               threshold, seed);
    for (int64_t blk = b; blk < e; blk++) {
      const uint64_t idx = base + uint64_t(blk) * 4;
      uint32_t ctr[4] = {uint32_t(idx >> 2), uint32_t(idx >> 34), uint32_t(Stream::Dropout), step};
      Philox4x32::generate(ctr, seed);
      for (int l = 0; l < 4; l++) {
        const int64_t i = blk * 4 + l;
        if (i < n) keep[i] = (ctr[l] >> 8) >= threshold ? 1 : 0;
      }
    }
  });
}

template <typename T>
void dropout_forward(T* out, const T* x, const uint8_t* keep, double p, int64_t n) {
  dropout_apply(out, x, keep, p, n);
}

template <typename T>
void dropout_backward(T* dx, const T* dout, const uint8_t* keep, double p, int64_t n) {
  dropout_apply(dx, dout, keep, p, n);
}

// ---------------------------------------------------------------------------------------------
template <typename T>
void embeddings_forward(T* out, const int32_t* ids, const int32_t* types, const T* wte,
                        const T* wpe, const T* wtt, int B, int Tn, int C) {
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tn; t++) {
      const int64_t n = int64_t(b) * Tn + t;
      const T* we = wte + int64_t(ids[n]) * C;
      const T* pe = wpe + int64_t(t) * C;
      const T* te = wtt + int64_t(types ? types[n] : 0) * C;
      T* o = out + n * C;
      for (int c = 0; c < C; c++) o[c] = we[c] + pe[c] + te[c];
    }
}

template <typename T>
void embeddings_backward(T* dwte, T* dwpe, T* dwtt, const T* dout, const int32_t* ids,
                         const int32_t* types, int B, int Tn, int C, int pad_id) {
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tn; t++) {
      const int64_t n = int64_t(b) * Tn + t;
      const T* d = dout + n * C;
      T* pe = dwpe + int64_t(t) * C;
      T* te = dwtt + int64_t(types ? types[n] : 0) * C;
      for (int c = 0; c < C; c++) { pe[c] += d[c]; te[c] += d[c]; }
      if (ids[n] == pad_id) continue;
      T* we = dwte + int64_t(ids[n]) * C;
      for (int c = 0; c < C; c++) we[c] += d[c];
    }
}

// ---------------------------------------------------------------------------------------------
template <typename T>
double cross_entropy_forward_backward(T* dlogits, const T* logits, const int32_t* targets, int N,
                                      int V, int ignore, double scale, int64_t* correct,
                                      int64_t* counted) {
  int64_t cnt = 0;
  for (int n = 0; n < N; n++) cnt += targets[n] != ignore;
  if (counted) *counted = cnt;
  // Per-row results live in buffers that only grow, so a training step does not allocate.
  static thread_local std::vector<double> row_loss;
  static thread_local std::vector<uint8_t> row_hit;
  if (row_loss.size() < size_t(N)) { row_loss.resize(N); row_hit.resize(N); }
  const double inv = cnt > 0 ? scale / double(cnt) : 0.0;
  double* rl = row_loss.data();
  uint8_t* rh = row_hit.data();
  parallel_rows(N, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t n = r0; n < r1; n++) {
      const T* l = logits + n * V;
      T* d = dlogits ? dlogits + n * V : nullptr;
      const int y = targets[n];
      rl[n] = 0;
      rh[n] = 0;
      if (y == ignore) {
        if (d) std::fill(d, d + V, T(0));
        continue;
      }
      const T mx = vec_max(l, V);
      // The first maximum is the prediction; a NaN row has none (and counts as a miss).
      const int64_t arg = vec_index_of(l, V, mx);
      double s = 0;
      if (d) {
        s = vec_exp_shift_sum(d, l, V, mx);  // d holds exp(l - max) for now
      } else {
        for (int v = 0; v < V; v++) s += std::exp(double(l[v] - mx));
      }
      rl[n] = double(mx) + std::log(s) - double(l[y]);
      rh[n] = arg == y;
      if (d) {
        vec_scale(d, V, T(inv / s));
        d[y] -= T(inv);
      }
    }
  });
  double loss = 0;
  int64_t hits = 0;
  for (int n = 0; n < N; n++) { loss += rl[n]; hits += rh[n]; }
  if (correct) *correct = hits;
  return cnt > 0 ? loss / double(cnt) : 0.0;
}

// ---------------------------------------------------------------------------------------------
template <typename T>
void bias_backward(T* db, const T* dout, int N, int C, int ld) {
  // Column blocks in parallel; each column is summed row by row onto its db entry (the order
  // the CPU engine always used, independent of the thread count). A 64-column block keeps its
  // running sums in a local array the compiler vectorises (db itself may alias nothing, but the
  // compiler cannot know that), and 64-column tasks spread even C = 128 over two threads.
  parallel_rows(C, 64, [&](int64_t c0, int64_t c1) {
    for (int64_t cb = c0; cb < c1; cb += 64) {
      const int64_t w = std::min<int64_t>(64, c1 - cb);
      T acc[64];
      for (int64_t j = 0; j < w; j++) acc[j] = db[cb + j];
      for (int n = 0; n < N; n++) {
        const T* r = dout + int64_t(n) * ld + cb;
        for (int64_t j = 0; j < w; j++) acc[j] += r[j];
      }
      for (int64_t j = 0; j < w; j++) db[cb + j] = acc[j];
    }
  });
}

template <typename T>
void add_inplace(T* y, const T* x, int64_t n) {
  parallel_rows(n, 32768, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; i++) y[i] += x[i];
  });
}

// ---------------------------------------------------------------------------------------------
#define LSHLAB_INSTANTIATE_OPS(T)                                                               \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, double); \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                      const T*, int, int);                                      \
  template void gelu_forward<T>(T*, const T*, int64_t);                                         \
  template void gelu_backward<T>(T*, const T*, const T*, int64_t);                              \
  template void tanh_forward<T>(T*, const T*, int64_t);                                         \
  template void tanh_backward<T>(T*, const T*, const T*, int64_t);                              \
  template void dropout_forward<T>(T*, const T*, const uint8_t*, double, int64_t);              \
  template void dropout_backward<T>(T*, const T*, const uint8_t*, double, int64_t);             \
  template void embeddings_forward<T>(T*, const int32_t*, const int32_t*, const T*, const T*,   \
                                      const T*, int, int, int);                                 \
  template void embeddings_backward<T>(T*, T*, T*, const T*, const int32_t*, const int32_t*,    \
                                       int, int, int, int);                                     \
  template double cross_entropy_forward_backward<T>(T*, const T*, const int32_t*, int, int, int, \
                                                    double, int64_t*, int64_t*);                \
  template void bias_backward<T>(T*, const T*, int, int, int);                                  \
  template void add_inplace<T>(T*, const T*, int64_t);

LSHLAB_INSTANTIATE_OPS(float)
LSHLAB_INSTANTIATE_OPS(double)

}  // namespace lshlab
