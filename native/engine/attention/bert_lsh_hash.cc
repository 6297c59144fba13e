/*
 * bert_lsh_hash.cc: the hashing half of BERT-LSH (see bert_lsh.h): parameter parsing, the Philox
 * draw of hyperplanes and coefficients, bucket ids, collision enumeration by bucket sort, and the
 * collision-probability helpers for the benchmark. No attention math here (bert_lsh.cc).
 */
#include <algorithm>
#include <cmath>

#include "attention/bert_lsh.h"
#include "attention/params.h"
#include "core/philox.h"

namespace lshlab {

BertLshConfig bert_lsh_parse(const AttentionParams& p) {
  const char* v = "bert-lsh";
  check_known(v, p, {"bands", "table_size", "num_hashes", "fill", "symmetric", "combine", "reseed"});
  BertLshConfig c;
  c.bands = int(param_int(v, p, "bands", 2, 1, 64));
  c.table_size = int(param_int(v, p, "table_size", 64, 1, 1 << 30));
  c.num_hashes = int(param_int(v, p, "num_hashes", 1, 1, 64));
  c.fill_masked = param_choice(v, p, "fill", {"zero", "masked"}, 0) == 1;
  c.symmetric_none = param_choice(v, p, "symmetric", {"transposed-fill", "none"}, 0) == 1;
  c.combine_and = param_choice(v, p, "combine", {"or", "and"}, 0) == 1;
  c.reseed_fixed = param_choice(v, p, "reseed", {"per-call", "fixed"}, 0) == 1;
  return c;
}

void BertLshFamily::draw(int D_, const BertLshConfig& cfg, uint64_t seed, uint32_t step,
                         uint64_t family) {
  D = D_; bands = cfg.bands; num_hashes = cfg.num_hashes; table_size = cfg.table_size;
  const int64_t count = int64_t(num_hashes) * bands * D;
  LSHLAB_CHECK(count <= (int64_t(1) << 18),
               "bert-lsh: num_hashes * bands * head size must be <= 262144 (got " +
                   std::to_string(count) + ")");
  LSHLAB_CHECK(family < (uint64_t(1) << 44), "bert-lsh: hash family index out of range");
  planes.resize(size_t(count));
  coef.resize(size_t(num_hashes) * bands);
  const uint64_t base = family << 20;
  const uint32_t stream = uint32_t(Stream::Attention);
  // Normal j = philox_normal(seed, stream, step, base/2 + j): words base+2j, base+2j+1, so one
  // Philox block of 4 words gives normals 2k and 2k+1 (same values, half the Philox calls).
  for (int64_t k = 0; 2 * k < count; k++) {
    const uint64_t idx = base + uint64_t(k) * 4;
    uint32_t ctr[4] = {uint32_t(idx >> 2), uint32_t(idx >> 34), stream, step};
    Philox4x32::generate(ctr, seed);
    for (int l = 0; l < 2 && 2 * k + l < count; l++) {
      const double u1 = (double(ctr[2 * l] >> 8) + 1.0) / 16777217.0;
      const double u2 = double(ctr[2 * l + 1] >> 8) / 16777216.0;
      planes[size_t(2 * k + l)] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
  }
  for (size_t k = 0; k < coef.size(); k++) {
    const uint32_t u = philox_u32(seed, stream, step, base + (uint64_t(1) << 19) + k);
    coef[k] = int32_t((uint64_t(u) * uint64_t(table_size)) >> 32);
  }
}

template <typename T>
int32_t BertLshFamily::bucket(int h, const T* x, int64_t stride) const {
  int64_t sum = 0;
  for (int b = 0; b < bands; b++) {
    const double* r = planes.data() + (size_t(h) * bands + b) * D;
    double d0 = 0, d1 = 0;  // two chains: the projection is latency-bound otherwise
    int d = 0;
    for (; d + 1 < D; d += 2) { d0 += r[d] * double(x[d * stride]); d1 += r[d + 1] * double(x[(d + 1) * stride]); }
    if (d < D) d0 += r[d] * double(x[d * stride]);
    if (d0 + d1 > 0) sum += coef[size_t(h) * bands + b];  // torch.sign(0) = 0: a zero adds nothing
  }
  return int32_t(sum % table_size);
}
template int32_t BertLshFamily::bucket<float>(int, const float*, int64_t) const;
template int32_t BertLshFamily::bucket<double>(int, const double*, int64_t) const;

void bert_lsh_collisions(std::vector<int32_t>& pi, std::vector<int32_t>& pj, const int32_t* qb,
                         const int32_t* kb, int n, int nh, int table, bool upper_only,
                         bool combine_and, BertLshScratch& s) {
  // Keys of each hash sorted by (bucket, row); query i of hash h gets the range [qlo, qhi) of
  // korder holding its bucket. Within a range rows ascend, so j >= i is a lower_bound.
  const int hashes_sorted = combine_and ? 1 : nh;  // and: hash 0 proposes, the rest verify
  s.korder.resize(size_t(hashes_sorted) * n);
  s.qlo.resize(size_t(hashes_sorted) * n);
  s.qhi.resize(size_t(hashes_sorted) * n);
  const bool counting = int64_t(table) <= 4 * int64_t(n) + 1024;
  for (int h = 0; h < hashes_sorted; h++) {
    const int32_t* kh = kb + size_t(h) * n;
    const int32_t* qh = qb + size_t(h) * n;
    int32_t* ord = s.korder.data() + size_t(h) * n;
    int32_t* lo = s.qlo.data() + size_t(h) * n;
    int32_t* hi = s.qhi.data() + size_t(h) * n;
    if (counting) {
      s.kstart.assign(size_t(table) + 1, 0);
      for (int j = 0; j < n; j++) s.kstart[size_t(kh[j]) + 1]++;
      for (int t = 0; t < table; t++) s.kstart[size_t(t) + 1] += s.kstart[size_t(t)];
      s.stamp.assign(s.kstart.begin(), s.kstart.end() - 1);  // write cursors
      for (int j = 0; j < n; j++) ord[s.stamp[size_t(kh[j])]++] = j;
      for (int i = 0; i < n; i++) { lo[i] = s.kstart[size_t(qh[i])]; hi[i] = s.kstart[size_t(qh[i]) + 1]; }
    } else {
      s.packed.resize(size_t(n));
      for (int j = 0; j < n; j++) s.packed[size_t(j)] = (uint64_t(uint32_t(kh[j])) << 32) | uint32_t(j);
      std::sort(s.packed.begin(), s.packed.end());
      for (int j = 0; j < n; j++) ord[j] = int32_t(uint32_t(s.packed[size_t(j)]));
      for (int i = 0; i < n; i++) {
        const uint64_t key = uint64_t(uint32_t(qh[i])) << 32;
        lo[i] = int32_t(std::lower_bound(s.packed.begin(), s.packed.end(), key) - s.packed.begin());
        hi[i] = int32_t(std::lower_bound(s.packed.begin(), s.packed.end(), key + (uint64_t(1) << 32)) -
                        s.packed.begin());
      }
    }
  }
  s.stamp.assign(size_t(n), -1);
  pi.clear();
  pj.clear();
  for (int i = 0; i < n; i++) {
    for (int h = 0; h < hashes_sorted; h++) {
      const int32_t* ord = s.korder.data() + size_t(h) * n;
      const int32_t* b = ord + s.qlo[size_t(h) * n + i];
      const int32_t* e = ord + s.qhi[size_t(h) * n + i];
      if (upper_only) b = std::lower_bound(b, e, i);
      for (; b < e; b++) {
        const int32_t j = *b;
        if (combine_and) {
          bool all = true;
          for (int g = 1; g < nh && all; g++) all = qb[size_t(g) * n + i] == kb[size_t(g) * n + j];
          if (!all) continue;
        } else if (nh > 1) {
          if (s.stamp[size_t(j)] == i) continue;  // already found under an earlier hash
          s.stamp[size_t(j)] = i;
        }
        pi.push_back(i);
        pj.push_back(j);
      }
    }
  }
}

bool bert_lsh_collide(const double* x, const double* y, int D, int bands, int table_size,
                      int num_hashes, bool combine_and, uint64_t seed, uint64_t draw) {
  BertLshConfig c;
  c.bands = bands; c.table_size = table_size; c.num_hashes = num_hashes;
  BertLshFamily f;
  f.draw(D, c, seed, 0, draw);
  bool any = false, all = true;
  for (int h = 0; h < num_hashes; h++) {
    const bool eq = f.bucket(h, x) == f.bucket(h, y);
    any = any || eq;
    all = all && eq;
  }
  return combine_and ? all : any;
}

double bert_lsh_collision_theory(double angle, int bands, int table_size, int num_hashes,
                                 bool combine_and) {
  const double p = 1.0 - angle / 3.141592653589793;
  const double pr = std::pow(p, bands);
  const double p1 = pr + (1.0 - pr) / double(table_size);
  return combine_and ? std::pow(p1, num_hashes) : 1.0 - std::pow(1.0 - p1, num_hashes);
}

}  // namespace lshlab
