/*
 * test_cuda_bert_lsh.cc: CUDA parity tests of BERT-LSH attention (native/cuda/bert_lsh_*.cu)
 * against the CPU variant (attention/bert_lsh.h) on the same inputs and draws (seed, step, site):
 *   planes, coef  vs BertLshFamily::draw: bit for bit (float Box-Muller, polynomial log/sin/cos)
 *   codes         vs BertLshFamily::bucket<float> of every q and k row: equal
 *   ctx, dqkv     vs BertLshAttention<double> (relative L2 error <= 1e-5 / 1e-4)
 *   counts        vs the CPU counters' head_dot_products and head_collisions: equal
 * for every option (fill x symmetric x combine, num_hashes 1 and 3, reseed fixed), with padding
 * (one sequence all padding), odd T, D not a multiple of 32, dropout on (training) and off, and
 * the CPU's pair and blocked paths (bert_lsh_block_min_tokens lowered, and T = 100 above the
 * default); bitwise reproducibility; the layer (make_cuda_bert_lsh) and its counters; the sorted
 * and dense kernel paths (LSHLAB_CUDA_BERT_LSH_PATH) on the same cases (also one bucket of all).
 * Why inputs are screened: a band whose projection lies within rounding of 0 may flip between
 * the CPU's float-row and double-row summation orders, moving a whole bucket; rows with a
 * projection within 1e-6 of 0 are redrawn. Skipped, with the loader's reason, without CUDA.
 * The case, run and check helpers are shared (test_cuda_bert_lsh.h) with
 * test_cuda_bert_lsh_zero.cc (fill=zero's sorted path).
 */
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "attention/bert_lsh.h"
#include "backend/device_buffer.h"
#include "cuda_harness.h"
#include "model/cuda_attention_variant.h"
#include "test_cuda_bert_lsh.h"
#include "test_registry.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

