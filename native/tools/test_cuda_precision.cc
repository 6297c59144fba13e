/*
 * test_cuda_precision.cc: the run setting --precision (TrainConfig::precision) and the GPU
 * yardstick of `bench train --device cuda`.
 *
 *   - the CPU refuses tf32 and bf16, with messages naming --precision (no CUDA needed: these
 *     run everywhere);
 *   - ten masked-LM steps with TF32, then bf16, GEMMs on the device against the fp32 CPU
 *     Trainer, within each precision's tolerance (below);
 *   - mode 2's GEMM equals a float64 reference computed on bf16-rounded operands, and differs
 *     from the fp32 product, so the test cannot pass with the mode ignored; mode 1's GEMM is
 *     within TF32 rounding of the fp32 product (both over every transpose, the bias + GELU
 *     epilogue and 4-byte aligned operands);
 *   - the ABI's gemm_set_precision refuses unknown modes; bench_train on CUDA reports the
 *     precision, a cuBLASLt peak per precision, the fraction of it, and the device memory held.
 *
 * Tolerance: TF32 keeps 10 mantissa bits (relative rounding 2^-11 ~ 4.9e-4 per input if rounded
 * to nearest, 2^-10 and biased toward zero if truncated: the device's choice is not documented);
 * GEMM sums of K products with fp32 accumulation keep the error of a product near that, and ten
 * AdamW steps of a small model move the loss by far less than its scale, so 2e-2 relative on
 * the loss and the gradient norm of every step (and 5e-2 on the final weights) bounds TF32
 * while still catching a broken step (wrong operand, missing term: O(1) errors). Measured in
 * the emulation (which rounds to nearest): 3.1e-4 on loss and norm, 4.2e-5 on the weights; the
 * bound is 65x that, room for a truncating device (its bias does not average out). The
 * TF32 GEMM bound, 4e-3 relative to the fp32 product, is 2^-8: twice the truncation error of
 * both operands (emulation: 2.7e-4 from fp32, 1.5e-7 from the round-to-nearest reference).
 * No lower bound: cuBLASLt may run a FAST_TF32 GEMM without tensor cores ("allows" TF32), so
 * on a GPU the result may equal fp32's.
 * bf16 keeps 7 mantissa bits (2^-9 ~ 2e-3 per operand); products are exact in fp32 and
 * accumulate in fp32, everything outside the GEMMs is fp32. Measured in the emulation (which
 * rounds the operands to bf16 exactly as the device does and accumulates in fp32): loss and
 * gradient norm within 1.4e-3 relative over the ten steps, weights 3.5e-4. The bound, 3e-2 on
 * loss and norm and 5e-2 on the weights, leaves >10x for the device's fp32 accumulation order
 * and data-dependent growth, and still catches a broken step. The GEMM-level bound, 1e-5
 * relative to the float64 product of the rounded operands, is fp32 accumulation over K = 80
 * (emulation: 6.8e-8); bf16 vs fp32 products differ by ~2e-3, so the test also asks for > 1e-4.
 * The host emulation (native/cuda/emulation) runs the real gemm_lt.cc on an emulated cuBLASLt
 * that rounds TF32 and bf16 operands, so both precisions show their numerics there too.
 * Names start with "cuda/train " so emulation/check.sh runs them with the training tests.
 */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cuda_harness.h"
#include "cuda_train_fixture.h"
#include "model/bert.h"
#include "ops/cpu/gemm.h"
#include "train/trainer.h"
#include "test_registry.h"

using namespace lshlab;
using lshlab_cuda_fixture::rel;

