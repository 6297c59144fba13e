/*
 * test_cuda_reformer.cc: CUDA parity tests of Reformer LSH attention (native/cuda/reformer_*.cu
 * and model/cuda_attention_reformer.cc) against the CPU variant (attention/reformer.h) on the
 * same inputs and draws (seed, step, site):
 *   rotations  vs ReformerAttention<double>'s "rotations" rounded to float: bit for bit, or at
 *              most 1 float ulp where the device's float64 log/cos round differently (counted)
 *   buckets    vs the CPU's "buckets" from both ReformerAttention<double> and <float>: equal
 *   ctx, dqkv  vs ReformerAttention<double> (relative L2 <= 1e-5 for ctx, 1e-4 for dqkv) and
 *              ReformerAttention<float> (the same bounds)
 *   counters   of the CUDA layer vs the CPU's (every field but the times): equal
 * over num_hashes 1..3, chunk_length 4..40 with T not a multiple (one and two query tiles per
 * chunk), before/after 0..2 (windows with duplicate chunks), num_buckets auto and explicit (300:
 * two radix passes), padding, standard mode (T <= chunk_length), attention dropout on and off,
 * D 8..128 (odd, not a multiple of 32); and bitwise reproducibility (the layer's second run
 * equals the ABI's first on other buffers), bad parameters refused with a message.
 * Why inputs are screened: a bucket is an argmax over projections, and two projections within
 * float rounding of each other may order differently under any two summation orders (the CPU's
 * float and double paths too); query rows whose best two projections lie within 1e-3 are redrawn.
 * Emulation cost: every block runs 256 host threads, so the cases are small (the file runs in
 * seconds there). Skipped, with the loader's reason, without a usable CUDA device.
 */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "attention/reformer.h"
#include "cuda_harness.h"
#include "model/cuda_attention_variant.h"
#include "test_registry.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