namespace cuda_bert_lsh_test {

BertLshConfig config(const Case& c) {
  BertLshConfig k;
  k.bands = c.bands; k.table_size = c.table; k.num_hashes = c.nh;
  k.fill_masked = c.masked; k.symmetric_none = c.symn; k.combine_and = c.andc; k.reseed_fixed = c.reseed;
  return k;
}
lshlab_cuda_bert_lsh_params params(const Case& c) {
  return {c.bands, c.table, c.nh, c.masked, c.symn, c.andc, c.reseed};
}

Inputs make_inputs(const Case& c, unsigned seed) {
  const int C = c.H * c.D;
  Inputs in;
  in.qkv = random_floats(size_t(c.B) * c.T * 3 * C, seed, -c.scale, c.scale);
  in.dctx = random_floats(size_t(c.B) * c.T * C, seed + 1);
  in.mask.assign(size_t(c.B) * c.T, 1);
  if (c.pad)
    for (int b = 0; b < c.B; b++)
      for (int t = 0; t < c.T; t++)
        if (b == 2 || t >= c.T - 3 * (b + 1) || t % 5 == 2) in.mask[size_t(b) * c.T + t] = 0;
  std::mt19937 rng(seed + 2);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  for (int b = 0; b < c.B; b++)
    for (int h = 0; h < c.H; h++) {
      BertLshFamily f;
      f.draw(c.D, config(c), kSeed, c.reseed ? 0xFFFFFFFFu : kStep, bert_lsh_family_index(kSite, b, h));
      for (int t = 0; t < c.T; t++)
        for (int part = 0; part < 2; part++) {
          float* x = &in.qkv[(size_t(b) * c.T + t) * 3 * C + part * C + h * c.D];
          for (bool tie = true; tie;) {
            tie = false;
            for (size_t r = 0; r < size_t(c.nh) * c.bands && !tie; r++) {
              double p = 0;
              for (int d = 0; d < c.D; d++) p += f.planes[r * c.D + d] * x[d];
              tie = std::fabs(p) < 1e-6;
            }
            if (tie) for (int d = 0; d < c.D; d++) x[d] = c.scale * uni(rng);
          }
        }
    }
  return in;
}

GpuOut run_gpu(const Api& a, const Case& c, const Inputs& in) {
  const int B = c.B, T = c.T, H = c.H, D = c.D;
  const size_t BH = size_t(B) * H;
  const lshlab_cuda_bert_lsh_params p = params(c);
  size_t bytes = 0;
  ok(a, a.bert_lsh_workspace_size(&bytes, B, T, H, D, &p), "bert_lsh_workspace_size");
  DeviceBuffer<unsigned char> ws(a, bytes);
  DeviceBuffer<float> qkv(a, in.qkv), dctx(a, in.dctx), ctx(a, in.dctx.size()), dqkv(a, in.qkv.size()),
      stats(a, 2 * BH * T), planes(a, BH * c.nh * c.bands * D);
  DeviceBuffer<int32_t> mask(a, in.mask), codes(a, 2 * BH * c.nh * T), coef(a, BH * c.nh * c.bands);
  DeviceBuffer<double> counts(a, 2 * size_t(H));
  ws.poison(); ctx.poison(); dqkv.poison(); stats.poison(); planes.poison(); codes.poison(); coef.poison();
  counts.poison();
  const lshlab_cuda_dropout dr{kDrop, kSeed, kStep, kSite};
  const lshlab_cuda_dropout* dp = c.drop ? &dr : nullptr;
  const int32_t* mp = c.pad ? mask.get() : nullptr;
  ok(a, a.bert_lsh_forward(ctx.get(), stats.get(), codes.get(), planes.get(), coef.get(), counts.get(),
                           ws.get(), qkv.get(), mp, B, T, H, D, &p, kSeed, kStep, kSite, dp),
     "bert_lsh_forward");
  ok(a, a.bert_lsh_backward(dqkv.get(), ws.get(), dctx.get(), qkv.get(), ctx.get(), stats.get(),
                            codes.get(), mp, B, T, H, D, &p, dp),
     "bert_lsh_backward");
  return {ctx.download(), dqkv.download(), stats.download(), planes.download(), codes.download(),
          coef.download(), counts.download()};
}

CpuOut run_cpu(const Case& c, const Inputs& in) {
  BertLshAttention<double> ref(config(c));
  AttentionCall call;
  call.B = c.B; call.T = c.T; call.H = c.H; call.D = c.D;
  call.training = c.drop; call.dropout = c.drop ? kDrop : 0.0;
  call.seed = kSeed; call.step = kStep; call.site = kSite;
  const std::vector<double> qkv = to_double(in.qkv), dctx = to_double(in.dctx);
  CpuOut o;
  o.ctx.assign(dctx.size(), 0.0);
  o.dqkv.assign(qkv.size(), 0.0);
  const int32_t* mk = c.pad ? in.mask.data() : nullptr;
  bert_lsh_set_block_min_tokens(c.min_tokens);
  ref.forward(o.ctx.data(), qkv.data(), mk, call);
  ref.backward(o.dqkv.data(), dctx.data(), qkv.data(), mk, call);
  bert_lsh_set_block_min_tokens(96);
  o.k = ref.counters();
  for (auto& e : ref.debug_state()) {
    if (e.first == "planes") o.planes = e.second;
    if (e.first == "coefficients") o.coef = e.second;
  }
  return o;
}

void set_path(const char* p) {
  p ? setenv("LSHLAB_CUDA_BERT_LSH_PATH", p, 1) : unsetenv("LSHLAB_CUDA_BERT_LSH_PATH");
}

EmulatedSmem::EmulatedSmem(const char* bytes) { setenv("LSHLAB_EMU_SMEM_OPTIN", bytes, 1); }
EmulatedSmem::~EmulatedSmem() { unsetenv("LSHLAB_EMU_SMEM_OPTIN"); }

bool check_case(const Api& a, const Case& c, GpuOut* out) {
  const int B = c.B, T = c.T, H = c.H, D = c.D, C = H * D;
  const Inputs in = make_inputs(c, unsigned(T * 131 + D * 7 + c.bands + 3 * c.nh));
  const GpuOut g = run_gpu(a, c, in);
  if (out) *out = g;
  const CpuOut r = run_cpu(c, in);
  size_t plane_diff = r.planes.size() != g.planes.size(), coef_diff = r.coef.size() != g.coef.size();
  for (size_t e = 0; e < r.planes.size() && !plane_diff; e++) plane_diff += double(g.planes[e]) != r.planes[e];
  for (size_t e = 0; e < r.coef.size() && !coef_diff; e++) coef_diff += double(g.coef[e]) != r.coef[e];
  size_t code_diff = 0;
  const size_t BHT = size_t(B) * H * T;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      BertLshFamily f;
      f.draw(D, config(c), kSeed, c.reseed ? 0xFFFFFFFFu : kStep, bert_lsh_family_index(kSite, b, h));
      for (int gh = 0; gh < c.nh; gh++)
        for (int t = 0; t < T; t++)
          for (int side = 0; side < 2; side++) {
            const float* x = &in.qkv[(size_t(b) * T + t) * 3 * C + side * C + h * D];
            const size_t at = side * BHT * c.nh + ((size_t(b) * H + h) * c.nh + gh) * T + t;
            code_diff += g.codes[at] != f.bucket(gh, x);
          }
    }
  size_t count_diff = 0;
  double fallbacks = 0;
  for (int h = 0; h < H; h++) {
    count_diff += g.counts[size_t(h)] != r.k.head_dot_products[size_t(h)];
    count_diff += g.counts[size_t(h)] - g.counts[size_t(H + h)] != r.k.head_collisions[size_t(h)];
    fallbacks += g.counts[size_t(H + h)];
  }
  const double e_ctx = rel_error(g.ctx, r.ctx), e_dqkv = rel_error(g.dqkv, r.dqkv);
  const char* path = std::getenv("LSHLAB_CUDA_BERT_LSH_PATH");
  const bool pass = plane_diff == 0 && coef_diff == 0 && code_diff == 0 && count_diff == 0 &&
                    e_ctx <= 1e-5 && e_dqkv <= 1e-4;
  std::fprintf(stderr,
               "    %s %s B%d T%d H%d D%d bands %d m %d nh %d %s %s %s%s%s%s x%g cpu-min %d: planes %s, "
               "codes diff %zu, dots %.0f (fallbacks %.0f) %s; rel err ctx %.2g dqkv %.2g\n",
               pass ? "ok  " : "FAIL", path ? path : "auto", B, T, H, D, c.bands, c.table, c.nh,
               c.masked ? "masked" : "zero", c.symn ? "none" : "transposed", c.andc ? "and" : "or", c.reseed ? " fixed" : "",
               c.pad ? " padded" : "", c.drop ? " dropout" : "", double(c.scale), c.min_tokens,
               plane_diff + coef_diff ? "DIFFER" : "bit-equal", code_diff, r.k.dot_products, fallbacks,
               count_diff ? "COUNTS DIFFER" : "counts equal", e_ctx, e_dqkv);
  return pass;
}

}  // namespace cuda_bert_lsh_test

