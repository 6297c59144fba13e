/*
 * bert_lsh.h: BERT-LSH attention (Li & Yip, arXiv 2404.08836; code leo4life2/algoml-final), CPU,
 * forward and backward. Defaults reproduce the released code (notes §A.2-A.4):
 *   - SimHash: `bands` hyperplanes r ~ N(0,1) per hash function, shared by Q and K; integer
 *     coefficients C_b in [0, table_size); bucket f(x) = (sum_b 1[r_b.x > 0] C_b) mod table_size.
 *   - q_i, k_j collide if f(q_i) == f(k_j) under any of num_hashes functions (combine=or; =and: all).
 *   - symmetric=transposed-fill: only colliding i <= j are computed, s = q_i.k_j goes to A[i,j] and
 *     A[j,i]; symmetric=none: s = q_i.k_j for every colliding (i,j), written only there.
 *   - fill=zero: other logits are 0 (still softmax-weighted); fill=masked: other logits excluded,
 *     a row with no colliding unpadded key keeps its diagonal q_i.k_i.
 *   - then /sqrt(D), padding keys excluded, softmax, attention dropout (exact.cc's mask), P V.
 *   - hashes redrawn per (batch, head) per call: Philox keyed by (seed, Stream::Attention, step or
 *     0xFFFFFFFF for reseed=fixed, site, b, h); see bert_lsh_family_index().
 * Two execution paths, same results (tests compare both with a dense replay of Algorithm 1):
 *   - blocked (bert_lsh_block.cc), T >= bert_lsh_block_min_tokens() with one hash function or
 *     combine=and: collisions are disjoint buckets; per (b, h, bucket) dense gemms on gathered
 *     rows (G = Q_b K_b^T, P V, and the backward), the reference's triangle / padding rules
 *     applied on the block. Counters: dot_products = unpadded pairs the semantics use (as the
 *     pair path, see attention.h); flops_* = the full blocks executed (both triangles of a
 *     bucket, about 2x the used pairs).
 *   - pairs (bert_lsh.cc): bucket sort, enumerate pairs, dot products of those pairs only, sparse
 *     softmax / P V / backward. Small T and combine=or with several hash functions (overlapping
 *     buckets) use it.
 * fill=zero stays O(work on collisions + T D) on both through the exact split P = c_i (uniform
 * over unpadded keys) + correction on the collisions; with dropout it falls back to dense.
 * Hashing is not differentiated. Not here: GPU kernels, the collision benchmark driver.
 */
#pragma once
#include <cstdint>
#include <vector>

#include "attention/attention.h"
#include "core/common.h"