namespace {

constexpr uint64_t kSeed = 91;
constexpr uint32_t kStep = 4, kSite = 6;

struct Case { int B, T, H, D, R, nb, c, bef, aft; bool masked; double drop; };

AttentionParams params_of(const Case& c) {
  return {{"num_hashes", std::to_string(c.R)},
          {"num_buckets", c.nb ? std::to_string(c.nb) : "auto"},
          {"chunk_length", std::to_string(c.c)},
          {"num_chunks_before", std::to_string(c.bef)},
          {"num_chunks_after", std::to_string(c.aft)}};
}
lshlab_cuda_reformer_params abi_params(const Case& c) { return {c.R, c.nb, c.c, c.bef, c.aft}; }
AttentionCall call_of(const Case& c) {
  AttentionCall k;
  k.B = c.B; k.T = c.T; k.H = c.H; k.D = c.D; k.training = c.drop > 0; k.dropout = c.drop;
  k.seed = kSeed; k.step = kStep; k.site = kSite;
  return k;
}

struct Inputs { std::vector<float> qkv, dctx; std::vector<int32_t> mask; };
struct Cpu { std::vector<double> ctx, dqkv, rot, buckets; AttentionCounters k; };

template <typename F>
Cpu run_cpu(const Case& c, const Inputs& in) {
  ReformerAttention<F> ref(ReformerParams::parse(params_of(c)));
  const std::vector<F> qkv(in.qkv.begin(), in.qkv.end()), dctx(in.dctx.begin(), in.dctx.end());
  std::vector<F> ctx(in.dctx.size()), dqkv(in.qkv.size());
  const int32_t* mk = c.masked ? in.mask.data() : nullptr;
  ref.forward(ctx.data(), qkv.data(), mk, call_of(c));
  ref.backward(dqkv.data(), dctx.data(), qkv.data(), mk, call_of(c));
  Cpu r{{ctx.begin(), ctx.end()}, {dqkv.begin(), dqkv.end()}, {}, {}, ref.counters()};
  for (auto& [name, v] : ref.debug_state()) {
    if (name == "rotations") r.rot = v;
    if (name == "buckets") r.buckets = v;
  }
  return r;
}

// Random inputs whose unpadded query rows have a margin >= 1e-3 between their best two
// projections [xR, -xR] on every round (the CPU's float64 rotations).
Inputs make_inputs(const Case& c, unsigned seed) {
  const int C = c.H * c.D, T = c.T, D = c.D;
  Inputs in{random_floats(size_t(c.B) * T * 3 * C, seed), random_floats(size_t(c.B) * T * C, seed + 1),
            std::vector<int32_t>(size_t(c.B) * T, 1)};
  if (c.masked)
    for (int b = 0; b < c.B; b++)
      for (int t = 0; t < T; t++) in.mask[size_t(b) * T + t] = !(t >= T - 2 * (b + 1) || t % 5 == 2);
  if (T <= c.c) return in;  // standard mode: no hash
  const std::vector<double> rot = run_cpu<double>(c, in).rot;  // depends on the shape only
  const int nb = int(rot.size() / (size_t(c.B) * c.H * D * c.R)) * 2, RN = c.R * nb / 2;
  std::mt19937 rng(seed + 2);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  for (int b = 0; b < c.B; b++)
    for (int h = 0; h < c.H; h++)
      for (int t = 0; t < T; t++)
        for (bool tie = true; tie;) {
          float* x = &in.qkv[(size_t(b) * T + t) * 3 * C + h * D];
          const double* R0 = &rot[(size_t(b) * c.H + h) * D * RN];
          tie = false;
          for (int r = 0; r < c.R && !tie; r++) {
            std::vector<double> v;
            for (int k = 0; k < nb / 2; k++) {
              double s = 0;
              for (int d = 0; d < D; d++) s += double(x[d]) * R0[size_t(d) * RN + r * nb / 2 + k];
              v.push_back(s);
              v.push_back(-s);
            }
            std::sort(v.rbegin(), v.rend());
            tie = v[0] - v[1] < 1e-3;
          }
          if (tie) for (int d = 0; d < D; d++) x[d] = uni(rng);
        }
  return in;
}

struct Gpu { std::vector<float> ctx, dqkv, rot; std::vector<int32_t> buckets; };

Gpu run_gpu(const Api& a, const Case& c, const Inputs& in) {
  const int B = c.B, T = c.T, H = c.H, D = c.D;
  const lshlab_cuda_reformer_params p = abi_params(c);
  size_t st_bytes = 0, ws_bytes = 0;
  ok(a, a.reformer_sizes(&st_bytes, &ws_bytes, B, T, H, D, &p), "reformer_sizes");
  const bool standard = T <= c.c;
  int nb = c.nb;
  if (!standard && nb == 0)
    for (nb = 1; nb * 2 <= 2 * ((T + c.c - 1) / c.c);) nb *= 2;
  DeviceBuffer<unsigned char> st(a, st_bytes), ws(a, ws_bytes);
  DeviceBuffer<float> qkv(a, in.qkv), dctx(a, in.dctx), ctx(a, in.dctx.size()), dqkv(a, in.qkv.size()),
      rot(a, std::max<size_t>(1, size_t(B) * H * D * c.R * (nb / 2)));
  DeviceBuffer<int32_t> mask(a, in.mask), bk(a, std::max<size_t>(1, size_t(B) * H * c.R * T));
  st.poison(); ws.poison(); ctx.poison(); dqkv.poison(); rot.poison(); bk.poison();
  const int32_t* mp = c.masked ? mask.get() : nullptr;
  const lshlab_cuda_dropout drop{c.drop, kSeed, kStep, kSite};
  ok(a, a.reformer_forward(ctx.get(), st.get(), rot.get(), bk.get(), ws.get(), qkv.get(), mp, B,
                           T, H, D, &p, kSeed, kStep, kSite, c.drop > 0 ? &drop : nullptr),
     "reformer_forward");
  ws.poison();  // nothing is kept in the workspace between the calls
  ok(a, a.reformer_backward(dqkv.get(), ws.get(), dctx.get(), qkv.get(), st.get(), mp, B, T, H, D,
                            &p, c.drop > 0 ? &drop : nullptr),
     "reformer_backward");
  Gpu g{ctx.download(), dqkv.download(), {}, {}};
  if (!standard) { g.rot = rot.download(); g.buckets = bk.download(); }
  return g;
}

const Case kCases[] = {
    {2, 19, 2, 24, 3, 0, 4, 1, 1, true, 0.0},    // 3 rounds, auto buckets (8), T % c != 0
    {1, 21, 2, 33, 1, 6, 8, 2, 0, true, 0.1},    // odd D, explicit buckets, dropout
    {2, 13, 1, 16, 2, 4, 4, 2, 2, false, 0.2},   // before = after = 2, dropout, no mask
    {2, 7, 2, 20, 3, 0, 8, 1, 0, true, 0.1},     // standard mode (T <= chunk), dropout
    {1, 10, 1, 32, 1, 0, 8, 1, 1, false, 0.0},   // G = 2 < 3 window chunks: duplicates
    {1, 40, 2, 64, 2, 2, 16, 0, 0, true, 0.0},   // no neighbours, 2 buckets
    {1, 70, 1, 128, 2, 0, 32, 1, 0, true, 0.1},  // D 128, two key tiles per window
    {1, 90, 1, 16, 1, 0, 40, 1, 0, false, 0.0},  // two query tiles per chunk, ragged
    {1, 24, 1, 8, 2, 300, 4, 1, 0, true, 0.0},   // 300 buckets: two radix passes
};

}  // namespace