using namespace cuda_bert_lsh_test;

LSHLAB_TEST("cuda/bert_lsh/every option matches BertLshAttention on the same draws") {
  CUDA_TEST_API(a);
  int n = 0;
  for (int masked = 0; masked < 2; masked++)
    for (int symn = 0; symn < 2; symn++)
      for (int hc = 0; hc < 3; hc++)  // (nh, combine): (1, or), (3, or), (3, and)
        for (int drop = 0; drop < 2; drop++, n++) {
          Case c{3, 37, 2, 24, 2 + n % 5, n % 3 == 0 ? 64 : 7, hc == 0 ? 1 : 3, masked == 1, symn == 1,
                 hc == 2, n % 4 == 1, true, drop == 1, n % 2 == 0 ? 8 : 96};
          if (n % 3 == 2) { c.B = 1; c.T = 45; c.H = 1; c.D = 40; c.pad = false; }
          LSHLAB_EXPECT(check_case(a, c));
        }
}

LSHLAB_TEST("cuda/bert_lsh/sorted and dense paths both match the CPU on disjoint buckets") {
  CUDA_TEST_API(a);
  std::vector<Case> cases;
  for (int symn = 0; symn < 2; symn++)
    for (int hc = 0; hc < 2; hc++)  // (nh, combine): (1, or), (3, and)
      for (int drop = 0; drop < 2; drop++)
        cases.push_back({2, 37 + 8 * hc, 2, 24, 2 + drop + hc, 7 + 57 * symn, hc ? 3 : 1, true,
                         symn == 1, hc == 1, drop == 1, true, drop == 1, 96});
  cases.push_back({1, 100, 1, 16, 2, 1, 1, true, false, false, false, true, true, 96});  // one bucket
  cases.push_back({1, 40, 1, 128, 2, 1, 1, true, true, false, false, false, false, 96});  // D 128
  cases.push_back({1, 130, 1, 32, 3, 64, 2, true, false, true, false, true, false, 96});  // long ranges
  cases.push_back({1, 1, 1, 8, 2, 64, 1, true, false, false, false, false, false, 96});   // one token
  for (const Case& c : cases) {
    const EmulatedSmem sm90("232448");
    GpuOut sorted, dense;
    set_path("sorted");
    LSHLAB_EXPECT(check_case(a, c, &sorted));
    set_path("dense");
    LSHLAB_EXPECT(check_case(a, c, &dense));
    set_path(nullptr);
    const double e_ctx = rel_error(sorted.ctx, to_double(dense.ctx)),
                 e_dqkv = rel_error(sorted.dqkv, to_double(dense.dqkv));
    std::fprintf(stderr, "    sorted vs dense: rel err ctx %.2g dqkv %.2g\n", e_ctx, e_dqkv);
    LSHLAB_EXPECT(e_ctx <= 1e-5 && e_dqkv <= 1e-4 && sorted.counts == dense.counts);
  }
}

