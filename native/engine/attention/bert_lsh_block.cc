/*
 * bert_lsh_block.cc: the bucket-blocked dense path of BERT-LSH (semantics in bert_lsh.h). With one
 * hash function, or combine=and (a pair collides iff all codes agree: one composite bucket),
 * q_i and k_j collide iff key(q_i) == key(k_j), so collisions are disjoint buckets. For each
 * bucket with query rows Qb and key rows Kb, G = Q[Qb] K[Kb]^T is one gemm, and every logit the
 * reference uses is an entry of some G:
 *   U entries (row i as query): (i, j) with i <= j (any i, j for symmetric=none), key j unpadded,
 *     logit G[i, j];
 *   L entries (row j as query, transposed fill): (j, i) with i < j, key i unpadded, logit G[i, j].
 * Row r's U entries all lie in bucket key(q_r), its L entries in bucket key(k_r), so each block
 * task writes disjoint per-row statistics (max and sum of the U part, of the L part), combined
 * into the row softmax afterwards. Then ctx[Qb] = WU V[Kb], ctx[Kb] += WL^T V[Qb] (W = P' - crow on
 * entries), and the backward per block: DU = dC[Qb] V[Kb]^T, DL = V[Qb] dC[Kb]^T, row dots,
 * g = PU (DU' - rd_i) + PL (DL' - rd_j), dQ[Qb] = g K[Kb] / sqrt(D), dK[Kb] = g^T Q[Qb] / sqrt(D),
 * dV[Kb] = WU^T dC[Qb], dV[Qb] += WL dC[Kb]. All gemms run single-threaded inside the pool's
 * parallel_for over (b, h, bucket) blocks.
 * Counters: dot_products counts the unpadded pairs the semantics use (as the pair path); flops_* count the
 * full blocks actually multiplied (about twice the used pairs: the block holds both triangles).
 * Stage times: hash; scores (gemm + per-block partial softmax); values (normalisation, dropout,
 * P V, per-head combine); time_softmax_s stays 0 (its work is split between the two).
 * combine=or with several hash functions keeps the pair path (its buckets overlap), as does
 * fill=zero with dropout (dense path).
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

namespace {
std::atomic<int> g_block_min_tokens{96};  // measured crossover vs the pair path (D = 64)
}  // namespace

void bert_lsh_set_block_min_tokens(int n) { g_block_min_tokens = n; }
int bert_lsh_block_min_tokens() { return g_block_min_tokens; }

template <typename T>
bool BertLshAttention<T>::blocked_ok(int n, bool drop) const {
  if (n < g_block_min_tokens.load()) return false;
  if (drop && !cfg_.fill_masked) return false;  // fill=zero with dropout: dense path
  if (cfg_.num_hashes > 1 && !cfg_.combine_and) return false;
  double range = 1;
  for (int g = 0; g < cfg_.num_hashes; g++) range *= double(cfg_.table_size);
  return range < 4e18;  // composite key fits in 64 bits
}

template <typename T>
void BertLshAttention<T>::forward_blocked(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& c) {
  const int B = c.B, n = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C, nh = cfg_.num_hashes;
  const int64_t TT = int64_t(n) * n;
  const bool drop = c.training && c.dropout > 0, masked = cfg_.fill_masked, symn = cfg_.symmetric_none;
  const uint32_t step = cfg_.reseed_fixed ? 0xFFFFFFFFu : c.step;
  const T scale = T(1.0 / std::sqrt(double(D)));
  const uint32_t threshold = uint32_t(c.dropout * 16777216.0);
  const T inv_keep = drop ? T(1.0 / (1.0 - c.dropout)) : T(1);
  const double NEG = -std::numeric_limits<double>::infinity();
  ThreadPool& pool = ThreadPool::global();
  auto head_ptr = [&](int bh) { return qkv + int64_t(bh / H) * n * ld + (bh % H) * D; };
  auto mrow = [&](int bh) { return mask ? mask + int64_t(bh / H) * n : nullptr; };
  uint64_t range = 1;
  for (int g = 0; g < nh; g++) range *= uint64_t(cfg_.table_size);

  // Phase 1 (hash): draw, composite bucket key of every Q and K row, rows grouped by bucket.
  auto t0 = Clock::now();
  std::vector<std::vector<Block>> hb(size_t(B) * H);
  pool.parallel_for(B * H, [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    hd.fam.draw(D, cfg_, c.seed, step, bert_lsh_family_index(c.site, bh / H, bh % H));
    const T* q = head_ptr(bh);
    hd.key.assign(size_t(2) * n, 0);  // Q rows then K rows
    for (int g = 0; g < nh; g++)
      for (int t = 0; t < 2 * n; t++) {
        const T* x = q + (t < n ? int64_t(t) * ld : C + int64_t(t - n) * ld);
        hd.key[size_t(t)] = hd.key[size_t(t)] * uint64_t(cfg_.table_size) + uint64_t(hd.fam.bucket(g, x));
      }
    const int32_t* m = mrow(bh);
    hd.nvalid = n;
    if (m) { hd.nvalid = 0; for (int k = 0; k < n; k++) hd.nvalid += m[k] != 0; }
    // Sort (key, row) of Q rows and K rows; rows ascend within a bucket.
    std::vector<std::pair<uint64_t, int32_t>> qs(static_cast<size_t>(n)), ks(static_cast<size_t>(n));
    for (int t = 0; t < n; t++) { qs[size_t(t)] = {hd.key[size_t(t)], t}; ks[size_t(t)] = {hd.key[size_t(n + t)], t}; }
    if (range <= uint64_t(4) * n + 1024) {  // counting sort by key
      auto csort = [&](std::vector<std::pair<uint64_t, int32_t>>& v) {
        hd.scratch.kstart.assign(size_t(range) + 1, 0);
        for (auto& e : v) hd.scratch.kstart[size_t(e.first) + 1]++;
        for (uint64_t t = 0; t < range; t++) hd.scratch.kstart[size_t(t) + 1] += hd.scratch.kstart[size_t(t)];
        std::vector<std::pair<uint64_t, int32_t>> o(v.size());
        for (auto& e : v) o[size_t(hd.scratch.kstart[size_t(e.first)]++)] = e;
        v.swap(o);
      };
      csort(qs); csort(ks);
    } else {
      std::sort(qs.begin(), qs.end());
      std::sort(ks.begin(), ks.end());
    }
    hd.qrows.resize(size_t(n)); hd.krows.resize(size_t(n));
    for (int t = 0; t < n; t++) { hd.qrows[size_t(t)] = qs[size_t(t)].second; hd.krows[size_t(t)] = ks[size_t(t)].second; }
    hd.side.resize(size_t(n) * D);
    hd.hasU.assign(size_t(n), 0); hd.hasL.assign(size_t(n), 0);
    hd.degU.assign(size_t(n), 0); hd.degL.assign(size_t(n), 0);
    hd.mU.assign(size_t(n), NEG); hd.mL.assign(size_t(n), NEG);
    hd.sU.assign(size_t(n), 0.0); hd.sL.assign(size_t(n), 0.0);
    auto& list = hb[size_t(bh)];
    for (int a = 0, b = 0; a < n && b < n;) {  // merge walk over the two sorted lists
      const uint64_t ka = qs[size_t(a)].first, kb = ks[size_t(b)].first;
      if (ka < kb) { a++; continue; }
      if (kb < ka) { b++; continue; }
      int a1 = a, b1 = b;
      while (a1 < n && qs[size_t(a1)].first == ka) a1++;
      while (b1 < n && ks[size_t(b1)].first == ka) b1++;
      list.push_back(Block{bh, a, a1 - a, b, b1 - b, 0});
      for (int i = a; i < a1; i++) hd.hasU[size_t(qs[size_t(i)].second)] = 1;
      if (!symn) for (int j = b; j < b1; j++) hd.hasL[size_t(ks[size_t(j)].second)] = 1;
      a = a1; b = b1;
    }
  });
  blocks_.clear();
  int64_t arena = 0;
  for (auto& l : hb)
    for (Block bl : l) { bl.off = arena; arena += int64_t(bl.qn) * bl.kn; blocks_.push_back(bl); }
  // Big blocks first: better balance over the pool's dynamic task counter.
  std::sort(blocks_.begin(), blocks_.end(), [](const Block& x, const Block& y) { return int64_t(x.qn) * x.kn > int64_t(y.qn) * y.kn; });
  if ((int64_t)pu_.size() < arena) { pu_.resize(size_t(arena)); pl_.resize(size_t(arena)); }
  if (drop) { if ((int64_t)ku_.size() < arena) { ku_.resize(size_t(arena)); kl_.resize(size_t(arena)); } }
  this->counters_.time_hash_s = since(t0);

  // Phase 2 (scores + partial softmax) per block.
  t0 = Clock::now();
  const int NB = int(blocks_.size());
  pool.parallel_for(NB, [&](int t) {
    const Block& bl = blocks_[size_t(t)];
    Head& hd = heads_[size_t(bl.bh)];
    const int a = bl.qn, b = bl.kn;
    const int32_t* qr = hd.qrows.data() + bl.q0;
    const int32_t* kr = hd.krows.data() + bl.k0;
    const int32_t* m = mrow(bl.bh);
    const T* q = head_ptr(bl.bh);
    Scratch<T>& s = scratch<T>();
    T* Qg = sized(s.a, size_t(a) * D);
    T* Kg = sized(s.b, size_t(b) * D);
    gather(Qg, q, ld, qr, a, D);
    gather(Kg, q + C, ld, kr, b, D);
    T* G = pl_.data() + bl.off;   // raw G first, L exponentials in place later
    T* EU = pu_.data() + bl.off;
    gemm<T>(false, true, a, b, D, scale, Qg, D, Kg, D, T(0), G, b);
    // U part, row i: keys j >= j0(i) (krows ascend), unpadded.
    for (int i = 0; i < a; i++) {
      const int ri = qr[i];
      const int j0 = symn ? 0 : int(std::lower_bound(kr, kr + b, ri) - kr);
      const T* g = G + int64_t(i) * b;
      T* e = EU + int64_t(i) * b;
      std::fill(e, e + j0, T(0));
      T mx = -std::numeric_limits<T>::infinity();
      int deg = 0;
      for (int j = j0; j < b; j++) if (!m || m[kr[j]]) { mx = std::max(mx, g[j]); deg++; }
      if (deg == 0) { std::fill(e + j0, e + b, T(0)); continue; }
      double sum = vec_exp_shift_sum(e + j0, g + j0, b - j0, mx);
      if (m && deg < b - j0) {
        sum = 0;
        for (int j = j0; j < b; j++) { if (!m[kr[j]]) e[j] = T(0); sum += double(e[j]); }
      }
      hd.degU[size_t(ri)] = deg; hd.mU[size_t(ri)] = double(mx); hd.sU[size_t(ri)] = sum;
    }
    if (symn) { std::fill(G, G + int64_t(a) * b, T(0)); return; }
    // L part, column j: query rows i with ri < rj, ri unpadded; per-column shift.
    T* cmax = sized(s.cmax, size_t(b));
    double* csum = sized(s.col, size_t(b));
    std::vector<int32_t> jst(static_cast<size_t>(a));
    std::fill(cmax, cmax + b, -std::numeric_limits<T>::infinity());
    std::fill(csum, csum + b, 0.0);
    for (int i = 0; i < a; i++) {
      const int ri = qr[i];
      jst[size_t(i)] = int32_t(std::upper_bound(kr, kr + b, ri) - kr);
      if (m && !m[ri]) continue;
      const T* g = G + int64_t(i) * b;
      for (int j = jst[size_t(i)]; j < b; j++) cmax[j] = std::max(cmax[j], g[j]);
    }
    for (int i = 0; i < a; i++) {
      T* g = G + int64_t(i) * b;
      const int js = jst[size_t(i)];
      if (m && !m[qr[i]]) { std::fill(g, g + b, T(0)); continue; }
      std::fill(g, g + js, T(0));
      for (int j = js; j < b; j++) g[j] -= cmax[j];
      vec_exp_shift_sum(g + js, g + js, b - js, T(0));
      for (int j = js; j < b; j++) csum[j] += double(g[j]);
    }
    for (int j = 0; j < b; j++) {
      if (cmax[j] == -std::numeric_limits<T>::infinity()) continue;
      const int rj = kr[j];
      hd.mL[size_t(rj)] = double(cmax[j]); hd.sL[size_t(rj)] = csum[j];
      int deg = 0;  // rows i with ri < rj, unpadded
      const int iend = int(std::lower_bound(qr, qr + a, rj) - qr);
      if (!m) deg = iend; else for (int i = 0; i < iend; i++) deg += m[qr[i]] != 0;
      hd.degL[size_t(rj)] = deg;
    }
  });
  this->counters_.time_scores_s = since(t0);

  // Row statistics: factor of the U part, of the L part, and crow (probability of a zero logit).
  auto factors = [&](const Head& hd, int r, double& fU, double& fL, double& cr) {
    const int deg = hd.degU[size_t(r)] + hd.degL[size_t(r)];
    const int64_t z = masked ? 0 : hd.nvalid - deg;
    double mx = z > 0 ? 0.0 : NEG;
    if (hd.degU[size_t(r)]) mx = std::max(mx, hd.mU[size_t(r)]);
    if (hd.degL[size_t(r)]) mx = std::max(mx, hd.mL[size_t(r)]);
    fU = fL = cr = 0;
    if (mx == NEG) return;
    const double eU = hd.degU[size_t(r)] ? std::exp(hd.mU[size_t(r)] - mx) : 0.0;
    const double eL = hd.degL[size_t(r)] ? std::exp(hd.mL[size_t(r)] - mx) : 0.0;
    const double ez = z > 0 ? std::exp(-mx) : 0.0;
    const double Z = hd.sU[size_t(r)] * eU + hd.sL[size_t(r)] * eL + double(z) * ez;
    fU = eU / Z; fL = eL / Z; cr = ez / Z;
  };

  // Phase 3 (softmax normalisation, dropout, values) per block.
  t0 = Clock::now();
  pool.parallel_for(NB, [&](int t) {
    const Block& bl = blocks_[size_t(t)];
    Head& hd = heads_[size_t(bl.bh)];
    const int a = bl.qn, b = bl.kn, bh = bl.bh;
    const int32_t* qr = hd.qrows.data() + bl.q0;
    const int32_t* kr = hd.krows.data() + bl.k0;
    const int32_t* m = mrow(bh);
    const T* v = head_ptr(bh) + 2 * C;
    T* PU = pu_.data() + bl.off;
    T* PL = pl_.data() + bl.off;
    Scratch<T>& s = scratch<T>();
    T* W = sized(s.c, size_t(a) * b);
    T* Vk = sized(s.b, size_t(b) * D);
    T* O = sized(s.d, size_t(std::max(a, b)) * D);
    T* Vq = sized(s.a, size_t(a) * D);
    gather(Vk, v, ld, kr, b, D);
    gather(Vq, v, ld, qr, a, D);
    T* fl = sized(s.e, size_t(b));
    T* crl = sized(s.w, size_t(b));
    for (int j = 0; j < b; j++) { double fU, fL, cr; factors(hd, kr[j], fU, fL, cr); fl[j] = T(fL); crl[j] = T(cr); }
    // U: PU *= fU_i; W = P' - crow_i on entries.
    for (int i = 0; i < a; i++) {
      const int ri = qr[i];
      double fU, fL, cr;
      factors(hd, ri, fU, fL, cr);
      T* p = PU + int64_t(i) * b;
      T* w = W + int64_t(i) * b;
      const T f = T(fU), crow = T(cr);
      const int j0 = symn ? 0 : int(std::lower_bound(kr, kr + b, ri) - kr);
      for (int j = 0; j < b; j++) p[j] *= f;
      std::fill(w, w + j0, T(0));
      if (drop) {
        uint8_t* kp = ku_.data() + bl.off + int64_t(i) * b;
        for (int j = j0; j < b; j++) {
          const bool set = !m || m[kr[j]];
          kp[j] = set && keep_at(c.seed, c.step, c.site, uint64_t(bh) * TT + uint64_t(ri) * n + kr[j], threshold);
          w[j] = kp[j] ? p[j] * inv_keep : T(0);
        }
      } else if (crow == T(0)) {
        std::copy(p + j0, p + b, w + j0);
      } else {
        for (int j = j0; j < b; j++) w[j] = (!m || m[kr[j]]) ? p[j] - crow : T(0);
      }
    }
    gemm<T>(false, false, a, D, b, T(1), W, b, Vk, D, T(0), O, D);
    scatter(ctx + int64_t(bh / H) * n * C + (bh % H) * D, C, qr, a, O, D);
    if (symn) return;
    // L: PL *= fL_j; W = P' - crow_j on entries; ctx[Kb] (side buffer) = W^T V[Qb].
    for (int i = 0; i < a; i++) {
      const int ri = qr[i];
      T* p = PL + int64_t(i) * b;
      T* w = W + int64_t(i) * b;
      const int js = int(std::upper_bound(kr, kr + b, ri) - kr);
      const bool vi = !m || m[ri];
      std::fill(w, w + js, T(0));
      for (int j = js; j < b; j++) p[j] *= fl[j];
      if (!vi) { std::fill(w + js, w + b, T(0)); continue; }
      if (drop) {
        uint8_t* kp = kl_.data() + bl.off + int64_t(i) * b;
        for (int j = js; j < b; j++) {
          kp[j] = keep_at(c.seed, c.step, c.site, uint64_t(bh) * TT + uint64_t(kr[j]) * n + ri, threshold);
          w[j] = kp[j] ? p[j] * inv_keep : T(0);
        }
      } else {
        for (int j = js; j < b; j++) w[j] = p[j] - crl[j];
      }
    }
    gemm<T>(true, false, b, D, a, T(1), W, b, Vq, D, T(0), O, D);
    scatter(hd.side.data(), D, kr, b, O, D);
  });

  // Phase 4 (per head): ctx_r = U part + L part + crow_r colsum(V); fill=masked diagonal rows.
  pool.parallel_for(B * H, [&](int bh) {
    Head& hd = heads_[size_t(bh)];
    const int32_t* m = mrow(bh);
    const T* v = head_ptr(bh) + 2 * C;
    T* out = ctx + int64_t(bh / H) * n * C + (bh % H) * D;
    hd.crow.assign(size_t(n), T(0));
    hd.colsum.assign(size_t(D), T(0));
    if (!masked)
      for (int k = 0; k < n; k++) if (!m || m[k]) for (int d = 0; d < D; d++) hd.colsum[size_t(d)] += v[int64_t(k) * ld + d];
    hd.fallback = 0;
    for (int r = 0; r < n; r++) {
      T* o = out + int64_t(r) * C;
      if (!hd.hasU[size_t(r)]) std::fill(o, o + D, T(0));
      if (hd.hasL[size_t(r)]) { const T* sd = hd.side.data() + int64_t(r) * D; for (int d = 0; d < D; d++) o[d] += sd[d]; }
      if (masked) {
        if (hd.degU[size_t(r)] + hd.degL[size_t(r)] == 0 && (!m || m[r])) {  // diagonal q_r.k_r alone: p = 1
          hd.fallback++;
          T p = T(1);
          if (drop) p = keep_at(c.seed, c.step, c.site, uint64_t(bh) * TT + uint64_t(r) * n + r, threshold) ? inv_keep : T(0);
          for (int d = 0; d < D; d++) o[d] = p * v[int64_t(r) * ld + d];
        }
      } else {
        double fU, fL, cr;
        factors(hd, r, fU, fL, cr);
        hd.crow[size_t(r)] = T(cr);
        for (int d = 0; d < D; d++) o[d] += T(cr) * hd.colsum[size_t(d)];
      }
    }
  });
  this->counters_.time_values_s = since(t0);

  // Counters: the unpadded pairs the semantics use, per (b, h) (attention.h); O(n log n) per head.
  double full = 0;
  for (int bh = 0; bh < B * H; bh++) heads_[size_t(bh)].udots = heads_[size_t(bh)].fallback;
  std::vector<int32_t> suffix;
  for (const Block& bl : blocks_) {
    Head& hd = heads_[size_t(bl.bh)];
    const int32_t* m = mrow(bl.bh);
    auto ok = [m](int t) { return !m || m[t] != 0; };
    full += double(bl.qn) * bl.kn;
    const int32_t* kr = hd.krows.data() + bl.k0;
    const int32_t* qr = hd.qrows.data() + bl.q0;
    if (symn) {
      int64_t vq = 0, vk = 0;
      for (int a = 0; a < bl.qn; a++) vq += ok(qr[a]);
      for (int a = 0; a < bl.kn; a++) vk += ok(kr[a]);
      hd.udots += vq * vk;
      continue;
    }
    suffix.assign(size_t(bl.kn) + 1, 0);  // suffix[a] = unpadded keys among kr[a..kn)
    for (int a = bl.kn - 1; a >= 0; a--) suffix[size_t(a)] = suffix[size_t(a) + 1] + (ok(kr[a]) ? 1 : 0);
    for (int i = 0; i < bl.qn; i++)
      if (ok(qr[i])) hd.udots += suffix[size_t(std::lower_bound(kr, kr + bl.kn, qr[i]) - kr)];
  }
  const double rows = double(B) * H * n;
  count_pairs(mask, B, n, H);
  this->counters_.flops_hash = 2.0 * rows * 2 * D * cfg_.bands * cfg_.num_hashes;
  this->counters_.flops_scores = 2.0 * D * full;
  this->counters_.flops_softmax = 5.0 * full * (symn ? 1 : 2) + (masked ? 0.0 : 5.0 * rows);
  this->counters_.flops_values = 2.0 * D * full * (symn ? 1 : 2) + (masked ? 0.0 : 4.0 * D * rows);
}

template bool BertLshAttention<float>::blocked_ok(int, bool) const;
template bool BertLshAttention<double>::blocked_ok(int, bool) const;
template void BertLshAttention<float>::forward_blocked(float*, const float*, const int32_t*, const AttentionCall&);
template void BertLshAttention<double>::forward_blocked(double*, const double*, const int32_t*, const AttentionCall&);

}  // namespace lshlab
