/*
 * test_cuda_attention_bf16.cc: CUDA tests of the bf16 tensor-core exact attention
 * (native/cuda/attention_bf16_forward.cu, attention_bf16_backward.cu; ABI
 * attention_forward_bf16 / attention_backward_bf16) against ExactAttention<double>'s reference
 * path run on bf16-rounded Q, K, V and dctx (rounded here exactly as the device rounds them),
 * at D 64 and 128, ragged T (not multiples of the 64-row tiles), padding masks (a batch row of
 * padding only: lse +inf, ctx 0, zero gradients) and attention dropout (the CPU's keep mask).
 *
 * Tolerances (relative L2, ||got - ref|| / ||ref||): the reference models the rounding of the
 * inputs exactly, and bf16 products are exact in fp32, so the scores, hence lse, are fp32-exact:
 * lse 1e-5 (as the fp32 kernels). The kernels also round P (forward) and P', dS (backward) to bf16
 * before their products, as FlashAttention does; the reference cannot model that (the kernel
 * rounds P relative to a running max, tile by tile), so ctx and dqkv carry ~2^-9 relative
 * rounding per probability: measured in the emulation (2026-12-05) ctx <= 1.6e-3, dqkv <= 1.9e-3,
 * lse <= 4.7e-7 (dropout cases included); bounds 4e-3 and 5e-3, room for a GPU's tensor-core
 * summation order. A wrong scale, tile offset, mask or dropout element gives
 * O(1e-1) or more. To catch a kernel that silently ran fp32, the bf16 ctx and dqkv must also
 * differ from the fp32 kernels' by more than 1e-4 (the fp32 kernels are within 2e-5 of float64;
 * bf16 inputs in [-2, 2] move them by ~2e-3).
 * The model's layer: under precision mode 2 it runs these kernels at D 64 (bit-equal to the ABI
 * calls) and the fp32 kernels at D 32 (bit-equal to attention_forward). Skipped, with the reason,
 * without a usable CUDA device.
 */
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attention/exact.h"
#include "cuda_harness.h"
#include "model/bert_cuda_attention.h"
#include "test_registry.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

namespace {

constexpr double kLseTol = 1e-5, kCtxTol = 4e-3, kDqkvTol = 5e-3, kFromFp32Min = 1e-4;

// x rounded to bf16 (nearest even) and back: the device's __float2bfloat16_rn.
float bf16_round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;  // finite inputs only
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}
std::vector<double> bf16_rounded(const std::vector<float>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); i++) r[i] = bf16_round(v[i]);
  return r;
}

// Row logsumexp of the masked, scaled scores, (B,H,T); +inf for rows with no valid key.
std::vector<double> reference_lse(const std::vector<double>& qkv, const std::vector<int32_t>& mask, int B, int T,
                                  int H, int D) {
  const int C = H * D;
  const double scale = 1.0 / std::sqrt(double(D));
  std::vector<double> lse(size_t(B) * H * T), s(static_cast<size_t>(T));
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < T; i++) {
        const double* q = &qkv[(size_t(b) * T + i) * 3 * C + h * D];
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
          s[size_t(j)] = -INFINITY;
          if (!mask[size_t(b) * T + j]) continue;
          const double* k = &qkv[(size_t(b) * T + j) * 3 * C + C + h * D];
          double dot = 0;
          for (int d = 0; d < D; d++) dot += q[d] * k[d];
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        for (int j = 0; j < T; j++)
          if (s[size_t(j)] > -INFINITY) sum += std::exp(s[size_t(j)] - mx);
        lse[(size_t(b) * H + h) * T + i] = sum > 0 ? mx + std::log(sum) : INFINITY;
      }
  return lse;
}

struct Case { int B, T, H, D; bool masked; };
struct Worst { double ctx = 0, lse = 0, dqkv = 0, from_fp32 = INFINITY; };

