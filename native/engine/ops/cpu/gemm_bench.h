/*
 * gemm_bench.h: times gemm<float> on one shape (and, when the machine has it, OpenBLAS's
 * cblas_sgemm on the same shape in the same process, loaded with dlopen so lshlab never links it).
 */
#pragma once
#include <string>

namespace lshlab {

struct GemmBenchConfig {
  int M = 4096, N = 128, K = 128;
  bool transA = false, transB = false;
  int iters = 0;          // 0 = enough repetitions for about 1 s
  bool openblas = false;  // also time OpenBLAS if libopenblas can be loaded
};

struct GemmBenchResult {
  int M = 0, N = 0, K = 0;
  int iters = 0;
  double seconds_mean = 0;
  double gflops = 0;
  std::string kernel;
  int threads = 0;
  double max_abs_error = 0;     // against gemm_reference on the same inputs
  bool openblas_available = false;
  double openblas_gflops = 0;   // 0 when not available
  std::string openblas_library; // path that was loaded
};

GemmBenchResult bench_gemm(const GemmBenchConfig& cfg);

}  // namespace lshlab
