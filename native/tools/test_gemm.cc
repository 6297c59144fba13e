/*
 * test_gemm.cc: unit tests for gemm<float>/<double> against gemm_reference (every transpose
 * combo, ragged sizes, leading dims, alpha/beta, K = 0, epilogues, every compiled kernel, 1 and
 * 2 threads) and for the ThreadPool that runs it. Not benchmarks: bench-gemm times things.
 */
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/common.h"
#include "core/cpu_info.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/peak.h"
#include "test_registry.h"

using namespace lshlab;

namespace {

// Restores the global pool size and the auto kernel when a test ends, even on failure.
struct Restore {
  int threads = ThreadPool::global().num_threads();
  ~Restore() {
    gemm_force_kernel("");
    ThreadPool::set_global_threads(threads);
  }
};

std::vector<std::string> kernels() {
  std::vector<std::string> k = {"portable"};
  if (cpu_info().avx2 && cpu_info().fma) k.push_back("avx2");
  if (cpu_info().avx512f && cpu_info().fma) k.push_back("avx512");
  return k;
}

std::vector<float> rnd(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Runs gemm<float> and gemm_reference on the same random problem (padded leading dims) and
// returns whether every element of C (and pre_gelu) agrees within a K-relative tolerance.
bool check_case(bool ta, bool tb, int M, int N, int K, float alpha, float beta, bool bias,
                bool gelu, bool pre, bool nan_c = false, int pad = 3) {
  const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
  const unsigned s = static_cast<unsigned>(M * 131 + N * 17 + K);
  auto A = rnd(static_cast<size_t>(ta ? K : M) * lda + 1, s);
  auto B = rnd(static_cast<size_t>(tb ? N : K) * ldb + 1, s + 1);
  auto C0 = rnd(static_cast<size_t>(M) * ldc + 1, s + 2);
  if (nan_c) for (auto& x : C0) x = std::numeric_limits<float>::quiet_NaN();
  auto bv = rnd(static_cast<size_t>(N), s + 3);
  std::vector<float> C = C0, R = C0, P(C0.size(), 7.f), PR(C0.size(), 7.f);
  GemmEpilogue<float> ep, epr;
  ep.bias = epr.bias = bias ? bv.data() : nullptr;
  ep.gelu = epr.gelu = gelu;
  ep.pre_gelu = pre ? P.data() : nullptr;
  epr.pre_gelu = pre ? PR.data() : nullptr;
  const bool use_ep = bias || gelu;
  gemm<float>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc,
              use_ep ? &ep : nullptr);
  gemm_reference<float>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc,
                        use_ep ? &epr : nullptr);
  // float accumulation error grows ~ sqrt(K) typically, K in the worst case; inputs are in [-1,1].
  const double tol = 1e-6 * (K + 16) * (std::fabs(alpha) + 1) + 1e-6;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      const size_t o = static_cast<size_t>(i) * ldc + j;
      if (!(std::fabs(C[o] - R[o]) <= tol) || !(std::fabs(P[o] - PR[o]) <= tol)) {
        std::fprintf(stderr, "    %c%c M=%d N=%d K=%d alpha=%g beta=%g at (%d,%d): %g vs %g\n",
                     ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, beta, i, j, C[o], R[o]);
        return false;
      }
    }
  // Padding columns between rows must be untouched.
  for (int i = 0; i < M; i++)
    for (int j = N; j < ldc && static_cast<size_t>(i) * ldc + j < C.size(); j++) {
      const size_t o = static_cast<size_t>(i) * ldc + j;
      if (!(C[o] == C0[o] || (std::isnan(C[o]) && std::isnan(C0[o])))) return false;
    }
  return true;
}

const int kShapes[][3] = {{1, 1, 1},    {1, 17, 5},    {7, 1, 9},     {13, 29, 37},
                          {6, 16, 256}, {12, 32, 300}, {65, 130, 513}, {200, 50, 600},
                          {97, 257, 64}, {300, 200, 150}};

}  // namespace

LSHLAB_TEST("gemm/transpose_combos_all_kernels_threads") {
  Restore r;
  for (int threads : {1, 2}) {
    ThreadPool::set_global_threads(threads);
    for (const auto& k : kernels()) {
      gemm_force_kernel(k);
      LSHLAB_EXPECT(gemm_kernel_name() == k);
      for (const auto& s : kShapes)
        for (int c = 0; c < 4; c++)
          LSHLAB_EXPECT(check_case(c & 1, c & 2, s[0], s[1], s[2], 1.f, 0.f, false, false, false));
    }
  }
}