// One case forward and backward on the bf16 kernels against the reference on rounded inputs,
// and against the fp32 kernels on the same (unrounded) inputs.
bool check_case(const Api& a, const Case& k, const lshlab_cuda_dropout* drop, Worst& w) {
  const int B = k.B, T = k.T, H = k.H, D = k.D, C = H * D;
  const unsigned seed = unsigned(B * 1000 + T * 10 + D);
  auto qkv = random_floats(size_t(B) * T * 3 * C, seed, -2.f, 2.f);
  auto dctx = random_floats(size_t(B) * T * C, seed + 1);
  std::vector<int32_t> mask(size_t(B) * T, 1);
  if (k.masked)
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++) {
        if (b == B - 1 && B > 1) mask[size_t(b) * T + t] = 0;  // a row of padding only
        else if (t >= T - (b + 1) * 5 || t % 7 == 3) mask[size_t(b) * T + t] = 0;
      }
  DeviceBuffer<float> gqkv(a, qkv), gctx(a, size_t(B) * T * C), glse(a, size_t(B) * H * T), gdctx(a, dctx),
      gdqkv(a, qkv.size()), gdelta(a, size_t(B) * H * T), fctx(a, size_t(B) * T * C), flse(a, size_t(B) * H * T),
      fdqkv(a, qkv.size());
  DeviceBuffer<int32_t> gmask(a, mask);
  gctx.poison(); glse.poison(); gdqkv.poison(); gdelta.poison();
  const int32_t* mp = k.masked ? gmask.get() : nullptr;
  ok(a, a.attention_forward_bf16(gctx.get(), glse.get(), gqkv.get(), mp, B, T, H, D, drop), "attention_forward_bf16");
  ok(a, a.attention_backward_bf16(gdqkv.get(), gdelta.get(), gdctx.get(), gqkv.get(), gctx.get(), glse.get(), mp, B,
                                  T, H, D, drop),
     "attention_backward_bf16");
  ok(a, a.attention_forward(fctx.get(), flse.get(), gqkv.get(), mp, B, T, H, D, drop), "attention_forward");
  ok(a, a.attention_backward(fdqkv.get(), gdelta.get(), gdctx.get(), gqkv.get(), fctx.get(), flse.get(), mp, B, T,
                             H, D, drop),
     "attention_backward");

  ExactAttention<double> ref;
  ref.set_path(ExactPath::Reference);
  AttentionCall call;
  call.B = B; call.T = T; call.H = H; call.D = D; call.training = drop != nullptr;
  if (drop) {
    call.dropout = drop->p;
    call.seed = drop->seed; call.step = drop->step; call.site = drop->site;
  }
  auto qkvd = bf16_rounded(qkv), dctxd = bf16_rounded(dctx);
  std::vector<double> rctx(size_t(B) * T * C), rdqkv(qkv.size());
  const int32_t* hm = k.masked ? mask.data() : nullptr;
  ref.forward(rctx.data(), qkvd.data(), hm, call);
  ref.backward(rdqkv.data(), dctxd.data(), qkvd.data(), hm, call);
  auto rlse = reference_lse(qkvd, mask, B, T, H, D);

  const auto ctx = gctx.download(), dqkv = gdqkv.download();
  const double e_ctx = rel_error(ctx, rctx), e_lse = rel_error(glse.download(), rlse),
               e_dqkv = rel_error(dqkv, rdqkv);
  // Distance from the fp32 kernels (T 1: one key, ctx = v exactly up to rounding, so only dqkv).
  const double f_ctx = rel_error(ctx, to_double(fctx.download())), f_dqkv = rel_error(dqkv, to_double(fdqkv.download()));
  const double from_fp32 = T > 1 ? std::min(f_ctx, f_dqkv) : f_dqkv;
  w.ctx = std::max(w.ctx, e_ctx); w.lse = std::max(w.lse, e_lse); w.dqkv = std::max(w.dqkv, e_dqkv);
  w.from_fp32 = std::min(w.from_fp32, from_fp32);
  const bool good = e_ctx <= kCtxTol && e_lse <= kLseTol && e_dqkv <= kDqkvTol && from_fp32 > kFromFp32Min;
  std::fprintf(stderr, "    bf16 attention B%d T%d H%d D%d%s%s: rel error ctx %.3g, lse %.3g, dqkv %.3g; from fp32 kernels ctx %.3g, dqkv %.3g\n",
               B, T, H, D, k.masked ? " masked" : "", drop ? " dropout" : "", e_ctx, e_lse, e_dqkv, f_ctx, f_dqkv);
  return good;
}

void report(const Worst& w) {
  std::fprintf(stderr, "    largest: ctx %.3g (bound %.0e), lse %.3g (bound %.0e), dqkv %.3g (bound %.0e); "
               "smallest distance from fp32 %.3g (must be > %.0e)\n",
               w.ctx, kCtxTol, w.lse, kLseTol, w.dqkv, kDqkvTol, w.from_fp32, kFromFp32Min);
}

}  // namespace

