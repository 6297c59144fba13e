/*
 * gemm_bench.cc: bench_gemm(): times gemm<float> on one shape with steady_clock, checks it
 * against gemm_reference, and times OpenBLAS's cblas_sgemm on the same inputs in the same
 * process. OpenBLAS is loaded with dlopen (never linked), so the engine has no BLAS dependency;
 * where it cannot be loaded the result just says so. Does not print anything (the CLI does).
 */
#include "ops/cpu/gemm_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "core/common.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define LSHLAB_HAVE_DLOPEN 1
#endif

namespace lshlab {

namespace {

using Clock = std::chrono::steady_clock;

// cblas_sgemm with the CBLAS enum values spelled out (RowMajor 101, NoTrans 111, Trans 112).
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using SetThreadsFn = void (*)(int);

struct OpenBlas {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  std::string path;
};

OpenBlas load_openblas() {
  OpenBlas ob;
#ifdef LSHLAB_HAVE_DLOPEN
  const char* candidates[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0",
                              "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
                              "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
                              "/usr/lib64/libopenblas.so.0", "/usr/local/lib/libopenblas.so",
                              "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
                              "/usr/local/opt/openblas/lib/libopenblas.dylib"};
  for (const char* name : candidates) {
    void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    auto fn = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    if (!fn) { dlclose(h); continue; }
    ob.sgemm = fn;
    ob.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    ob.path = name;
    break;  // the handle stays open for the life of the process on purpose
  }
#endif
  return ob;
}

// Seconds taken by n calls of fn.
template <typename F>
double time_n(F& fn, int n) {
  auto t0 = Clock::now();
  for (int i = 0; i < n; i++) fn();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

GemmBenchResult bench_gemm(const GemmBenchConfig& cfg) {
  LSHLAB_CHECK(cfg.M > 0 && cfg.N > 0 && cfg.K > 0, "bench_gemm: M, N, K must be positive");
  const int M = cfg.M, N = cfg.N, K = cfg.K;
  const bool ta = cfg.transA, tb = cfg.transB;
  const int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  Buffer<float> A(static_cast<size_t>(M) * K), B(static_cast<size_t>(K) * N);
  Buffer<float> C(static_cast<size_t>(M) * N);
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (size_t i = 0; i < A.size(); i++) A[i] = dist(rng);
  for (size_t i = 0; i < B.size(); i++) B[i] = dist(rng);

  GemmBenchResult r;
  r.M = M; r.N = N; r.K = K;
  r.kernel = gemm_kernel_name();
  r.threads = ThreadPool::global().num_threads();
  const double flops = 2.0 * M * N * static_cast<double>(K);

  auto ours = [&] {
    gemm<float>(ta, tb, M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), ldc);
  };
  ours();  // warm-up: packing buffers, pool threads, page faults
  int iters = cfg.iters;
  if (iters <= 0) {
    const double one = time_n(ours, 1);
    iters = static_cast<int>(std::min(100000.0, std::max(5.0, 1.0 / std::max(one, 1e-7))));
  }
  r.iters = iters;

  OpenBlas ob;
  if (cfg.openblas) ob = load_openblas();
  auto theirs = [&] {
    ob.sgemm(101, ta ? 112 : 111, tb ? 112 : 111, M, N, K, 1.f, A.data(), lda, B.data(), ldb,
             0.f, C.data(), ldc);
  };
  if (ob.sgemm) {
    r.openblas_available = true;
    r.openblas_library = ob.path;
    if (ob.set_threads) ob.set_threads(r.threads);
    theirs();
  }
  // Interleave the two in rounds so a busy machine slows both alike. The pauses let each side's
  // threads go idle first: ours spin ~50 us, OpenBLAS's pthreads server spins much longer.
  const int rounds = std::min(iters, 5);
  double ours_s = 0, theirs_s = 0;
  for (int rd = 0; rd < rounds; rd++) {
    const int n = iters / rounds + (rd < iters % rounds ? 1 : 0);
    ours_s += time_n(ours, n);
    if (ob.sgemm) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      theirs_s += time_n(theirs, n);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  r.seconds_mean = ours_s / iters;
  r.gflops = flops / r.seconds_mean * 1e-9;
  if (ob.sgemm) r.openblas_gflops = flops / (theirs_s / iters) * 1e-9;
  ours();  // C for the accuracy check below comes from our kernel

  // Accuracy on up to 64 evenly spaced rows (row i of C depends only on row i of op(A)), so the
  // check stays quick on vocab-sized shapes.
  const int rows = std::min(M, 64);
  std::vector<float> ref(static_cast<size_t>(N));
  for (int s = 0; s < rows; s++) {
    const int i = rows == 1 ? 0 : static_cast<int>(static_cast<long>(s) * (M - 1) / (rows - 1));
    const float* Ai = ta ? A.data() + i : A.data() + static_cast<long>(i) * lda;
    gemm_reference<float>(ta, tb, 1, N, K, 1.f, Ai, lda, B.data(), ldb, 0.f, ref.data(), N);
    for (int j = 0; j < N; j++)
      r.max_abs_error = std::max(r.max_abs_error,
                                 static_cast<double>(std::fabs(ref[j] - C[static_cast<long>(i) * ldc + j])));
  }

  return r;
}

}  // namespace lshlab