LSHLAB_TEST("gemm/alpha_beta_nan_c") {
  Restore r;
  for (const auto& k : kernels()) {
    gemm_force_kernel(k);
    for (float alpha : {1.f, -0.5f, 2.f})
      for (float beta : {0.f, 1.f, 0.3f})
        for (int c = 0; c < 4; c++)
          LSHLAB_EXPECT(check_case(c & 1, c & 2, 37, 45, 300, alpha, beta, false, false, false));
    // beta == 0 ignores C even when it holds NaN; K = 0 and alpha = 0 still apply beta.
    LSHLAB_EXPECT(check_case(false, true, 50, 40, 30, 1.f, 0.f, false, false, false, true));
    LSHLAB_EXPECT(check_case(true, false, 50, 40, 0, 1.f, 0.5f, false, false, false));
    LSHLAB_EXPECT(check_case(true, false, 50, 40, 0, 1.f, 0.f, true, true, true, true));
    LSHLAB_EXPECT(check_case(false, false, 50, 40, 20, 0.f, 0.5f, true, false, false));
  }
}

LSHLAB_TEST("gemm/epilogue_bias_gelu_pre") {
  Restore r;
  for (int threads : {1, 2}) {
    ThreadPool::set_global_threads(threads);
    for (const auto& k : kernels()) {
      gemm_force_kernel(k);
      for (int c = 0; c < 4; c++) {
        LSHLAB_EXPECT(check_case(c & 1, c & 2, 131, 77, 129, 1.f, 0.f, true, false, false));
        LSHLAB_EXPECT(check_case(c & 1, c & 2, 131, 77, 300, 1.f, 0.f, true, true, true));
        LSHLAB_EXPECT(check_case(c & 1, c & 2, 64, 512, 128, 0.7f, 1.f, false, true, false));
        LSHLAB_EXPECT(check_case(c & 1, c & 2, 5, 3, 2, 1.f, 0.5f, true, true, true, false, 0));
      }
    }
  }
}

LSHLAB_TEST("gemm/gelu_accuracy") {
  // C = x * 1 with K = 1 isolates the (vectorised) GELU: compare to double erf tightly.
  Restore r;
  const int M = 1, N = 4001;
  std::vector<float> x(N), one(1, 1.f), C(N), P(N);
  for (int j = 0; j < N; j++) x[j] = -10.f + 20.f * j / (N - 1);
  for (const auto& k : kernels()) {
    gemm_force_kernel(k);
    GemmEpilogue<float> ep;
    ep.gelu = true;
    ep.pre_gelu = P.data();
    gemm<float>(false, false, M, N, 1, 1.f, one.data(), 1, x.data(), N, 0.f, C.data(), N, &ep);
    double worst = 0;
    for (int j = 0; j < N; j++) {
      const double v = x[j], g = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      worst = std::max(worst, std::fabs(C[j] - g) / std::max(1.0, std::fabs(v)));
      LSHLAB_EXPECT(P[j] == x[j]);
    }
    LSHLAB_EXPECT(worst < 1e-6);
    if (!(worst < 1e-6)) std::fprintf(stderr, "    %s: gelu error %g\n", k.c_str(), worst);
  }
}

LSHLAB_TEST("gemm/engine_shapes") {
  Restore r;
  for (int threads : {1, 2}) {
    ThreadPool::set_global_threads(threads);
    LSHLAB_EXPECT(check_case(false, true, 4096, 384, 128, 1.f, 0.f, true, false, false, false, 0));
    LSHLAB_EXPECT(check_case(false, true, 1024, 512, 128, 1.f, 0.f, true, true, true, false, 0));
    LSHLAB_EXPECT(check_case(false, false, 2048, 128, 512, 1.f, 0.f, false, false, false, false, 0));
    LSHLAB_EXPECT(check_case(true, false, 512, 128, 4096, 1.f, 1.f, false, false, false, false, 0));
    LSHLAB_EXPECT(check_case(false, true, 614, 3000, 128, 1.f, 0.f, false, false, false, false, 0));
    LSHLAB_EXPECT(check_case(true, false, 3000, 128, 614, 1.f, 1.f, false, false, false, false, 0));
  }
}

