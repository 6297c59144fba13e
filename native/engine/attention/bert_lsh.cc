/*
 * bert_lsh.cc: BERT-LSH attention forward and backward (see bert_lsh.h for the semantics). Four
 * timed phases per call, each parallel over (batch, head) pairs like exact.cc: hash (draw, bucket
 * ids, pair enumeration, row lists), scores (dot products of the pairs), softmax (sparse rows),
 * values (sparse P V; dense gemm only for fill=zero with dropout): the pair path. Calls the
 * blocked path (bert_lsh_block.cc) where it applies. Not here: the hash itself (bert_lsh_hash.cc).
 */
#include "attention/bert_lsh.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "core/philox.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/ops.h"
#include "ops/cpu/vecmath.h"

namespace lshlab {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
template <typename T>
T dot(const T* a, const T* b, int D) {  // four chains so float dots vectorise without -ffast-math
  T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int d = 0;
  for (; d + 3 < D; d += 4) { s0 += a[d] * b[d]; s1 += a[d + 1] * b[d + 1]; s2 += a[d + 2] * b[d + 2]; s3 += a[d + 3] * b[d + 3]; }
  for (; d < D; d++) s0 += a[d] * b[d];
  return (s0 + s1) + (s2 + s3);
}
template <typename T>
void axpy(T* y, T a, const T* x, int D) { for (int d = 0; d < D; d++) y[d] += a * x[d]; }
// exact.cc's dropout mask element `idx` (dropout_mask with the same site), one element at a time.
bool keep_at(uint64_t seed, uint32_t step, uint32_t site, uint64_t idx, uint32_t threshold) {
  return (philox_u32(seed, uint32_t(Stream::Dropout), step, (uint64_t(site) << 36) + idx) >> 8) >= threshold;
}
}  // namespace

// Row lists (CSR over query rows) from the pairs: with transposed fill pair (i,j), i<j, is entry
// (i, key j) and (j, key i); padded keys get no entry. fill=masked: a row left without entries
// gets the diagonal pair (r, r) appended, if key r is not padding.
template <typename T>
void BertLshAttention<T>::build_rows(Head& hd, int n, const int32_t* m) const {
  auto valid = [&](int k) { return !m || m[k]; };
  hd.row_ptr.assign(size_t(n) + 1, 0);
  int64_t* deg = hd.row_ptr.data() + 1;
  const size_t P0 = hd.pi.size();
  int64_t udots = 0;  // computed pairs with both tokens unpadded (the counters' dot products)
  for (size_t p = 0; p < P0; p++) {
    const int i = hd.pi[p], j = hd.pj[p];
    if (valid(j)) deg[i]++;
    if (!cfg_.symmetric_none && i < j && valid(i)) deg[j]++;
    udots += valid(i) && valid(j);
  }
  hd.fallback = 0;
  if (cfg_.fill_masked)
    for (int r = 0; r < n; r++)
      if (deg[r] == 0 && valid(r)) { hd.pi.push_back(r); hd.pj.push_back(r); deg[r] = 1; hd.fallback++; }
  hd.udots = udots + hd.fallback;
  for (int r = 0; r < n; r++) deg[r] += hd.row_ptr[size_t(r)];
  const size_t E = size_t(hd.row_ptr[size_t(n)]);
  hd.ecol.resize(E); hd.epair.resize(E);
  hd.cur.assign(hd.row_ptr.begin(), hd.row_ptr.end() - 1);
  for (size_t p = 0; p < hd.pi.size(); p++) {
    const int i = hd.pi[p], j = hd.pj[p];
    if (valid(j)) { const int64_t e = hd.cur[size_t(i)]++; hd.ecol[size_t(e)] = j; hd.epair[size_t(e)] = int32_t(p); }
    if (!cfg_.symmetric_none && i < j && valid(i)) { const int64_t e = hd.cur[size_t(j)]++; hd.ecol[size_t(e)] = i; hd.epair[size_t(e)] = int32_t(p); }
  }
}

// Counters over unpadded pairs (attention.h): per head, the pairs each (b, h) scored (udots) and
// those that came from a collision (less the fill=masked diagonal fallbacks).
template <typename T>
void BertLshAttention<T>::count_pairs(const int32_t* mask, int B, int n, int H) {
  AttentionCounters& k = this->counters_;
  k.set_unpadded_pairs(mask, B, n, H);
  for (int bh = 0; bh < B * H; bh++) {
    const Head& hd = heads_[size_t(bh)];
    k.head_dot_products[size_t(bh % H)] += double(hd.udots);
    k.head_collisions[size_t(bh % H)] += double(hd.udots - hd.fallback);
  }
  k.sum_heads();
}

