/*
 * bert_lsh_block_bwd.cc: the backward of BERT-LSH's bucket-blocked path; the method and the
 * notation are described at the top of bert_lsh_block.cc.
 */
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>

#include "attention/bert_lsh.h"
#include "core/philox.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/vecmath.h"
#include "attention/bert_lsh_block.h"

namespace lshlab {

using namespace bert_lsh_block_detail;

template <typename T>
void BertLshAttention<T>::backward_blocked(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                                           const AttentionCall& c) {
  const int B = c.B, n = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C;
  const int64_t TT = int64_t(n) * n;
  const bool drop = c.training && c.dropout > 0, masked = cfg_.fill_masked, symn = cfg_.symmetric_none;
  const T scale = T(1.0 / std::sqrt(double(D)));
  const uint32_t threshold = uint32_t(c.dropout * 16777216.0);
  const T inv_keep = drop ? T(1.0 / (1.0 - c.dropout)) : T(1);
  ThreadPool& pool = ThreadPool::global();
  auto mrow = [&](int bh) { return mask ? mask + int64_t(bh / H) * n : nullptr; };
  auto qptr = [&](int bh) { return qkv + int64_t(bh / H) * n * ld + (bh % H) * D; };
  auto dqptr = [&](int bh) { return dqkv + int64_t(bh / H) * n * ld + (bh % H) * D; };
  auto dcptr = [&](int bh) { return dctx + int64_t(bh / H) * n * C + (bh % H) * D; };
  int64_t arena = 0;
  for (const Block& bl : blocks_) arena = std::max(arena, bl.off + int64_t(bl.qn) * bl.kn);
  if ((int64_t)du_.size() < arena) { du_.resize(size_t(arena)); dl_.resize(size_t(arena)); }
  const int NB = int(blocks_.size());
  auto t0 = Clock::now();
  for (int bh = 0; bh < B * H; bh++) {
    Head& hd = heads_[size_t(bh)];
    hd.rdU.assign(size_t(n), 0.0); hd.rdL.assign(size_t(n), 0.0);
    hd.srU.assign(size_t(n), 0.0); hd.srL.assign(size_t(n), 0.0);
  }
  // Pass 1 per block: dP blocks, row dots, dV.
  pool.parallel_for(NB, [&](int t) {
    const Block& bl = blocks_[size_t(t)];
    Head& hd = heads_[size_t(bl.bh)];
    const int a = bl.qn, b = bl.kn, bh = bl.bh;
    const int32_t* qr = hd.qrows.data() + bl.q0;
    const int32_t* kr = hd.krows.data() + bl.k0;
    const int32_t* m = mrow(bh);
    const T* v = qptr(bh) + 2 * C;
    const T* dc = dcptr(bh);
    T* dv = dqptr(bh) + 2 * C;
    const T* PU = pu_.data() + bl.off;
    const T* PL = pl_.data() + bl.off;
    T* DU = du_.data() + bl.off;
    T* DL = dl_.data() + bl.off;
    Scratch<T>& s = scratch<T>();
    T* dCq = sized(s.a, size_t(a) * D);
    T* Vk = sized(s.b, size_t(b) * D);
    T* W = sized(s.c, size_t(a) * b);
    T* O = sized(s.d, size_t(std::max(a, b)) * D);
    T* Vq = sized(s.e, size_t(a) * D);
    T* dCk = sized(s.w, size_t(b) * D);
    gather(dCq, dc, C, qr, a, D);
    gather(Vk, v, ld, kr, b, D);
    gather(Vq, v, ld, qr, a, D);
    gather(dCk, dc, C, kr, b, D);
    gemm<T>(false, true, a, b, D, T(1), dCq, D, Vk, D, T(0), DU, b);
    for (int i = 0; i < a; i++) {
      const int ri = qr[i];
      const int j0 = symn ? 0 : int(std::lower_bound(kr, kr + b, ri) - kr);
      const T crow = hd.crow[size_t(ri)];
      const T* p = PU + int64_t(i) * b;
      T* du = DU + int64_t(i) * b;
      T* w = W + int64_t(i) * b;
      std::fill(w, w + j0, T(0));
      double rd = 0, sr = 0;
      for (int j = j0; j < b; j++) {
        const bool set = !m || m[kr[j]];
        if (!set) { w[j] = T(0); continue; }
        if (drop) {
          const bool k = ku_[size_t(bl.off + int64_t(i) * b + j)];
          du[j] = k ? du[j] * inv_keep : T(0);
          w[j] = k ? p[j] * inv_keep : T(0);
        } else {
          sr += double(du[j]);
          w[j] = p[j] - crow;
        }
        rd += double(p[j]) * double(du[j]);
      }
      hd.rdU[size_t(ri)] = rd; hd.srU[size_t(ri)] = sr;
    }
    gemm<T>(true, false, b, D, a, T(1), W, b, dCq, D, T(0), O, D);  // dV[Kb] = WU^T dC[Qb]
    scatter(dv, ld, kr, b, O, D);
    if (symn) return;
    gemm<T>(false, true, a, b, D, T(1), Vq, D, dCk, D, T(0), DL, b);  // DL[i,j] = v_i . dc_j
    double* rdc = sized(s.col, size_t(b) * 2);
    std::fill(rdc, rdc + 2 * b, 0.0);
    for (int i = 0; i < a; i++) {
      const int ri = qr[i];
      const T* p = PL + int64_t(i) * b;
      T* dl = DL + int64_t(i) * b;
      T* w = W + int64_t(i) * b;
      const int js = int(std::upper_bound(kr, kr + b, ri) - kr);
      std::fill(w, w + js, T(0));
      if (m && !m[ri]) { std::fill(w + js, w + b, T(0)); continue; }
      for (int j = js; j < b; j++) {
        if (drop) {
          const bool k = kl_[size_t(bl.off + int64_t(i) * b + j)];
          dl[j] = k ? dl[j] * inv_keep : T(0);
          w[j] = k ? p[j] * inv_keep : T(0);
        } else {
          rdc[b + j] += double(dl[j]);
          w[j] = p[j] - hd.crow[size_t(kr[j])];
        }
        rdc[j] += double(p[j]) * double(dl[j]);
      }
    }
    for (int j = 0; j < b; j++) { hd.rdL[size_t(kr[j])] = rdc[j]; hd.srL[size_t(kr[j])] = rdc[b + j]; }
    gemm<T>(false, false, a, D, b, T(1), W, b, dCk, D, T(0), O, D);  // dV[Qb] += WL dC[Kb]
    scatter(hd.side.data(), D, qr, a, O, D);
  });
  // Full row dot of row r: entries + (fill=zero) crow_r (dc_r . colsum - sum of entry dP).
  auto rowdot = [&](const Head& hd, int bh, int r) {
    double rd = hd.rdU[size_t(r)] + hd.rdL[size_t(r)];
    const T cr = hd.crow[size_t(r)];
    if (!masked && cr != T(0)) {
      const T* dcr = dcptr(bh) + int64_t(r) * C;
      double cd = 0;
      for (int d = 0; d < D; d++) cd += double(dcr[d]) * double(hd.colsum[size_t(d)]);
      rd += double(cr) * (cd - hd.srU[size_t(r)] - hd.srL[size_t(r)]);
    }
    return T(rd);
  };
  // Pass 2 per block: g = PU (DU' - rd_i) + PL (DL' - rd_j); dQ[Qb], dK[Kb].
  pool.parallel_for(NB, [&](int t) {
    const Block& bl = blocks_[size_t(t)];
    Head& hd = heads_[size_t(bl.bh)];
    const int a = bl.qn, b = bl.kn, bh = bl.bh;
    const int32_t* qr = hd.qrows.data() + bl.q0;
    const int32_t* kr = hd.krows.data() + bl.k0;
    const T* q = qptr(bh);
    T* dq = dqptr(bh);
    const T* PU = pu_.data() + bl.off;
    const T* PL = pl_.data() + bl.off;
    const T* DU = du_.data() + bl.off;
    const T* DL = dl_.data() + bl.off;
    Scratch<T>& s = scratch<T>();
    T* Qg = sized(s.a, size_t(a) * D);
    T* Kg = sized(s.b, size_t(b) * D);
    T* Gd = sized(s.c, size_t(a) * b);
    T* O = sized(s.d, size_t(std::max(a, b)) * D);
    T* rdj = sized(s.w, size_t(b));
    gather(Qg, q, ld, qr, a, D);
    gather(Kg, q + C, ld, kr, b, D);
    if (!symn) for (int j = 0; j < b; j++) rdj[j] = rowdot(hd, bh, kr[j]);
    for (int i = 0; i < a; i++) {
      const T rdi = rowdot(hd, bh, qr[i]);
      const T* pu = PU + int64_t(i) * b;
      const T* du = DU + int64_t(i) * b;
      T* g = Gd + int64_t(i) * b;
      for (int j = 0; j < b; j++) g[j] = pu[j] * (du[j] - rdi);
      if (!symn) {
        const T* pl = PL + int64_t(i) * b;
        const T* dl = DL + int64_t(i) * b;
        for (int j = 0; j < b; j++) g[j] += pl[j] * (dl[j] - rdj[j]);
      }
    }
    gemm<T>(false, false, a, D, b, scale, Gd, b, Kg, D, T(0), O, D);
    scatter(dq, ld, qr, a, O, D);
    gemm<T>(true, false, b, D, a, scale, Gd, b, Qg, D, T(0), O, D);
    scatter(dq + C, ld, kr, b, O, D);
  });
  // Per head: rows no block wrote, L-side dV, fill=zero's uniform part, masked diagonal rows.
  pool.parallel_for(B * H, [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    const int32_t* m = mrow(bh);
    T* dq = dqptr(bh);
    const T* dc = dcptr(bh);
    std::vector<T> w(size_t(D), T(0));
    if (!masked)
      for (int r = 0; r < n; r++) {
        const T cr = hd.crow[size_t(r)];
        if (cr != T(0)) for (int d = 0; d < D; d++) w[size_t(d)] += cr * dc[int64_t(r) * C + d];
      }
    // hasU: row r is a query of some block (dQ written there) and key... dK / dV[Kb] are written
    // for key rows of blocks: exactly the rows r whose key bucket has queries.
    std::vector<uint8_t> isk(size_t(n), 0);
    for (const Block& bl : blocks_)
      if (bl.bh == bh) for (int j = 0; j < bl.kn; j++) isk[size_t(hd.krows[size_t(bl.k0 + j)])] = 1;
    for (int r = 0; r < n; r++) {
      T* dqr = dq + int64_t(r) * ld;
      T* dkr = dqr + C;
      T* dvr = dqr + 2 * C;
      if (!hd.hasU[size_t(r)]) std::fill(dqr, dqr + D, T(0));
      if (!isk[size_t(r)]) { std::fill(dkr, dkr + D, T(0)); std::fill(dvr, dvr + D, T(0)); }
      if (!symn && hd.hasU[size_t(r)]) { const T* sd = hd.side.data() + int64_t(r) * D; for (int d = 0; d < D; d++) dvr[d] += sd[d]; }
      if (!masked) { if (!m || m[r]) for (int d = 0; d < D; d++) dvr[d] += w[size_t(d)]; }
      else if (hd.degU[size_t(r)] + hd.degL[size_t(r)] == 0 && (!m || m[r])) {
        T p = T(1);
        if (drop) p = keep_at(c.seed, c.step, c.site, uint64_t(bh) * TT + uint64_t(r) * n + r, threshold) ? inv_keep : T(0);
        for (int d = 0; d < D; d++) dvr[d] += p * dc[int64_t(r) * C + d];
      }
    }
  });
  this->counters_.time_backward_s = since(t0);
  double full = 0;
  for (const Block& bl : blocks_) full += double(bl.qn) * bl.kn;
  const double rows = double(B) * H * n;
  this->counters_.flops_backward = 2.0 * D * full * (symn ? 4 : 6) + 6.0 * full + (masked ? 0.0 : 6.0 * D * rows);
}

template void BertLshAttention<float>::backward_blocked(float*, const float*, const float*, const int32_t*, const AttentionCall&);
template void BertLshAttention<double>::backward_blocked(double*, const double*, const double*, const int32_t*, const AttentionCall&);

}  // namespace lshlab