LSHLAB_TEST("cuda/bert_lsh/long rows, D 128 and the CPU's blocked path") {
  CUDA_TEST_API(a);
  const Case cases[] = {
      {1, 100, 1, 16, 2, 64, 1, false, false, false, false, true, false, 96},  // blocked on the CPU
      {1, 100, 1, 16, 3, 64, 1, true, false, false, false, true, true, 96},    // + dropout, masked
      {1, 100, 1, 16, 2, 64, 2, true, true, true, true, false, false, 96},     // and, none, fixed
      {1, 33, 1, 128, 4, 16, 2, true, false, false, false, true, true, 96},    // D 128, 2 tiles
      {1, 1, 1, 8, 2, 64, 1, true, false, false, false, false, false, 96},     // one token
  };
  for (const Case& c : cases) LSHLAB_EXPECT(check_case(a, c));
}

LSHLAB_TEST("cuda/bert_lsh/repeats bit for bit") {
  CUDA_TEST_API(a);
  Case c{2, 40, 2, 16, 3, 64, 3, false, false, false, false, true, true, 96};
  for (int sorted = 0; sorted < 2; sorted++) {  // the dense path, then the sorted one
    if (sorted) { c.masked = c.andc = true; set_path("sorted"); }
    const Inputs in = make_inputs(c, 5);
    const GpuOut one = run_gpu(a, c, in), two = run_gpu(a, c, in);
    LSHLAB_EXPECT(one.ctx == two.ctx && one.dqkv == two.dqkv && one.stats == two.stats);
    LSHLAB_EXPECT(one.codes == two.codes && one.counts == two.counts);
  }
  set_path(nullptr);
}

LSHLAB_TEST("cuda/bert_lsh/the layer's counters equal the CPU variant's") {
  CUDA_TEST_API(a);
  const Case c{2, 37, 2, 32, 3, 64, 1, true, false, false, false, true, true, 96};
  const Inputs in = make_inputs(c, 11);
  BertConfig cfg;
  cfg.hidden_size = c.H * c.D;
  cfg.num_attention_heads = c.H;
  cfg.attention = "bert-lsh";
  cfg.attention_params = {{"bands", "3"}, {"fill", "masked"}};
  LSHLAB_EXPECT(cuda_bert_lsh_unsupported(cfg).empty());
  auto v = make_cuda_bert_lsh(&a, cfg);
  DeviceArray<unsigned char> ws;
  ws.bind(&a);
  DeviceBuffer<float> qkv(a, in.qkv), dctx(a, in.dctx), ctx(a, in.dctx.size()), dqkv(a, in.qkv.size());
  DeviceBuffer<int32_t> mask(a, in.mask);
  const lshlab_cuda_dropout dr{kDrop, kSeed, kStep, kSite};
  v->forward(ctx.get(), qkv.get(), mask.get(), c.B, c.T, &dr, kSeed, kStep, kSite, ws);
  v->backward(dqkv.get(), dctx.get(), qkv.get(), ctx.get(), mask.get(), c.B, c.T, &dr, ws);
  AttentionCounters k;
  v->counters(k, in.mask.data(), c.B, c.T, true);
  const CpuOut r = run_cpu(c, in);
  LSHLAB_EXPECT(k.pairs == r.k.pairs && k.dot_products == r.k.dot_products && k.collisions == r.k.collisions);
  LSHLAB_EXPECT(k.head_dot_products == r.k.head_dot_products && k.head_collisions == r.k.head_collisions);
  LSHLAB_EXPECT(k.flops_hash == r.k.flops_hash);
  LSHLAB_EXPECT(expect_close("layer ctx", ctx.download(), r.ctx, 1e-5));
  LSHLAB_EXPECT(expect_close("layer dqkv", dqkv.download(), r.dqkv, 1e-4));
}

LSHLAB_TEST("cuda/bert_lsh/rejects bad shapes with a message") {
  CUDA_TEST_API(a);
  size_t bytes = 0;
  lshlab_cuda_bert_lsh_params p{2, 64, 1, 0, 0, 0, 0};
  LSHLAB_EXPECT(a.bert_lsh_workspace_size(&bytes, 1, 8, 1, 256, &p) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("128") != std::string::npos);
  p.num_hashes = 65;
  LSHLAB_EXPECT(a.bert_lsh_workspace_size(&bytes, 1, 8, 1, 64, &p) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("num_hashes") != std::string::npos);
  p.num_hashes = 1;
  LSHLAB_EXPECT(a.bert_lsh_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                   nullptr, nullptr, 1, 8, 1, 64, &p, 1, 0, 4096, nullptr) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("site") != std::string::npos);
}

LSHLAB_TEST("cuda/bert_lsh/a GPU with 99 KiB of shared memory per block keeps D 128 on the dense path") {
  CUDA_TEST_API(a);
  // The sorted backward needs ~107 KiB at D = 128: forcing the sorted path on such a GPU
  // (emulated here; a real GPU has its own limit) runs the dense kernels and still matches.
  const EmulatedSmem sm86("101376");
  set_path("sorted");
  LSHLAB_EXPECT(check_case(a, {1, 40, 1, 128, 2, 1, 1, true, true, false, false, false, false, 96}));
  set_path(nullptr);
}