template <typename T>
void BertLshAttention<T>::forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& c) {
  const int B = c.B, n = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C;
  const int64_t TT = int64_t(n) * n;
  LSHLAB_CHECK(c.site < 4096 && B <= 65536 && H <= 65536, "bert-lsh: site, batch or heads out of range");
  B_ = B; H_ = H; D_ = D;
  const bool drop = c.training && c.dropout > 0;
  dense_ = drop && !cfg_.fill_masked;
  if ((int)heads_.size() < B * H) heads_.resize(size_t(B) * H);
  blocked_ = blocked_ok(n, drop) && !dense_;
  if (blocked_) {  // one hash (or combine=and): bucket-blocked dense gemms, bert_lsh_block.cc
    this->counters_.reset(H);
    forward_blocked(ctx, qkv, mask, c);
    return;
  }
  if (dense_) {
    probs_.resize(size_t(B) * H * TT);
    dropped_.resize(size_t(B) * H * TT);
    keep_.resize(size_t(B) * H * TT);
    dropout_mask(keep_.data(), int64_t(B) * H * TT, c.dropout, c.seed, c.step, c.site);
  }
  const uint32_t step = cfg_.reseed_fixed ? 0xFFFFFFFFu : c.step;
  const T scale = T(1.0 / std::sqrt(double(D)));
  const uint32_t threshold = uint32_t(c.dropout * 16777216.0);
  const T inv_keep = drop ? T(1.0 / (1.0 - c.dropout)) : T(1);
  ThreadPool& pool = ThreadPool::global();
  this->counters_.reset(H);
  auto head_ptr = [&](int bh) { return qkv + int64_t(bh / H) * n * ld + (bh % H) * D; };

  // Phase 1 (hash): draw, bucket ids of Q and K rows, colliding pairs, row lists.
  auto phase_hash = [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    const int b = bh / H, h = bh % H, nh = cfg_.num_hashes;
    hd.fam.draw(D, cfg_, c.seed, step, bert_lsh_family_index(c.site, b, h));
    const T* q = head_ptr(bh);
    hd.qb.resize(size_t(nh) * n); hd.kb.resize(size_t(nh) * n);
    for (int g = 0; g < nh; g++)
      for (int t = 0; t < n; t++) {
        hd.qb[size_t(g) * n + t] = hd.fam.bucket(g, q + int64_t(t) * ld);
        hd.kb[size_t(g) * n + t] = hd.fam.bucket(g, q + C + int64_t(t) * ld);
      }
    bert_lsh_collisions(hd.pi, hd.pj, hd.qb.data(), hd.kb.data(), n, nh, cfg_.table_size,
                        !cfg_.symmetric_none, cfg_.combine_and, hd.scratch);
    build_rows(hd, n, mask ? mask + int64_t(b) * n : nullptr);
  };

  // Phase 2 (scores): s[p] = q_i . k_j for the computed pairs only.
  auto phase_scores = [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    const T* q = head_ptr(bh);
    hd.s.resize(hd.pi.size());
    for (size_t p = 0; p < hd.pi.size(); p++)
      hd.s[p] = dot(q + int64_t(hd.pi[p]) * ld, q + C + int64_t(hd.pj[p]) * ld, D);
  };

  // Phase 3 (softmax) over each row's entries; fill=zero adds z = (unpadded keys - entries)
  // logits of 0, each with probability crow[r]. Dropout keep bits per entry (fill=masked).
  auto phase_softmax = [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    const int32_t* m = mask ? mask + int64_t(bh / H) * n : nullptr;
    int64_t nvalid = n;
    if (m) { nvalid = 0; for (int k = 0; k < n; k++) nvalid += m[k] != 0; }
    const size_t E = hd.ecol.size();
    hd.ep.resize(E);
    hd.crow.assign(size_t(n), T(0));
    if (drop && cfg_.fill_masked) hd.ekeep.resize(E);
    for (int r = 0; r < n; r++) {
      const int64_t st = hd.row_ptr[size_t(r)], deg = hd.row_ptr[size_t(r) + 1] - st;
      const int64_t z = cfg_.fill_masked ? 0 : nvalid - deg;
      T* lg = hd.ep.data() + st;
      T mx = z > 0 ? T(0) : -std::numeric_limits<T>::infinity();
      for (int64_t e = 0; e < deg; e++) { lg[e] = hd.s[size_t(hd.epair[size_t(st + e)])] * scale; mx = std::max(mx, lg[e]); }
      if (deg == 0 && z == 0) continue;  // no unpadded key at all: attend nowhere (as exact)
      double sum = deg > 0 ? vec_exp_shift_sum(lg, lg, deg, mx) : 0.0;
      const double ez = z > 0 ? std::exp(-double(mx)) : 0.0;
      sum += double(z) * ez;
      const T inv = T(1.0 / sum);
      for (int64_t e = 0; e < deg; e++) lg[e] *= inv;
      hd.crow[size_t(r)] = T(ez / sum);
      if (drop && cfg_.fill_masked)
        for (int64_t e = 0; e < deg; e++)
          hd.ekeep[size_t(st + e)] = keep_at(c.seed, c.step, c.site, uint64_t(bh) * TT + uint64_t(r) * n + hd.ecol[size_t(st + e)], threshold);
    }
  };

  // Phase 4 (values): ctx_r = crow_r colsum(V) + sum_e (p'_e - crow_r) v_col  (exact split of P).
  auto phase_values = [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    const int b = bh / H, h = bh % H;
    const T* v = head_ptr(bh) + 2 * C;
    const int32_t* m = mask ? mask + int64_t(b) * n : nullptr;
    T* out = ctx + int64_t(b) * n * C + h * D;
    if (dense_) {  // dense P (crow everywhere unpadded, entries on top), dropout, gemm as exact.cc
      T* P = probs_.data() + bh * TT;
      for (int r = 0; r < n; r++) {
        T* row = P + int64_t(r) * n;
        for (int k = 0; k < n; k++) row[k] = (!m || m[k]) ? hd.crow[size_t(r)] : T(0);
        for (int64_t e = hd.row_ptr[size_t(r)]; e < hd.row_ptr[size_t(r) + 1]; e++) row[hd.ecol[size_t(e)]] = hd.ep[size_t(e)];
      }
      dropout_forward(dropped_.data() + bh * TT, P, keep_.data() + bh * TT, c.dropout, TT);
      gemm<T>(false, false, n, D, n, T(1), dropped_.data() + bh * TT, n, v, ld, T(0), out, C);
      return;
    }
    hd.colsum.assign(size_t(D), T(0));
    if (!cfg_.fill_masked)
      for (int k = 0; k < n; k++) if (!m || m[k]) axpy(hd.colsum.data(), T(1), v + int64_t(k) * ld, D);
    for (int r = 0; r < n; r++) {
      T* o = out + int64_t(r) * C;
      const T cr = hd.crow[size_t(r)];
      for (int d = 0; d < D; d++) o[d] = cr * hd.colsum[size_t(d)];
      for (int64_t e = hd.row_ptr[size_t(r)]; e < hd.row_ptr[size_t(r) + 1]; e++) {
        T pe = hd.ep[size_t(e)];
        if (drop) pe = hd.ekeep[size_t(e)] ? pe * inv_keep : T(0);
        axpy(o, pe - cr, v + int64_t(hd.ecol[size_t(e)]) * ld, D);
      }
    }
  };

  // Small calls (the paper's n = 10) run all phases in one parallel_for: a pool round trip
  // costs more than the work. Stage times are then the slowest task's time per stage. With one
  // thread (or one (b, h)) they run inline, stage by stage, and stage times are the totals.
  if (int64_t(B) * H * TT <= 16384 && (pool.num_threads() <= 1 || B * H == 1)) {
    // One thread: no pool round trip, stage by stage over the (b, h) pairs, 5 clock reads.
    AttentionCounters& k = this->counters_;
    auto t = Clock::now();
    for (int bh = 0; bh < B * H; bh++) phase_hash(bh);
    auto t1 = Clock::now(); k.time_hash_s = std::chrono::duration<double>(t1 - t).count(); t = t1;
    for (int bh = 0; bh < B * H; bh++) phase_scores(bh);
    t1 = Clock::now(); k.time_scores_s = std::chrono::duration<double>(t1 - t).count(); t = t1;
    for (int bh = 0; bh < B * H; bh++) phase_softmax(bh);
    t1 = Clock::now(); k.time_softmax_s = std::chrono::duration<double>(t1 - t).count(); t = t1;
    for (int bh = 0; bh < B * H; bh++) phase_values(bh);
    k.time_values_s = seconds_since(t);
  } else if (int64_t(B) * H * TT <= 16384) {
    std::vector<double>& st = stage_times_;
    st.assign(size_t(B) * H * 4, 0.0);
    auto all = [&](int bh) {
      auto t = Clock::now();
      phase_hash(bh); st[size_t(bh) * 4] = seconds_since(t); t = Clock::now();
      phase_scores(bh); st[size_t(bh) * 4 + 1] = seconds_since(t); t = Clock::now();
      phase_softmax(bh); st[size_t(bh) * 4 + 2] = seconds_since(t); t = Clock::now();
      phase_values(bh); st[size_t(bh) * 4 + 3] = seconds_since(t);
    };
    pool.parallel_for(B * H, [&all](int bh) { all(bh); });  // one pointer: no std::function heap
    for (int bh = 0; bh < B * H; bh++) {
      AttentionCounters& c = this->counters_;
      c.time_hash_s = std::max(c.time_hash_s, st[size_t(bh) * 4]);
      c.time_scores_s = std::max(c.time_scores_s, st[size_t(bh) * 4 + 1]);
      c.time_softmax_s = std::max(c.time_softmax_s, st[size_t(bh) * 4 + 2]);
      c.time_values_s = std::max(c.time_values_s, st[size_t(bh) * 4 + 3]);
    }
  } else {
    auto t0 = Clock::now();
    pool.parallel_for(B * H, phase_hash);
    this->counters_.time_hash_s = seconds_since(t0);
    t0 = Clock::now();
    pool.parallel_for(B * H, phase_scores);
    this->counters_.time_scores_s = seconds_since(t0);
    t0 = Clock::now();
    pool.parallel_for(B * H, phase_softmax);
    this->counters_.time_softmax_s = seconds_since(t0);
    t0 = Clock::now();
    pool.parallel_for(B * H, phase_values);
    this->counters_.time_values_s = seconds_since(t0);
  }

  double P = 0, E = 0;
  for (int bh = 0; bh < B * H; bh++) { P += double(heads_[size_t(bh)].pi.size()); E += double(heads_[size_t(bh)].ecol.size()); }
  const double rows = double(B) * H * n;
  count_pairs(mask, B, n, H);
  this->counters_.flops_hash = 2.0 * rows * 2 * D * cfg_.bands * cfg_.num_hashes;  // Q and K rows
  this->counters_.flops_scores = 2.0 * D * P;
  this->counters_.flops_softmax = 5.0 * E + (cfg_.fill_masked ? 0.0 : 5.0 * rows);
  this->counters_.flops_values = dense_ ? 2.0 * D * B * H * TT
                                        : 2.0 * D * E + (cfg_.fill_masked ? 0.0 : 4.0 * D * rows);
}