LSHLAB_TEST("gemm/double_is_reference") {
  const int M = 9, N = 11, K = 13;
  std::vector<double> A(M * K), B(K * N), C(M * N, 1.0), R(M * N, 1.0);
  for (int i = 0; i < M * K; i++) A[i] = std::sin(i * 0.37);
  for (int i = 0; i < K * N; i++) B[i] = std::cos(i * 0.11);
  gemm<double>(false, false, M, N, K, 0.5, A.data(), K, B.data(), N, 2.0, C.data(), N);
  gemm_reference<double>(false, false, M, N, K, 0.5, A.data(), K, B.data(), N, 2.0, R.data(), N);
  LSHLAB_EXPECT(C == R);
}

LSHLAB_TEST("gemm/force_kernel_errors") {
  Restore r;
  bool threw = false;
  try { gemm_force_kernel("sse9"); } catch (const Error&) { threw = true; }
  LSHLAB_EXPECT(threw);
  if (!cpu_info().avx512f) {
    threw = false;
    try { gemm_force_kernel("avx512"); } catch (const Error&) { threw = true; }
    LSHLAB_EXPECT(threw);
  }
  gemm_force_kernel("portable");
  LSHLAB_EXPECT(std::string(gemm_kernel_name()) == "portable");
  gemm_force_kernel("");
  LSHLAB_EXPECT(std::string(gemm_kernel_name()) != "");
}

// The fraction-of-peak yardstick runs the GEMM's own vector width: an AVX2 loop under the
// AVX-512 kernel halves the peak on CPUs with two 512-bit FMA units (Zen 5: 260 vs 520 GFLOP/s
// on 2 threads), overstating the fraction twofold.
LSHLAB_TEST("gemm/peak_yardstick_matches_the_kernel_width") {
  Restore r;
  const CpuInfo& ci = cpu_info();
  if (!(ci.avx2 && ci.fma)) {
    LSHLAB_EXPECT(measure_peak_fma(1, 0.01).isa == "scalar");
    return;
  }
  gemm_force_kernel("avx2");
  const PeakResult narrow = measure_peak_fma(1, 0.01);
  LSHLAB_EXPECT(narrow.isa == "avx2" && narrow.gflops > 0);
  gemm_force_kernel("");
  const bool wide = std::string(gemm_kernel_name()) == "avx512";
  LSHLAB_EXPECT(measure_peak_fma(1, 0.01).isa == (wide ? "avx512" : "avx2"));
  bool threw = false;
  try { measure_peak_fma(1, 0.01, "avx1024"); } catch (const Error&) { threw = true; }
  LSHLAB_EXPECT(threw);
  if (!ci.avx512f) {
    threw = false;
    try { measure_peak_fma(1, 0.01, "avx512"); } catch (const Error&) { threw = true; }
    LSHLAB_EXPECT(threw);
  } else {
    const PeakResult w = measure_peak_fma(1, 0.01, "avx512");
    LSHLAB_EXPECT(w.isa == "avx512" && w.gflops > 0);
  }
}

LSHLAB_TEST("threadpool/every_task_once_repeatedly") {
  ThreadPool pool(2);
  std::vector<std::atomic_int> hits(64);
  std::function<void(int)> fn = [&](int t) { hits[t].fetch_add(1); };
  for (int rep = 0; rep < 20000; rep++) {
    // Now and then pause long enough for the workers to stop spinning and block, so both the
    // spin and the sleep/wake paths of the handshake are exercised.
    if (rep % 2000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));
    pool.parallel_for(1 + rep % 64, fn);
  }
  long total = 0;
  for (auto& h : hits) total += h.load();
  long expect = 0;
  for (int rep = 0; rep < 20000; rep++) expect += 1 + rep % 64;
  LSHLAB_EXPECT(total == expect);
}

LSHLAB_TEST("threadpool/nested_serial_and_exceptions") {
  ThreadPool pool(3);
  std::atomic_int inner{0};
  pool.parallel_for(8, [&](int) { pool.parallel_for(4, [&](int) { inner.fetch_add(1); }); });
  LSHLAB_EXPECT(inner.load() == 32);
  bool threw = false;
  try {
    pool.parallel_for(16, [](int t) { if (t == 5) throw Error("task 5"); });
  } catch (const Error&) { threw = true; }
  LSHLAB_EXPECT(threw);
  std::atomic_int after{0};
  pool.parallel_for(10, [&](int) { after.fetch_add(1); });  // still usable after a throw
  LSHLAB_EXPECT(after.load() == 10);
}
