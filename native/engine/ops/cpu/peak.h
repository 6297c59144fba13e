/*
 * peak.h: measures the machine's peak fp32 FMA throughput empirically: every thread runs a loop
 * of independent vector FMAs (enough accumulators to hide latency on both FMA pipes) for a fixed
 * time, with the widest vector FMA the GEMM runs (AVX-512 when the GEMM dispatched its AVX-512
 * kernel, else AVX2). The result is the yardstick for "fraction of peak" in `lshlab bench train`.
 */
#pragma once
#include <string>

namespace lshlab {

struct PeakResult {
  double gflops = 0;       // all threads together
  double per_thread = 0;
  int threads = 0;
  std::string isa;         // "avx512", "avx2" or "scalar"
  double seconds = 0;
};

// Runs on `threads` threads (0 = the global pool's size) for about `seconds`. isa "" = the
// widest the active GEMM kernel uses; "avx2" or "avx512" force one (an error if unusable here).
PeakResult measure_peak_fma(int threads = 0, double seconds = 0.5, const std::string& isa = "");

namespace peak_detail {
// Runs `iters` iterations of 12 independent 8-wide FMAs; returns a value so the work is kept.
float fma_loop_avx2(long iters);
// The same with 16-wide AVX-512 FMAs; have_fma_loop_avx512() is false where it was not compiled.
float fma_loop_avx512(long iters);
bool have_fma_loop_avx512();
}  // namespace peak_detail

}  // namespace lshlab
