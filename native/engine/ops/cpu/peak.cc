/*
 * peak.cc: measure_peak_fma (see peak.h). Each thread calibrates its iteration count to run for
 * the requested time; FLOPs = iterations * 12 FMAs * lanes (8 AVX2, 16 AVX-512) * 2.
 */
#include "ops/cpu/peak.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/common.h"
#include "core/cpu_info.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"

namespace lshlab {

PeakResult measure_peak_fma(int threads, double seconds, const std::string& isa) {
  PeakResult r;
  if (threads <= 0) threads = ThreadPool::global().num_threads();
  r.threads = threads;
  const CpuInfo& ci = cpu_info();
  const bool avx512_ok = ci.avx512f && ci.fma && peak_detail::have_fma_loop_avx512();
  if (isa == "avx512") LSHLAB_CHECK(avx512_ok, "bench peak: this CPU (or this build) has no AVX-512F FMA");
  else if (!isa.empty() && isa != "avx2")
    throw Error("bench peak: unknown isa '" + isa + "' (avx2 | avx512)");
  if (!(ci.avx2 && ci.fma) && isa != "avx512") {
    LSHLAB_CHECK(isa.empty(), "bench peak: this CPU has no AVX2 FMA");
    r.isa = "scalar";  // no vector FMA: report nothing rather than a made-up figure
    return r;
  }
  // The GEMM's own width: a wider yardstick than the kernel would understate its fraction of
  // peak only where the kernel could have been wider, and a narrower one overstates it.
  const bool wide = isa == "avx512" || (isa.empty() && avx512_ok && std::string(gemm_kernel_name()) == "avx512");
  r.isa = wide ? "avx512" : "avx2";
  const int lanes = wide ? 16 : 8;
  float (*loop)(long) = wide ? peak_detail::fma_loop_avx512 : peak_detail::fma_loop_avx2;
  using Clock = std::chrono::steady_clock;
  // Calibrate on one thread: iterations per second.
  long iters = 1 << 16;
  double t = 0;
  for (;;) {
    auto t0 = Clock::now();
    volatile float sink = loop(iters);
    (void)sink;
    t = std::chrono::duration<double>(Clock::now() - t0).count();
    if (t > 0.05) break;
    iters *= 2;
  }
  const long run_iters = long(double(iters) * seconds / t) + 1;
  std::vector<double> secs(threads);
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; i++)
    pool.emplace_back([&, i] {
      ready++;
      while (ready.load() < threads) {}
      auto t0 = Clock::now();
      volatile float sink = loop(run_iters);
      (void)sink;
      secs[i] = std::chrono::duration<double>(Clock::now() - t0).count();
    });
  for (auto& th : pool) th.join();
  double flops = double(run_iters) * 12 * lanes * 2;
  double total = 0, slowest = 0;
  for (double s : secs) { total += flops / s; slowest = std::max(slowest, s); }
  r.gflops = total / 1e9;
  r.per_thread = r.gflops / threads;
  r.seconds = slowest;
  return r;
}

}  // namespace lshlab
