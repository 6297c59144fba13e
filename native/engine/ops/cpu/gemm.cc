/*
 * gemm.cc: the public GEMM entry points: argument checks, run-time kernel dispatch (cpu_info),
 * the split of C into per-thread blocks on ThreadPool::global(), per-thread packing buffers,
 * the trivial cases (K = 0, alpha = 0), gemm<double> and the reference triple loop.
 * It holds no SIMD code: the kernels live in gemm_portable.cc / gemm_avx2.cc / gemm_avx512.cc.
 */
#include "ops/cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>

#include "core/common.h"
#include "core/cpu_info.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm_internal.h"

namespace lshlab {

using gemm_detail::GemmArgs;
using gemm_detail::KernelInfo;

namespace {

// AVX-512 CPUs get the AVX-512 kernel: `lshlab-native test gemm/` passed on one (AMD EPYC with
// AVX-512F, 2026-12-01), and BERT-tiny training ran 1.25x faster there than on the AVX2 kernel
// (docs/benchmarks.md). gemm_force_kernel("avx2") still selects the AVX2 kernel.
constexpr bool kAutoAvx512 = true;

const KernelInfo* auto_kernel() {
  static const KernelInfo* k = [] {
    const CpuInfo& ci = cpu_info();
    if (kAutoAvx512 && ci.avx512f && ci.fma && gemm_detail::kernel_avx512())
      return gemm_detail::kernel_avx512();
    if (ci.avx2 && ci.fma && gemm_detail::kernel_avx2()) return gemm_detail::kernel_avx2();
    return gemm_detail::kernel_portable();
  }();
  return k;
}

std::atomic<const KernelInfo*> g_forced{nullptr};

const KernelInfo* active_kernel() {
  const KernelInfo* f = g_forced.load(std::memory_order_acquire);
  return f ? f : auto_kernel();
}

// Packing buffers: one pair per thread, grown to the largest kernel's needs once, then reused
// for every call (no allocation on the hot path).
struct PackBuffers {
  Buffer<float> a, b;
  void ensure(const KernelInfo& k) {
    if (static_cast<long>(a.size()) < k.pack_a_floats()) a.resize(k.pack_a_floats());
    if (static_cast<long>(b.size()) < k.pack_b_floats()) b.resize(k.pack_b_floats());
  }
};
thread_local PackBuffers tl_pack;

// One parallel_for over a tm x tn grid of C blocks. The grid is picked to minimise packing
// traffic: splitting M makes every thread pack all of B, splitting N makes every thread pack
// all of A (once per nc block). For the engine's M=4096, N<=512 shapes that is a pure M split;
// for the MLM decoder (M=614, N=30522) an N split.
struct Job {
  const GemmArgs* g;
  const KernelInfo* k;
  int tm, tn;
  int mstep, nstep;  // rows / columns per block, multiples of mr / nr
};

void run_task(const Job& job, int t) {
  const GemmArgs& g = *job.g;
  const int bi = t / job.tn, bj = t % job.tn;
  const int m0 = bi * job.mstep, n0 = bj * job.nstep;
  const int m1 = std::min(g.M, m0 + job.mstep), n1 = std::min(g.N, n0 + job.nstep);
  if (m0 >= m1 || n0 >= n1) return;
  tl_pack.ensure(*job.k);
  job.k->run(g, m0, m1, n0, n1, tl_pack.a.data(), tl_pack.b.data());
}

int round_up(long v, int m) { return static_cast<int>((v + m - 1) / m * m); }

void plan(Job& job, int threads) {
  const GemmArgs& g = *job.g;
  const KernelInfo& k = *job.k;
  job.tm = job.tn = 1;
  // Below ~2 MFLOP the pool handshake and duplicated packing cost more than a second core gives.
  const double flops = 2.0 * g.M * g.N * static_cast<double>(g.K);
  if (threads > 1 && flops >= 2e6) {
    double best = 1e300;
    for (int tm = 1; tm <= threads; tm++) {
      if (threads % tm) continue;
      const int tn = threads / tm;
      const int ms = round_up((g.M + tm - 1) / tm, k.mr), ns = round_up((g.N + tn - 1) / tn, k.nr);
      if ((tm > 1 && (tm - 1) * ms >= g.M) || (tn > 1 && (tn - 1) * ns >= g.N)) continue;
      // Floats packed per thread, plus an imbalance penalty for ragged splits.
      const double pack = static_cast<double>(g.K) * ns + static_cast<double>(ms) * g.K * ((ns + k.nc - 1) / k.nc);
      const double work = static_cast<double>(ms) * ns * g.K / 8.0;
      const double cost = pack + work;
      if (cost < best) { best = cost; job.tm = tm; job.tn = tn; }
    }
  }
  // Tall M splits get more, smaller row blocks than threads so the dynamic handout can even
  // out a thread that started late or got preempted; >= 1024-row blocks keep the duplicated
  // packing of B under ~2% of a block's work.
  constexpr int minrows = 1024;
  if (job.tm > 1)
    while (job.tm < 4 * threads && (g.M + 2 * job.tm - 1) / (2 * job.tm) >= minrows) job.tm *= 2;
  job.mstep = round_up((g.M + job.tm - 1) / job.tm, k.mr);
  job.nstep = round_up((g.N + job.tn - 1) / job.tn, k.nr);
}

// C = beta * C (+ epilogue) for the degenerate K = 0 or alpha = 0 products.
template <typename T>
void scale_and_epilogue(int M, int N, T beta, T* C, int ldc, const GemmEpilogue<T>* ep) {
  for (int i = 0; i < M; i++) {
    T* ci = C + static_cast<long>(i) * ldc;
    for (int j = 0; j < N; j++) {
      T v = beta == T(0) ? T(0) : beta * ci[j];
      if (ep) {
        if (ep->bias) v += ep->bias[j];
        if (ep->gelu) {
          if (ep->pre_gelu) ep->pre_gelu[static_cast<long>(i) * ldc + j] = v;
          v = T(0.5) * v * (T(1) + std::erf(v / std::sqrt(T(2))));
        }
      }
      ci[j] = v;
    }
  }
}

template <typename T>
void check_args(bool transA, bool transB, int M, int N, int K, const T* A, int lda, const T* B,
                int ldb, const T* C, int ldc) {
  LSHLAB_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative dimension");
  LSHLAB_CHECK(lda >= std::max(1, transA ? M : K), "gemm: lda too small");
  LSHLAB_CHECK(ldb >= std::max(1, transB ? K : N), "gemm: ldb too small");
  LSHLAB_CHECK(ldc >= std::max(1, N), "gemm: ldc too small");
  LSHLAB_CHECK(M == 0 || N == 0 || C != nullptr, "gemm: null C");
  LSHLAB_CHECK(M == 0 || N == 0 || K == 0 || (A != nullptr && B != nullptr), "gemm: null A or B");
}

}  // namespace

template <typename T>
void gemm_reference(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc, const GemmEpilogue<T>* ep) {
  check_args(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double s = 0;  // double accumulation: the reference should be the most accurate path
      for (int k = 0; k < K; k++) {
        const T a = transA ? A[static_cast<long>(k) * lda + i] : A[static_cast<long>(i) * lda + k];
        const T b = transB ? B[static_cast<long>(j) * ldb + k] : B[static_cast<long>(k) * ldb + j];
        s += static_cast<double>(a) * static_cast<double>(b);
      }
      T* c = C + static_cast<long>(i) * ldc + j;
      double v = static_cast<double>(alpha) * s;
      if (beta != T(0)) v += static_cast<double>(beta) * static_cast<double>(*c);
      if (ep) {
        if (ep->bias) v += static_cast<double>(ep->bias[j]);
        if (ep->gelu) {
          if (ep->pre_gelu) ep->pre_gelu[static_cast<long>(i) * ldc + j] = static_cast<T>(v);
          v = 0.5 * v * (1.0 + std::erf(v * 0.70710678118654752440));
        }
      }
      *c = static_cast<T>(v);
    }
  }
}