LSHLAB_TEST("cuda/reformer/forward and backward match ReformerAttention on the same draws") {
  CUDA_TEST_API(a);
  for (const Case& c : kCases) {
    const Inputs in = make_inputs(c, unsigned(c.T * 37 + c.D + c.R));
    const Gpu g = run_gpu(a, c, in);
    const Cpu rd = run_cpu<double>(c, in), rf = run_cpu<float>(c, in);
    size_t exact = 0, far = 0, bdiff = 0;
    LSHLAB_EXPECT(g.rot.size() == rd.rot.size() && g.buckets.size() == rd.buckets.size());
    for (size_t e = 0; e < rd.rot.size() && e < g.rot.size(); e++) {
      const float want = float(rd.rot[e]), got = g.rot[e];
      exact += got == want;
      far += !(std::fabs(got - want) <= std::fabs(std::nextafter(want, 2 * want) - want));
    }
    for (size_t e = 0; e < rd.buckets.size() && e < g.buckets.size(); e++)
      bdiff += (double(g.buckets[e]) != rd.buckets[e]) + (double(g.buckets[e]) != rf.buckets[e]);
    const double e_ctx = rel_error(g.ctx, rd.ctx), e_dqkv = rel_error(g.dqkv, rd.dqkv),
                 f_ctx = rel_error(g.ctx, rf.ctx), f_dqkv = rel_error(g.dqkv, rf.dqkv);
    std::fprintf(stderr,
                 "    B%d T%d H%d D%d R%d nb %d c%d %d/%d%s drop %.1f: rotations %zu/%zu bit-equal, "
                 "bucket diffs %zu; rel err vs double ctx %.2g dqkv %.2g, vs float ctx %.2g dqkv %.2g\n",
                 c.B, c.T, c.H, c.D, c.R, c.nb, c.c, c.bef, c.aft, c.masked ? " masked" : "", c.drop,
                 exact, rd.rot.size(), bdiff, e_ctx, e_dqkv, f_ctx, f_dqkv);
    LSHLAB_EXPECT(far == 0 && bdiff == 0);
    LSHLAB_EXPECT(e_ctx <= 1e-5 && f_ctx <= 1e-5);
    LSHLAB_EXPECT(e_dqkv <= 1e-4 && f_dqkv <= 1e-4);
  }
}

LSHLAB_TEST("cuda/reformer/layer counters equal the CPU's, results repeat bit for bit") {
  CUDA_TEST_API(a);
  for (const Case& c : {kCases[1], kCases[3]}) {  // hashed (with dropout), standard mode
    const Inputs in = make_inputs(c, unsigned(c.T * 37 + c.D + c.R));
    const Gpu g = run_gpu(a, c, in);  // the layer's run below must repeat it bit for bit
    BertConfig cfg;
    cfg.hidden_size = c.H * c.D;
    cfg.num_attention_heads = c.H;
    cfg.attention = "reformer";
    cfg.attention_params = params_of(c);
    LSHLAB_EXPECT(cuda_reformer_unsupported(cfg).empty());
    auto layer = make_cuda_reformer(&a, cfg);
    DeviceArray<unsigned char> ws(&a);
    DeviceBuffer<float> qkv(a, in.qkv), dctx(a, in.dctx), ctx(a, in.dctx.size()), dqkv(a, in.qkv.size());
    DeviceBuffer<int32_t> mask(a, in.mask);
    const int32_t* mp = c.masked ? mask.get() : nullptr;
    const lshlab_cuda_dropout drop{c.drop, kSeed, kStep, kSite};
    const lshlab_cuda_dropout* dp = c.drop > 0 ? &drop : nullptr;
    layer->forward(ctx.get(), qkv.get(), mp, c.B, c.T, dp, kSeed, kStep, kSite, ws);
    layer->backward(dqkv.get(), dctx.get(), qkv.get(), ctx.get(), mp, c.B, c.T, dp, ws);
    LSHLAB_EXPECT(ctx.download() == g.ctx && dqkv.download() == g.dqkv);
    AttentionCounters k;
    layer->counters(k, c.masked ? in.mask.data() : nullptr, c.B, c.T, true);
    const AttentionCounters& w = run_cpu<double>(c, in).k;
    LSHLAB_EXPECT(k.dot_products == w.dot_products && k.pairs == w.pairs && k.collisions == w.collisions);
    LSHLAB_EXPECT(k.head_dot_products == w.head_dot_products && k.head_pairs == w.head_pairs &&
                  k.head_collisions == w.head_collisions);
    LSHLAB_EXPECT(k.flops_hash == w.flops_hash && k.flops_scores == w.flops_scores &&
                  k.flops_softmax == w.flops_softmax && k.flops_values == w.flops_values &&
                  k.flops_backward == w.flops_backward);
    std::fprintf(stderr, "    T%d R%d: dot products %.0f of %.0f pairs (CPU %.0f)\n", c.T, c.R,
                 k.dot_products, k.pairs, w.dot_products);
  }
}

LSHLAB_TEST("cuda/reformer/rejects bad shapes and parameters with a message") {
  CUDA_TEST_API(a);
  size_t s = 0, w = 0;
  lshlab_cuda_reformer_params p{1, 0, 4, 1, 0};
  LSHLAB_EXPECT(a.reformer_sizes(&s, &w, 1, 8, 1, 129, &p) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("128") != std::string::npos);
  p.num_buckets = 5;
  LSHLAB_EXPECT(a.reformer_sizes(&s, &w, 1, 8, 1, 16, &p) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("num_buckets") != std::string::npos);
  p = {0, 0, 4, 1, 0};
  LSHLAB_EXPECT(a.reformer_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                   1, 8, 1, 16, &p, 1, 0, 0, nullptr) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("num_hashes") != std::string::npos);
}