namespace {

constexpr double kTf32Tol = 2e-2, kTf32WeightTol = 5e-2, kTf32GemmTol = 4e-3;
constexpr double kBf16Tol = 3e-2, kBf16WeightTol = 5e-2, kBf16GemmTol = 1e-5;

BertConfig tiny_mlm() { return lshlab_cuda_fixture::tiny_config(Task::MaskedLM); }

// The message of the Error `fn` throws ("" if it does not throw).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Ten masked-LM steps on the device at `precision` against the fp32 CPU Trainer: loss and
// gradient norm of every step within `tol` relative, the final weights within `wtol`. The
// largest errors seen are printed (they are the measured figures in the header).
bool steps_match_cpu(const char* precision, double tol, double wtol, const BertConfig& cfg = tiny_mlm()) {
  TrainConfig tc;
  tc.lr = 3e-3;
  tc.warmup_steps = 2;
  tc.total_steps = 10;
  tc.seed = 11;
  Trainer cpu(cfg, tc);
  tc.cuda_device = 0;
  tc.precision = precision;
  Trainer gpu(cfg, tc);
  bool ok = true;
  double worst = 0;
  for (int s = 0; s < 10; s++) {
    const lshlab_cuda_fixture::HostBatch h = lshlab_cuda_fixture::make_batch(cfg, s);
    const Batch b = h.view();
    const StepStats x = cpu.train_step(b), y = gpu.train_step(b);
    const double el = rel(y.loss, x.loss), en = rel(y.grad_norm, x.grad_norm);
    worst = std::max(worst, std::max(el, en));
    if (!(el <= tol && en <= tol) || x.step != y.step) {
      std::fprintf(stderr, "    %s step %d: loss %.8g vs %.8g (%.2g), norm %.8g vs %.8g (%.2g)\n", precision, s,
                   x.loss, y.loss, el, x.grad_norm, y.grad_norm, en);
      ok = false;
    }
  }
  const auto& pa = cpu.model().params().data;
  const auto& pb = gpu.model().params().data;
  const double e = lshlab_cuda_harness::rel_error(std::vector<float>(pb.data(), pb.data() + pb.size()),
                                                  std::vector<double>(pa.data(), pa.data() + pa.size()));
  std::fprintf(stderr, "    %s vs fp32 CPU: largest loss/norm error %.3g (bound %.1g), weights %.3g (bound %.1g)\n",
               precision, worst, tol, e, wtol);
  return ok && e <= wtol;
}

// x rounded to bf16 (nearest even) and back: the host side of bf16_convert.cu.
double bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  u = ((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16) << 16;
  std::memcpy(&x, &u, sizeof u);
  return x;
}

// x rounded to TF32 (10 explicit mantissa bits; nearest, ties away from zero, as cvt.rna) and back.
double tf32_rn(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x1000u) & 0xFFFFE000u;
  std::memcpy(&x, &u, sizeof u);
  return x;
}

// One GEMM at `mode` per combo (both transposes; bias + GELU keeping pre_gelu; 4-byte aligned
// operands, as engine views) against two float64 references: on the operands passed through
// `round` (what the mode computes) and on the fp32 operands. Returns {vs rounded, vs fp32} per
// combo, over C and pre_gelu together.
std::vector<std::pair<double, double>> mode_gemm_errors(const lshlab_cuda_harness::Api& a, int mode,
                                                        double (*round)(float)) {
  using namespace lshlab_cuda_harness;
  const int M = 37, N = 45, K = 80, pad = 3;
  std::vector<std::pair<double, double>> errs;
  for (int combo = 0; combo < 8; combo++) {
    const bool ta = combo & 1, tb = combo & 2, epi = combo & 4;  // epi: bias + GELU keeping pre_gelu
    const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const size_t off = combo % 3 == 1 ? 1 : 0;
    const unsigned s = 977u + unsigned(combo);
    auto A = random_floats(size_t(ta ? K : M) * lda + off, s), B = random_floats(size_t(tb ? N : K) * ldb + off, s + 1),
         C0 = random_floats(size_t(M) * ldc, s + 2), bias = random_floats(N, s + 3);
    const float alpha = 1.25f, beta = epi ? 0.f : 0.5f;
    DeviceBuffer<float> gA(a, A), gB(a, B), gC(a, C0), gbias(a, bias), gpre(a, size_t(M) * ldc);
    gpre.poison();
    if (beta == 0.f) gC.poison();
    ok(a, a.gemm_set_precision(mode), "gemm_set_precision");
    const int rc = a.gemm(ta, tb, M, N, K, alpha, gA.get() + off, lda, gB.get() + off, ldb, beta, gC.get(), ldc,
                          epi ? gbias.get() : nullptr, epi, epi ? gpre.get() : nullptr);
    ok(a, a.gemm_set_precision(0), "gemm_set_precision(0)");
    ok(a, rc, "gemm (mode 1 or 2)");
    std::vector<double> got, rr, r32;
    const auto C = gC.download(), P = gpre.download();
    for (int rounded = 0; rounded < 2; rounded++) {
      std::vector<double> Ad(A.size()), Bd(B.size()), Cd = to_double(C0), bd = to_double(bias), pre(size_t(M) * ldc);
      for (size_t i = 0; i < A.size(); i++) Ad[i] = rounded ? round(A[i]) : A[i];
      for (size_t i = 0; i < B.size(); i++) Bd[i] = rounded ? round(B[i]) : B[i];
      GemmEpilogue<double> ep;
      ep.bias = epi ? bd.data() : nullptr;
      ep.gelu = epi;
      ep.pre_gelu = epi ? pre.data() : nullptr;
      gemm_reference<double>(ta, tb, M, N, K, alpha, Ad.data() + off, lda, Bd.data() + off, ldb, beta, Cd.data(), ldc, &ep);
      auto& ref = rounded ? rr : r32;
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
          ref.push_back(Cd[size_t(i) * ldc + j]);
          if (epi) ref.push_back(pre[size_t(i) * ldc + j]);
          if (rounded) continue;
          got.push_back(C[size_t(i) * ldc + j]);
          if (epi) got.push_back(P[size_t(i) * ldc + j]);
        }
    }
    const std::vector<float> gotf(got.begin(), got.end());
    errs.emplace_back(rel_error(gotf, rr), rel_error(gotf, r32));
  }
  return errs;
}

}  // namespace

