/*
 * exact_tiled.cc: the tiled (FlashAttention-2 style) float path of exact attention (see exact.h).
 *
 * Forward: one task per (batch, head, block of QB query rows); the task walks key blocks of FKB
 * keys: S = Q K^T / sqrt(D) (packed gemm, single-threaded inside the pool), padding keys -> -inf,
 * online softmax per row (running max m and sum l; the accumulated O is rescaled when m grows),
 * dropout applied to the unnormalised probabilities, O += P' V. At the end ctx = O / l and
 * lse = m + log l. Only lse (B,H,T) is kept.
 *
 * Backward: D_i = rowsum(dctx * ctx) first. Then one task per (batch, head, chunk of key blocks):
 * for each key block of BKB keys and every query block of BQB rows the tile is recomputed
 * (held transposed, keys x queries, so most products read their left operand in place):
 *   P = exp(S - lse_i), P' = P * keep / (1-p), dV += P'^T dO, dP = (dO V^T) * keep / (1-p),
 *   dS = P * (dP - D_i), dK += dS^T Q / sqrt(D), dQ_chunk += dS K / sqrt(D).
 * K^T (forward) and Q^T, dctx^T (backward) are transposed once per call into (B*H, D, ~T)
 * buffers so the tile products' right operands are packed by row copies.
 * dK, dV of a key block are owned by one task; dQ is accumulated per chunk (a fixed number of
 * chunks per (batch, head), independent of the thread count) and the chunks are summed in order
 * afterwards, so results are deterministic and race-free.
 *
 * Dropout: the keep bit of element (b,h,i,j) is recomputed inline from Philox exactly as
 * dropout_mask() (ops.cc) draws element ((b*H+h)*T+i)*T+j of site `site`: counter index
 * (site << 36) + element, lane index % 4, kept iff (u32 >> 8) >= p * 2^24.
 */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "attention/exact.h"
#include "core/philox.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/vecmath.h"