template <typename T>
void BertLshAttention<T>::backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                                   const AttentionCall& c) {
  const int B = c.B, n = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C;
  const int64_t TT = int64_t(n) * n;
  const bool drop = c.training && c.dropout > 0;
  const T scale = T(1.0 / std::sqrt(double(D)));
  const T inv_keep = drop ? T(1.0 / (1.0 - c.dropout)) : T(1);
  if (blocked_) { backward_blocked(dqkv, dctx, qkv, mask, c); return; }
  auto t0 = Clock::now();
  ThreadPool::global().parallel_for(B * H, [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    const int b = bh / H, h = bh % H;
    const int32_t* m = mask ? mask + int64_t(b) * n : nullptr;
    const T* q = qkv + int64_t(b) * n * ld + h * D;
    const T* k = q + C;
    const T* v = q + 2 * C;
    T* dq = dqkv + int64_t(b) * n * ld + h * D;
    T* dk = dq + C;
    T* dv = dq + 2 * C;
    const T* dc = dctx + int64_t(b) * n * C + h * D;
    for (int t = 0; t < n; t++)
      for (int d = 0; d < D; d++) dq[int64_t(t) * ld + d] = dk[int64_t(t) * ld + d] = dv[int64_t(t) * ld + d] = T(0);
    hd.ds.assign(hd.pi.size(), T(0));
    if (dense_) {  // as exact.cc: dV = P'^T dctx, dP = dropout'(dctx V^T); ds from entries only
      const T* P = probs_.data() + bh * TT;
      T* dP = dropped_.data() + bh * TT;
      gemm<T>(true, false, n, D, n, T(1), dP, n, dc, C, T(0), dv, ld);
      gemm<T>(false, true, n, n, D, T(1), dc, C, v, ld, T(0), dP, n);
      dropout_backward(dP, dP, keep_.data() + bh * TT, c.dropout, TT);
      for (int r = 0; r < n; r++) {
        const T* pr = P + int64_t(r) * n;
        const T* dr = dP + int64_t(r) * n;
        const T rdot = dot(pr, dr, n);
        for (int64_t e = hd.row_ptr[size_t(r)]; e < hd.row_ptr[size_t(r) + 1]; e++)
          hd.ds[size_t(hd.epair[size_t(e)])] += hd.ep[size_t(e)] * (dr[hd.ecol[size_t(e)]] - rdot) * scale;
      }
    } else {
      // Sparse: dP_rk = dc_r . v_k. fill=zero: the zero-logit keys share crow_r, so
      // rowdot = crow_r (dc_r . colsum - sum_e dP_e) + sum_e p_e dP_e and
      // dv_k = sum_r crow_r dc_r + sum_e (p'_e - crow_r) dc_r.
      hd.edp.resize(hd.ecol.size());
      std::vector<T> w(size_t(D), T(0));
      for (int r = 0; r < n; r++) {
        const T* dcr = dc + int64_t(r) * C;
        const T cr = hd.crow[size_t(r)];
        const int64_t st = hd.row_ptr[size_t(r)], en = hd.row_ptr[size_t(r) + 1];
        T rdot = 0, sum_raw = 0;
        for (int64_t e = st; e < en; e++) {
          const T raw = dot(dcr, v + int64_t(hd.ecol[size_t(e)]) * ld, D);
          const T de = drop ? (hd.ekeep[size_t(e)] ? raw * inv_keep : T(0)) : raw;
          hd.edp[size_t(e)] = de;
          sum_raw += raw;
          rdot += hd.ep[size_t(e)] * de;
        }
        if (!cfg_.fill_masked && cr != T(0)) {
          rdot += cr * (dot(dcr, hd.colsum.data(), D) - sum_raw);
          axpy(w.data(), cr, dcr, D);
        }
        for (int64_t e = st; e < en; e++) {
          const T pe = hd.ep[size_t(e)];
          hd.ds[size_t(hd.epair[size_t(e)])] += pe * (hd.edp[size_t(e)] - rdot) * scale;
          const T pd = drop ? (hd.ekeep[size_t(e)] ? pe * inv_keep : T(0)) : pe;
          axpy(dv + int64_t(hd.ecol[size_t(e)]) * ld, pd - cr, dcr, D);
        }
      }
      if (!cfg_.fill_masked)
        for (int kk = 0; kk < n; kk++) if (!m || m[kk]) axpy(dv + int64_t(kk) * ld, T(1), w.data(), D);
    }
    // ds_p -> dq_i += ds_p k_j, dk_j += ds_p q_i (transposed fill already summed both entries).
    for (size_t p = 0; p < hd.pi.size(); p++) {
      const T g = hd.ds[p];
      if (g == T(0)) continue;
      const int64_t i = hd.pi[p], j = hd.pj[p];
      axpy(dq + i * ld, g, k + j * ld, D);
      axpy(dk + j * ld, g, q + i * ld, D);
    }
  });
  this->counters_.time_backward_s = seconds_since(t0);
  double P = 0, E = 0;
  for (int bh = 0; bh < B * H; bh++) { P += double(heads_[size_t(bh)].pi.size()); E += double(heads_[size_t(bh)].ecol.size()); }
  const double rows = double(B) * H * n;
  this->counters_.flops_backward =
      4.0 * D * P + (dense_ ? double(B) * H * TT * (4.0 * D + 2) + 4.0 * E
                            : E * (4.0 * D + 4) + (cfg_.fill_masked ? 0.0 : 6.0 * D * rows));
}

template <typename T>
std::vector<std::pair<std::string, std::vector<double>>> BertLshAttention<T>::debug_state() const {
  std::vector<double> planes, coefs;
  for (int bh = 0; bh < B_ * H_; bh++) {
    const BertLshFamily& f = heads_[size_t(bh)].fam;
    planes.insert(planes.end(), f.planes.begin(), f.planes.end());
    coefs.insert(coefs.end(), f.coef.begin(), f.coef.end());
  }
  return {{"shape", {double(B_), double(H_), double(cfg_.num_hashes), double(cfg_.bands), double(D_)}},
          {"planes", planes},
          {"coefficients", coefs},
          {"table_size", {double(cfg_.table_size)}}};
}

template class BertLshAttention<float>;
template class BertLshAttention<double>;

}  // namespace lshlab