LSHLAB_TEST("cuda/train tf32: the CPU refuses tf32 and bf16, naming --precision") {
  const BertConfig cfg = tiny_mlm();
  TrainConfig tc;
  for (const char* p : {"tf32", "bf16"}) {  // refused before any device is touched
    tc.precision = p;
    const std::string cpu = error_of([&] { Trainer t(cfg, tc); });
    LSHLAB_EXPECT(has(cpu, (std::string("--precision ") + p + " needs a CUDA device").c_str()));
    // bench_train refuses it the same way (the CLI's bench train goes through it).
    LSHLAB_EXPECT(has(error_of([&] { bench_train(cfg, 2, 8, 1, 0, 1, -1, p); }), "--precision"));
  }
  tc.precision = "fp16";
  for (int dev : {-1, 0}) {
    tc.cuda_device = dev;
    LSHLAB_EXPECT(has(error_of([&] { Trainer t(cfg, tc); }), "--precision must be fp32, tf32 or bf16"));
  }
  LSHLAB_EXPECT(gemm_precision_mode("fp32") == 0 && gemm_precision_mode("tf32") == 1 &&
                gemm_precision_mode("bf16") == 2);
}

LSHLAB_TEST("cuda/train tf32: 10 masked-LM steps match the fp32 CPU Trainer within TF32 tolerance") {
  CUDA_TEST_API(a);
  LSHLAB_EXPECT(a.gemm_set_precision(3) != 0 && a.gemm_set_precision(-1) != 0);  // unknown modes refused
  LSHLAB_EXPECT(a.gemm_set_precision(0) == 0);
  LSHLAB_EXPECT(steps_match_cpu("tf32", kTf32Tol, kTf32WeightTol));
}

LSHLAB_TEST("cuda/train bf16: 10 masked-LM steps match the fp32 CPU Trainer within bf16 tolerance") {
  CUDA_TEST_API(a);
  (void)a;
  LSHLAB_EXPECT(steps_match_cpu("bf16", kBf16Tol, kBf16WeightTol));
}

// Head size 64: exact attention runs the bf16 tensor-core kernels too (at 16 above it stays fp32).
LSHLAB_TEST("cuda/train bf16: 10 masked-LM steps with bf16 exact attention (D 64) match the fp32 CPU Trainer") {
  CUDA_TEST_API(a);
  (void)a;
  BertConfig cfg = tiny_mlm();
  cfg.hidden_size = 128;
  cfg.intermediate_size = 128;
  LSHLAB_EXPECT(steps_match_cpu("bf16", kBf16Tol, kBf16WeightTol, cfg));
}