namespace lshlab {
namespace exact_tiled {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Block sizes, measured at T = 8192 (2 threads, D 64; the path runs at long sequences only):
// 384 x 256 forward and 192 x 384 backward tiles took 1.0-1.1 s against 1.3 s for 128 x 128
// (fewer, larger products: less packing of operands per FLOP, longer inner dimensions).
constexpr int QB = 384;   // forward: query rows per task
constexpr int FKB = 256;  // forward: keys per step
constexpr int BKB = 192;  // backward: keys per block (dK, dV accumulators)
constexpr int BQB = 384;  // backward: query rows per step
constexpr int MAX_CHUNKS = 4;  // backward: dQ partial accumulators per (batch, head)
constexpr float NEG_INF = -std::numeric_limits<float>::infinity();

// mul[j] = keep(element first + j) ? scale : 0 for j in [0, n), Philox exactly as dropout_mask.
void dropout_row(float* mul, uint64_t first, int n, uint32_t threshold, float scale, uint64_t seed,
                 uint32_t step) {
  uint64_t idx = first;
  const uint64_t end = first + uint64_t(n);
  while (idx < end) {
    const uint64_t group = idx & ~uint64_t(3);
    uint32_t ctr[4] = {uint32_t(group >> 2), uint32_t(group >> 34), uint32_t(Stream::Dropout),
                       step};
    Philox4x32::generate(ctr, seed);
    for (int l = int(idx - group); l < 4 && idx < end; l++, idx++)
      mul[idx - first] = (ctr[l] >> 8) >= threshold ? scale : 0.0f;
  }
}

struct Dropout {
  bool on = false;
  uint32_t threshold = 0;
  float scale = 1;
  uint64_t seed = 0, base = 0;
  uint32_t step = 0;
  explicit Dropout(const AttentionCall& c) {
    on = c.training && c.dropout > 0;
    if (!on) return;
    threshold = uint32_t(c.dropout * 16777216.0);
    scale = float(1.0 / (1.0 - c.dropout));
    seed = c.seed;
    step = c.step;
    base = uint64_t(c.site) << 36;
  }
  // Multipliers of rows [i0, i0+mq) x keys [j0, j0+nk) of (b,h) into mul (leading dim ldm).
  void tile(float* mul, int ldm, int bh, int T, int i0, int mq, int j0, int nk) const {
    for (int r = 0; r < mq; r++)
      dropout_row(mul + size_t(r) * ldm, base + (uint64_t(bh) * T + uint64_t(i0 + r)) * T + j0, nk,
                  threshold, scale, seed, step);
  }
};

// Key block state under the padding mask: 0 = no padding, 1 = some, 2 = all padding.
int key_block_padding(const int32_t* m, int j0, int nk) {
  if (!m) return 0;
  int pads = 0;
  for (int j = 0; j < nk; j++) pads += m[j0 + j] ? 0 : 1;
  return pads == 0 ? 0 : (pads == nk ? 2 : 1);
}

template <typename V>
V& tl_buffer(V& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v;
}

// Leading dimension of the transposed heads: T rounded up to 16 floats, plus 16 so that rows are
// not a multiple of 4 KiB apart (64 rows read per packed sliver would share L1 sets).
int64_t ldt(int Tn) { return (int64_t(Tn) + 15) / 16 * 16 + 16; }

// out (B*H, D, ldt) <- scale * X^T per (b, h) for X = K (forward), Q or dctx (backward): the tile
// products then read their right operand row-major (packed by row copies) instead of
// transposed (a scalar scatter per tile). src0 is (B,T,ld) with head h at columns col + h*D.
void transpose_heads(float* out, const float* src0, int ld, int col, const AttentionCall& c,
                     float scale) {
  const int Tn = c.T, H = c.H, D = c.D;
  const int tb = 64, ntb = (Tn + tb - 1) / tb;
  ThreadPool::global().parallel_for(c.B * H * ntb, [&](int task) {
    const int bh = task / ntb, t0 = (task % ntb) * tb, t1 = std::min(Tn, t0 + tb);
    const int b = bh / H, h = bh % H;
    const float* src = src0 + int64_t(b) * Tn * ld + col + h * D;
    const int64_t lt = ldt(Tn);
    float* dst = out + int64_t(bh) * D * lt;
    for (int t = t0; t < t1; t++) {
      const float* r = src + int64_t(t) * ld;
      for (int d = 0; d < D; d++) dst[int64_t(d) * lt + t] = r[d] * scale;
    }
  });
}

}  // namespace

void forward(float* ctx, float* lse, const float* qkv, const int32_t* mask, const AttentionCall& c,
             AttentionCounters& counters) {
  const int B = c.B, Tn = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C;
  const float scale = float(1.0 / std::sqrt(double(D)));
  const Dropout drop(c);
  const int nqb = (Tn + QB - 1) / QB;
  auto t0 = Clock::now();
  const int64_t lt = ldt(Tn);
  thread_local std::vector<float> kt_buf;  // K^T / sqrt(D) per head
  float* Kt = tl_buffer(kt_buf, size_t(B) * H * D * lt).data();
  transpose_heads(Kt, qkv, ld, C, c, scale);
  ThreadPool::global().parallel_for(B * H * nqb, [&](int task) {
    const int bh = task / nqb, qb = task % nqb;
    const int b = bh / H, h = bh % H;
    const int i0 = qb * QB, mq = std::min(QB, Tn - i0);
    const float* q = qkv + (int64_t(b) * Tn + i0) * ld + h * D;
    const float* v = qkv + int64_t(b) * Tn * ld + 2 * C + h * D;
    const int32_t* m = mask ? mask + int64_t(b) * Tn : nullptr;
    thread_local std::vector<float> s_buf, o_buf, mul_buf;
    thread_local std::vector<double> l_buf;
    thread_local std::vector<float> mx_buf;
    float* S = tl_buffer(s_buf, size_t(QB) * FKB).data();
    float* O = tl_buffer(o_buf, size_t(QB) * D).data();
    float* mul = drop.on ? tl_buffer(mul_buf, size_t(QB) * FKB).data() : nullptr;
    double* l = tl_buffer(l_buf, QB).data();
    float* mx = tl_buffer(mx_buf, QB).data();
    std::fill(O, O + size_t(mq) * D, 0.0f);
    std::fill(l, l + mq, 0.0);
    std::fill(mx, mx + mq, NEG_INF);
    bool any = false;  // some P' V product accumulated into O
    for (int j0 = 0; j0 < Tn; j0 += FKB) {
      const int nk = std::min(FKB, Tn - j0);
      const int pad = key_block_padding(m, j0, nk);
      if (pad == 2) continue;  // every key padded: contributes exactly 0
      // S = Q_i (K_j / sqrt(D))^T  (mq x nk)
      gemm<float>(false, false, mq, nk, D, 1.0f, q, ld, Kt + int64_t(bh) * D * lt + j0, int(lt),
                  0.0f, S, nk);
      if (drop.on) drop.tile(mul, nk, bh, Tn, i0, mq, j0, nk);
      for (int r = 0; r < mq; r++) {
        float* row = S + size_t(r) * nk;
        if (pad)
          for (int j = 0; j < nk; j++)
            if (!m[j0 + j]) row[j] = NEG_INF;
        const float bm = vec_max(row, nk);
        const float mnew = std::max(mx[r], bm);  // finite: the block has an unpadded key
        if (mnew > mx[r]) {
          if (l[r] > 0) {
            const float alpha = std::exp(mx[r] - mnew);
            l[r] *= alpha;
            float* o = O + size_t(r) * D;
            for (int d = 0; d < D; d++) o[d] *= alpha;
          }
          mx[r] = mnew;
        }
        l[r] += vec_exp_shift_sum(row, row, nk, mx[r]);
        if (drop.on) {
          const float* mr = mul + size_t(r) * nk;
          for (int j = 0; j < nk; j++) row[j] *= mr[j];
        }
      }
      gemm<float>(false, false, mq, D, nk, 1.0f, S, nk, v + int64_t(j0) * ld, ld, 1.0f, O, D);
      any = true;
    }
    float* out = ctx + (int64_t(b) * Tn + i0) * C + h * D;
    float* ls = lse + int64_t(bh) * Tn + i0;
    for (int r = 0; r < mq; r++) {
      float* o = out + int64_t(r) * C;
      if (!any || l[r] <= 0) {  // every key is padding: attend nowhere
        std::fill(o, o + D, 0.0f);
        ls[r] = std::numeric_limits<float>::infinity();
        continue;
      }
      const float inv = float(1.0 / l[r]);
      const float* acc = O + size_t(r) * D;
      for (int d = 0; d < D; d++) o[d] = acc[d] * inv;
      ls[r] = float(double(mx[r]) + std::log(l[r]));
    }
  });
  // Scores, softmax and values run fused in one kernel: its whole time is reported under
  // time_scores_s (time_softmax_s and time_values_s stay 0).
  counters.time_scores_s = seconds_since(t0);
  set_forward_counters(counters, mask, B, Tn, H, D);
}

void set_forward_counters(AttentionCounters& counters, const int32_t* mask, int B, int Tn, int H,
                          int D) {
  const double pairs = double(B) * H * Tn * Tn;  // slots the tiles multiply (flops)
  counters.set_unpadded_pairs(mask, B, Tn, H);
  counters.head_dot_products = counters.head_pairs;
  counters.head_collisions.assign(size_t(H), 0.0);
  counters.sum_heads();
  counters.flops_scores = 2.0 * pairs * D;
  counters.flops_softmax = 5.0 * pairs;
  counters.flops_values = 2.0 * pairs * D;
}

void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx, const float* lse,
              const int32_t* mask, const AttentionCall& c, AttentionCounters& counters) {
  const int B = c.B, Tn = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C;
  const float scale = float(1.0 / std::sqrt(double(D)));
  const Dropout drop(c);
  ThreadPool& pool = ThreadPool::global();
  auto t0 = Clock::now();
  const int nkb = (Tn + BKB - 1) / BKB;
  const int chunks = std::min(nkb, MAX_CHUNKS);
  const int64_t lt = ldt(Tn);
  // Scratch owned by the call: D_i (B,H,T), dQ partials (chunks,B,H,T,D), Q^T / sqrt(D) and
  // dctx^T per head (B*H, D, ldt): all O(T*D).
  thread_local std::vector<float> di_buf, dqp_buf, qt_buf, dot_buf;
  float* Di = tl_buffer(di_buf, size_t(B) * H * Tn).data();
  float* dQp = tl_buffer(dqp_buf, size_t(chunks) * B * H * Tn * D).data();
  const size_t part = size_t(B) * H * Tn * D;  // one chunk's dQ partial
  float* Qt = tl_buffer(qt_buf, size_t(B) * H * D * lt).data();
  float* dOt = tl_buffer(dot_buf, size_t(B) * H * D * lt).data();
  transpose_heads(Qt, qkv, ld, 0, c, scale);
  transpose_heads(dOt, dctx, C, 0, c, 1.0f);

  // D_i = rowsum(dctx * ctx) = sum_j P'_ij dP'_ij (holds with dropout too).
  pool.parallel_for(B * H, [&](int bh) {
    const int b = bh / H, h = bh % H;
    for (int i = 0; i < Tn; i++) {
      const float* o = ctx + (int64_t(b) * Tn + i) * C + h * D;
      const float* g = dctx + (int64_t(b) * Tn + i) * C + h * D;
      float s = 0;
      for (int d = 0; d < D; d++) s += o[d] * g[d];
      Di[int64_t(bh) * Tn + i] = s;
    }
  });

  // Tiles are kept transposed (keys x queries): S^T = K Q^T, so every product but dQ reads its
  // left operand in place (no packing of a transposed tile).
  pool.parallel_for(B * H * chunks, [&](int task) {
    const int bh = task / chunks, ch = task % chunks;
    const int b = bh / H, h = bh % H;
    const int kb0 = int(int64_t(nkb) * ch / chunks), kb1 = int(int64_t(nkb) * (ch + 1) / chunks);
    const float* q = qkv + int64_t(b) * Tn * ld + h * D;
    const float* k = q + C;
    const float* v = q + 2 * C;
    const float* qt = Qt + int64_t(bh) * D * lt;
    const float* dot = dOt + int64_t(bh) * D * lt;
    float* dq = dQp + ch * part + int64_t(bh) * Tn * D;
    float* dk = dqkv + int64_t(b) * Tn * ld + C + h * D;
    float* dv = dk + C;
    const float* dO = dctx + int64_t(b) * Tn * C + h * D;
    const float* ls = lse + int64_t(bh) * Tn;
    const float* di = Di + int64_t(bh) * Tn;
    const int32_t* m = mask ? mask + int64_t(b) * Tn : nullptr;
    thread_local std::vector<float> p_buf, pd_buf, dp_buf, mul_buf, mult_buf, dk_buf, dv_buf;
    float* Pt = tl_buffer(p_buf, size_t(BQB) * BKB).data();
    float* Pdt = drop.on ? tl_buffer(pd_buf, size_t(BQB) * BKB).data() : Pt;
    float* dPt = tl_buffer(dp_buf, size_t(BQB) * BKB).data();
    float* mul = drop.on ? tl_buffer(mul_buf, size_t(BQB) * BKB).data() : nullptr;
    float* mulT = drop.on ? tl_buffer(mult_buf, size_t(BQB) * BKB).data() : nullptr;
    float* dKa = tl_buffer(dk_buf, size_t(BKB) * D).data();
    float* dVa = tl_buffer(dv_buf, size_t(BKB) * D).data();
    std::fill(dq, dq + int64_t(Tn) * D, 0.0f);
    for (int kb = kb0; kb < kb1; kb++) {
      const int j0 = kb * BKB, nk = std::min(BKB, Tn - j0);
      const int pad = key_block_padding(m, j0, nk);
      std::fill(dKa, dKa + size_t(nk) * D, 0.0f);
      std::fill(dVa, dVa + size_t(nk) * D, 0.0f);
      if (pad != 2) {  // an all-padding key block has P = 0: zero gradients
        const float* kj = k + int64_t(j0) * ld;
        const float* vj = v + int64_t(j0) * ld;
        for (int i0 = 0; i0 < Tn; i0 += BQB) {
          const int mq = std::min(BQB, Tn - i0);
          // S^T = K_j (Q_i / sqrt(D))^T  (nk x mq)
          gemm<float>(false, false, nk, mq, D, 1.0f, kj, ld, qt + i0, int(lt), 0.0f, Pt, mq);
          if (drop.on) {  // keep multipliers drawn row-major (queries), stored transposed
            drop.tile(mul, nk, bh, Tn, i0, mq, j0, nk);
            for (int r = 0; r < mq; r++)
              for (int j = 0; j < nk; j++) mulT[size_t(j) * mq + r] = mul[size_t(r) * nk + j];
          }
          const float* lsi = ls + i0;
          for (int j = 0; j < nk; j++) {
            float* row = Pt + size_t(j) * mq;
            if (pad && !m[j0 + j]) {  // padding key: P = 0 in every row
              std::fill(row, row + mq, 0.0f);
            } else {
              for (int r = 0; r < mq; r++) row[r] -= lsi[r];  // lse = +inf (no keys) gives 0
              vec_exp_shift_sum(row, row, mq, 0.0f);
            }
            if (drop.on) {
              float* pd = Pdt + size_t(j) * mq;
              const float* mr = mulT + size_t(j) * mq;
              for (int r = 0; r < mq; r++) pd[r] = row[r] * mr[r];
            }
          }
          // dV += P'^T dO
          gemm<float>(false, false, nk, D, mq, 1.0f, Pdt, mq, dO + int64_t(i0) * C, C, 1.0f, dVa,
                      D);
          // dP'^T = V_j dO_i^T; dS^T = P^T * (dP'^T * keep/(1-p) - D_i)
          gemm<float>(false, false, nk, mq, D, 1.0f, vj, ld, dot + i0, int(lt), 0.0f, dPt, mq);
          const float* dii = di + i0;
          for (int j = 0; j < nk; j++) {
            const float* pr = Pt + size_t(j) * mq;
            float* dr = dPt + size_t(j) * mq;
            if (drop.on) {
              const float* mr = mulT + size_t(j) * mq;
              for (int r = 0; r < mq; r++) dr[r] = pr[r] * (dr[r] * mr[r] - dii[r]);
            } else {
              for (int r = 0; r < mq; r++) dr[r] = pr[r] * (dr[r] - dii[r]);
            }
          }
          // dK += dS^T Q / sqrt(D); dQ_chunk += dS K / sqrt(D)
          gemm<float>(false, false, nk, D, mq, scale, dPt, mq, q + int64_t(i0) * ld, ld, 1.0f, dKa,
                      D);
          gemm<float>(true, false, mq, D, nk, scale, dPt, mq, kj, ld, 1.0f, dq + int64_t(i0) * D,
                      D);
        }
      }
      for (int j = 0; j < nk; j++) {
        std::copy(dKa + size_t(j) * D, dKa + size_t(j + 1) * D, dk + int64_t(j0 + j) * ld);
        std::copy(dVa + size_t(j) * D, dVa + size_t(j + 1) * D, dv + int64_t(j0 + j) * ld);
      }
    }
  });

  // dQ = sum of the chunk partials, in chunk order.
  const int rb = 256, nrb = (Tn + rb - 1) / rb;
  pool.parallel_for(B * H * nrb, [&](int task) {
    const int bh = task / nrb, i0 = (task % nrb) * rb, i1 = std::min(Tn, i0 + rb);
    const int b = bh / H, h = bh % H;
    for (int i = i0; i < i1; i++) {
      float* out = dqkv + (int64_t(b) * Tn + i) * ld + h * D;
      const float* p0 = dQp + (int64_t(bh) * Tn + i) * D;
      for (int d = 0; d < D; d++) out[d] = p0[d];
      for (int ch = 1; ch < chunks; ch++) {
        const float* pc = p0 + ch * part;
        for (int d = 0; d < D; d++) out[d] += pc[d];
      }
    }
  });
  counters.time_backward_s = seconds_since(t0);
  // As the reference (8D + 4 per pair) plus the recomputation of S = Q K^T (2D per pair).
  counters.flops_backward = double(B) * H * Tn * Tn * (10.0 * D + 4.0);
}

}  // namespace exact_tiled
}  // namespace lshlab