namespace lshlab {

struct BertLshConfig {
  int bands = 2;          // hyperplanes per hash function
  int table_size = 64;    // bucket range m (the reference pretraining used 256; with bands=2 there
                          // are <= 4 sign patterns, so m only matters where patterns merge mod m)
  int num_hashes = 1;
  bool fill_masked = false, symmetric_none = false, combine_and = false, reseed_fixed = false;
};
// Validates params (errors name the parameter); throws lshlab::Error.
BertLshConfig bert_lsh_parse(const AttentionParams& params);

// Eight N(0,1) normals from eight Philox words: float Box-Muller on pairs (w[2p], w[2p+1]),
// z[2p] = r cos(2 pi u2), z[2p+1] = r sin(2 pi u2), r = sqrt(-2 ln u1), u1 = ((w >> 8) + 1) / 2^24,
// u2 = (w >> 8) / 2^24, with polynomial log/sin/cos (Cephes float minimax, ~1e-7 relative; no
// libm). bert_lsh_normal8 is the SSE2 version, bit-identical to the scalar definition.
void bert_lsh_normal8(const uint32_t w[8], float z[8]);
void bert_lsh_normal8_scalar(const uint32_t w[8], float z[8]);

// One draw of the hash family. planes (num_hashes, bands, D) ~ N(0,1) (float values), coef
// (num_hashes, bands) in [0, table_size). Draw `family` uses Philox uint32 indices
// [family << 20, (family + 1) << 20) of stream Attention at `step`: normal j from the Box-Muller
// pair on words (j & ~1, j | 1) (bert_lsh_normal8; <= 2^18 normals), coefficients from word 2^19
// on (C = (u32 * m) >> 32). (Until this version normal j was philox_normal(base / 2 + j), double
// Box-Muller on libm, cos only: 2 words per normal; it cost ~2.8x exact attention at n = 10.)
struct BertLshFamily {
  int D = 0, bands = 0, num_hashes = 0, table_size = 0;
  std::vector<double> planes;
  std::vector<int32_t> coef;
  void draw(int D, const BertLshConfig& cfg, uint64_t seed, uint32_t step, uint64_t family);
  // Bucket of x (D values) under hash function h; projections accumulate in double.
  template <typename T>
  int32_t bucket(int h, const T* x, int64_t stride = 1) const;
};

// The family of (site, b, h) inside one call: (site << 32) | (b << 16) | h (site < 4096,
// b, h < 65536, checked by the variant).
inline uint64_t bert_lsh_family_index(uint32_t site, int b, int h) {
  return (uint64_t(site) << 32) | (uint64_t(b) << 16) | uint64_t(h);
}

// Colliding pairs from bucket ids qb, kb (num_hashes, n): appends (pi[p], pj[p]) grouped by
// query row i, each (i, j) once; upper_only keeps j >= i. Counting sort of keys per hash when
// table_size is small, std::sort otherwise; combine=or dedupes with a per-key visited stamp.
struct BertLshScratch {
  std::vector<int32_t> korder, kstart, qlo, qhi, stamp;
  std::vector<uint64_t> packed;
};
void bert_lsh_collisions(std::vector<int32_t>& pi, std::vector<int32_t>& pj, const int32_t* qb,
                         const int32_t* kb, int n, int num_hashes, int table_size, bool upper_only,
                         bool combine_and, BertLshScratch& s);

// The blocked dense path (one hash, or combine=and) is used for sequences of at least this many
// tokens; tests lower it to 0 to run it on small cases. Default 96 (below, the pair path is faster).
void bert_lsh_set_block_min_tokens(int n);
int bert_lsh_block_min_tokens();

// For the collision benchmark: do x and y (D doubles) collide under draw `draw` of the family
// (Philox seed `seed`, step 0, family index `draw`)?
bool bert_lsh_collide(const double* x, const double* y, int D, int bands, int table_size,
                      int num_hashes, bool combine_and, uint64_t seed, uint64_t draw);
// Collision probability of two vectors at `angle` (radians), averaged over draws. Models one hash
// function exactly: same sign pattern (p^bands, p = 1 - angle/pi) or, patterns differing, equal
// values mod table_size, which has probability exactly 1/m because the coefficients are uniform
// on [0, m): P1 = p^r + (1 - p^r)/m. The paper writes p^r + 1/m (it counts the merge twice).
// num_hashes independent functions: or -> 1 - (1 - P1)^n, and -> P1^n.
double bert_lsh_collision_theory(double angle, int bands, int table_size, int num_hashes,
                                 bool combine_and);

template <typename T>
class BertLshAttention : public Attention<T> {
 public:
  explicit BertLshAttention(const BertLshConfig& cfg) : cfg_(cfg) {}
  const char* name() const override { return "bert-lsh"; }
  void forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call) override;
  void backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                const AttentionCall& call) override;
  // "shape" [B, H, num_hashes, bands, D], "planes" (B,H,num_hashes,bands,D), "coefficients"
  // (B,H,num_hashes,bands), "table_size" [m]: every (b, h) of the last call.
  std::vector<std::pair<std::string, std::vector<double>>> debug_state() const override;

 private:
  struct Head {  // one (b, h) of the last call; vectors keep their capacity between calls
    BertLshFamily fam;
    BertLshScratch scratch;
    std::vector<int32_t> qb, kb;          // (num_hashes, T) bucket ids
    std::vector<int32_t> pi, pj;          // (P) computed pairs: s[p] = q_pi . k_pj
    std::vector<T> s, ds;                 // (P) raw dot products and their gradient
    std::vector<int64_t> row_ptr, cur;    // (T+1) CSR over query rows; unpadded keys only
    std::vector<int32_t> ecol, epair;     // (E) key column and pair of each entry
    std::vector<T> ep, edp;               // (E) probabilities (before dropout); backward scratch
    std::vector<uint8_t> ekeep;           // (E) dropout keep (fill=masked, training)
    std::vector<T> crow;                  // (T) probability of every zero-logit key (fill=zero)
    std::vector<T> colsum;                // (D) sum of V over unpadded keys (fill=zero)
    // Blocked path (bert_lsh_block.cc): rows grouped by bucket, per-row partial softmax / rowdot
    // statistics of the U part (row as query) and the L part (row as key, transposed fill).
    std::vector<int32_t> qrows, krows, degU, degL;
    std::vector<uint64_t> key;
    std::vector<double> mU, sU, mL, sL, rdU, rdL, srU, srL;
    std::vector<uint8_t> hasU, hasL;      // row written by a U / L block product
    std::vector<T> side;                  // (T, D) ctx from L blocks; dV from L blocks (backward)
    int nvalid = 0;
    int64_t fallback = 0;                 // fill=masked diagonal rows (deg 0, unpadded)
    int64_t udots = 0;                    // scored pairs with both tokens unpadded, incl. fallback
  };
  // One bucket of one (b, h) on the blocked path: query rows qrows[q0, q0+qn), key rows
  // krows[k0, k0+kn); its (qn, kn) matrices start at arena offset `off`.
  struct Block { int bh, q0, qn, k0, kn; int64_t off; };
  void build_rows(Head& hd, int n, const int32_t* m) const;
  void count_pairs(const int32_t* mask, int B, int n, int H);  // counters from heads_[].udots
  bool blocked_ok(int n, bool drop) const;
  void forward_blocked(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& c);
  void backward_blocked(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                        const AttentionCall& c);
  bool blocked_ = false;
  std::vector<double> stage_times_;       // small calls: per (b, h) stage times, kept allocated
  std::vector<Block> blocks_;
  std::vector<T> pu_, pl_, du_, dl_;      // (sum of qn kn) P of U / L entries, dP raw
  std::vector<uint8_t> ku_, kl_;          // dropout keep of U / L entries
  BertLshConfig cfg_;
  std::vector<Head> heads_;  // (B*H)
  int B_ = 0, H_ = 0, D_ = 0;
  bool dense_ = false;       // fill=zero with dropout: dense P' kept for P'V (as exact)
  Buffer<T> probs_, dropped_;
  Buffer<uint8_t> keep_;
};

}  // namespace lshlab