LSHLAB_TEST("cuda/train bf16: mode 2 GEMMs equal a reference on bf16-rounded operands, not fp32") {
  CUDA_TEST_API(a);
  double worst16 = 0, least32 = INFINITY;
  const auto errs = mode_gemm_errors(a, 2, bf16);
  for (size_t combo = 0; combo < errs.size(); combo++) {
    const double e16 = errs[combo].first, e32 = errs[combo].second;
    worst16 = std::max(worst16, e16);
    least32 = std::min(least32, e32);
    if (!(e16 <= kBf16GemmTol && e32 > 1e-4))
      std::fprintf(stderr, "    combo %zu: vs bf16-rounded reference %.3g (bound %.0e), vs fp32 %.3g (must be > 1e-4)\n",
                   combo, e16, kBf16GemmTol, e32);
    LSHLAB_EXPECT(e16 <= kBf16GemmTol && e32 > 1e-4);
  }
  std::fprintf(stderr, "    bf16 GEMM: largest error vs rounded-operand reference %.3g, smallest vs fp32 %.3g\n",
               worst16, least32);
}

LSHLAB_TEST("cuda/train tf32: mode 1 GEMMs are within TF32 rounding of the fp32 product") {
  CUDA_TEST_API(a);
  double worst_rn = 0, worst32 = 0;
  const auto errs = mode_gemm_errors(a, 1, tf32_rn);
  for (size_t combo = 0; combo < errs.size(); combo++) {
    worst_rn = std::max(worst_rn, errs[combo].first);
    worst32 = std::max(worst32, errs[combo].second);
    if (!(errs[combo].second <= kTf32GemmTol))
      std::fprintf(stderr, "    combo %zu: vs fp32 reference %.3g (bound %.0e)\n", combo, errs[combo].second, kTf32GemmTol);
    LSHLAB_EXPECT(errs[combo].second <= kTf32GemmTol);
  }
  std::fprintf(stderr, "    tf32 GEMM: largest error vs fp32 %.3g (bound %.0e), vs TF32 round-to-nearest operands %.3g\n",
               worst32, kTf32GemmTol, worst_rn);
}

LSHLAB_TEST("cuda/train tf32: bench_train on CUDA reports precision, cuBLASLt peaks and device memory") {
  CUDA_TEST_API(a);
  (void)a;
  BertConfig cfg = tiny_mlm();
  const BenchTrainResult r = bench_train(cfg, 2, 16, 2, 1, 5, 0, "tf32");
  LSHLAB_EXPECT(r.device == "cuda:0" && r.precision == "tf32" && r.gemm_kernel == "cuBLASLt tf32");
  LSHLAB_EXPECT(r.peak_fp32_gflops > 0 && r.peak_tf32_gflops > 0 && r.peak_bf16_gflops == 0);
  LSHLAB_EXPECT(r.peak_gflops == r.peak_tf32_gflops && r.peak_isa == "cuBLASLt tf32");
  LSHLAB_EXPECT(has(r.peak_method, "cuBLASLt tf32 GEMM"));
  // At least the parameters, gradients and both AdamW moments are held on the device.
  const Trainer probe(cfg, TrainConfig{});
  const int64_t floor_bytes = 4 * int64_t(sizeof(float)) * probe.num_parameters();
  if (!(r.peak_memory_bytes >= floor_bytes))
    std::fprintf(stderr, "    device memory %lld below 4 x parameters %lld\n", (long long)r.peak_memory_bytes,
                 (long long)floor_bytes);
  LSHLAB_EXPECT(r.peak_memory_bytes >= floor_bytes);
}

LSHLAB_TEST("cuda/train bf16: bench_train on CUDA measures the bf16 peak as the yardstick") {
  CUDA_TEST_API(a);
  (void)a;
  const BenchTrainResult r = bench_train(tiny_mlm(), 2, 16, 1, 0, 5, 0, "bf16");
  LSHLAB_EXPECT(r.precision == "bf16" && r.gemm_kernel == "cuBLASLt bf16" && std::isfinite(r.final_loss));
  LSHLAB_EXPECT(r.peak_bf16_gflops > 0 && r.peak_gflops == r.peak_bf16_gflops && r.peak_isa == "cuBLASLt bf16");
  LSHLAB_EXPECT(has(r.peak_method, "cuBLASLt bf16 GEMM"));
}
