/*
 * peak.cc: measure_peak_fma (see peak.h). Each thread calibrates its iteration count to run for
 * the requested time; FLOPs = iterations * 12 FMAs * 8 lanes * 2.
 */
#include "ops/cpu/peak.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/cpu_info.h"
#include "core/threadpool.h"

namespace lshlab {

PeakResult measure_peak_fma(int threads, double seconds) {
  PeakResult r;
  if (threads <= 0) threads = ThreadPool::global().num_threads();
  r.threads = threads;
  if (!(cpu_info().avx2 && cpu_info().fma)) {
    r.isa = "scalar";  // no vector FMA: report nothing rather than a made-up figure
    return r;
  }
  r.isa = "avx2";
  using Clock = std::chrono::steady_clock;
  // Calibrate on one thread: iterations per second.
  long iters = 1 << 16;
  double t = 0;
  for (;;) {
    auto t0 = Clock::now();
    volatile float sink = peak_detail::fma_loop_avx2(iters);
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
      volatile float sink = peak_detail::fma_loop_avx2(run_iters);
      (void)sink;
      secs[i] = std::chrono::duration<double>(Clock::now() - t0).count();
    });
  for (auto& th : pool) th.join();
  double flops = double(run_iters) * 12 * 8 * 2;
  double total = 0, slowest = 0;
  for (double s : secs) { total += flops / s; slowest = std::max(slowest, s); }
  r.gflops = total / 1e9;
  r.per_thread = r.gflops / threads;
  r.seconds = slowest;
  return r;
}

}  // namespace lshlab