template <typename T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc, const GemmEpilogue<T>* ep) {
  gemm_reference(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

template <>
void gemm<float>(bool transA, bool transB, int M, int N, int K, float alpha, const float* A,
                 int lda, const float* B, int ldb, float beta, float* C, int ldc,
                 const GemmEpilogue<float>* ep) {
  check_args(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
  if (M == 0 || N == 0) return;
  if (ep && !ep->bias && !ep->gelu) ep = nullptr;
  if (K == 0 || alpha == 0.f) {  // BLAS semantics: A and B are not read
    scale_and_epilogue(M, N, beta, C, ldc, ep);
    return;
  }
  const GemmArgs g = {transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep};
  Job job{&g, active_kernel(), 1, 1, 0, 0};
  ThreadPool& pool = ThreadPool::global();
  plan(job, pool.num_threads());
  const int tasks = job.tm * job.tn;
  if (tasks == 1) {
    run_task(job, 0);
    return;
  }
  // The lambda captures one pointer, so std::function stores it inline: no allocation.
  const Job* jp = &job;
  pool.parallel_for(tasks, [jp](int t) { run_task(*jp, t); });
}

template void gemm<double>(bool, bool, int, int, int, double, const double*, int, const double*,
                           int, double, double*, int, const GemmEpilogue<double>*);
template void gemm_reference<float>(bool, bool, int, int, int, float, const float*, int,
                                    const float*, int, float, float*, int,
                                    const GemmEpilogue<float>*);
template void gemm_reference<double>(bool, bool, int, int, int, double, const double*, int,
                                     const double*, int, double, double*, int,
                                     const GemmEpilogue<double>*);

const char* gemm_kernel_name() { return active_kernel()->name; }

void gemm_force_kernel(const std::string& name) {
  if (name.empty()) { g_forced.store(nullptr, std::memory_order_release); return; }
  const CpuInfo& ci = cpu_info();
  const KernelInfo* k = nullptr;
  if (name == "portable") {
    k = gemm_detail::kernel_portable();
  } else if (name == "avx2") {
    LSHLAB_CHECK(ci.avx2 && ci.fma, "gemm_force_kernel: this CPU lacks AVX2/FMA");
    k = gemm_detail::kernel_avx2();
  } else if (name == "avx512") {
    LSHLAB_CHECK(ci.avx512f && ci.fma, "gemm_force_kernel: this CPU lacks AVX-512F");
    k = gemm_detail::kernel_avx512();
  } else {
    throw Error("gemm_force_kernel: unknown kernel '" + name + "' (avx512 | avx2 | portable)");
  }
  LSHLAB_CHECK(k != nullptr, "gemm_force_kernel: kernel '" + name + "' was not compiled in");
  g_forced.store(k, std::memory_order_release);
}

}  // namespace lshlab