LSHLAB_TEST("cuda/attention bf16 forward and backward match a float64 reference on bf16-rounded inputs") {
  CUDA_TEST_API(a);
  // T 37, 130, 100: ragged last tiles (64 queries, 64 keys forward/dQ, 32 queries dK/dV); T 64 one
  // whole tile; T 1 one token.
  const Case cases[] = {{2, 37, 3, 64, true}, {1, 1, 1, 64, false}, {2, 130, 2, 128, true}, {1, 100, 2, 128, false},
                        {2, 64, 1, 64, false}};
  Worst w;
  for (const Case& k : cases) LSHLAB_EXPECT(check_case(a, k, nullptr, w));
  report(w);
}

LSHLAB_TEST("cuda/attention bf16 with dropout 0.1 drops the CPU's elements (forward and backward)") {
  CUDA_TEST_API(a);
  // T 37 and 70: rows start off the Philox groups of four; T 64 on them.
  const lshlab_cuda_dropout drop{0.1, 0x9E3779B97F4A7C15ull, 11, 4099};
  const Case cases[] = {{2, 37, 2, 64, true}, {1, 70, 1, 128, true}, {1, 64, 2, 64, false}};
  Worst w;
  for (const Case& k : cases) LSHLAB_EXPECT(check_case(a, k, &drop, w));
  report(w);
}

LSHLAB_TEST("cuda/attention bf16 refuses head sizes other than 64 and 128, naming them") {
  CUDA_TEST_API(a);
  for (int D : {32, 96, 256}) {
    LSHLAB_EXPECT(a.attention_forward_bf16(nullptr, nullptr, nullptr, nullptr, 1, 4, 1, D, nullptr) != 0);
    std::string msg = a.last_error();
    LSHLAB_EXPECT(msg.find("head size D = " + std::to_string(D)) != std::string::npos &&
                  msg.find("64 or 128") != std::string::npos);
    LSHLAB_EXPECT(a.attention_backward_bf16(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 1, 4, 1, D,
                                            nullptr) != 0);
    msg = a.last_error();
    LSHLAB_EXPECT(msg.find("head size D = " + std::to_string(D)) != std::string::npos);
  }
}

LSHLAB_TEST("cuda/attention bf16 layer: precision 2 runs the bf16 kernels at D 64, fp32 at D 32") {
  CUDA_TEST_API(a);
  for (int D : {64, 32}) {
    const int B = 2, T = 45, H = 2, C = H * D;
    auto qkv = random_floats(size_t(B) * T * 3 * C, 31, -2.f, 2.f);
    auto dctx = random_floats(size_t(B) * T * C, 32);
    std::vector<int32_t> mask(size_t(B) * T, 1);
    for (int t = 40; t < T; t++) mask[size_t(T) + t] = 0;
    BertConfig cfg;
    cfg.hidden_size = C;
    cfg.num_attention_heads = H;
    cfg.attention = "exact";
    CudaAttentionLayer layer(&a, cfg, 2);
    DeviceArray<unsigned char> ws(&a);
    DeviceBuffer<float> gqkv(a, qkv), gdctx(a, dctx), gctx(a, dctx.size()), gdqkv(a, qkv.size()),
        rctx(a, dctx.size()), rdqkv(a, qkv.size()), lse(a, size_t(B) * H * T), delta(a, size_t(B) * H * T);
    DeviceBuffer<int32_t> gmask(a, mask);
    layer.forward(gctx.get(), gqkv.get(), gmask.get(), B, T, nullptr, 0, 0, 0, ws);
    layer.backward(gdqkv.get(), gdctx.get(), gqkv.get(), gctx.get(), gmask.get(), B, T, nullptr, ws);
    if (D == 64) {
      ok(a, a.attention_forward_bf16(rctx.get(), lse.get(), gqkv.get(), gmask.get(), B, T, H, D, nullptr), "fwd bf16");
      ok(a, a.attention_backward_bf16(rdqkv.get(), delta.get(), gdctx.get(), gqkv.get(), rctx.get(), lse.get(),
                                      gmask.get(), B, T, H, D, nullptr), "bwd bf16");
    } else {
      ok(a, a.attention_forward(rctx.get(), lse.get(), gqkv.get(), gmask.get(), B, T, H, D, nullptr), "fwd");
      ok(a, a.attention_backward(rdqkv.get(), delta.get(), gdctx.get(), gqkv.get(), rctx.get(), lse.get(),
                                 gmask.get(), B, T, H, D, nullptr), "bwd");
    }
    LSHLAB_EXPECT(gctx.download() == rctx.download());
    LSHLAB_EXPECT(gdqkv.download() == rdqkv.download());
  }
}
