/*
 * cuda_peak.h: the GPU's yardstick for "fraction of peak" in `bench train --device cuda`, the
 * counterpart of ops/cpu/peak.h: the throughput cuBLASLt reaches on a large square fp32 GEMM on
 * the same GPU, in the same process, at a given compute precision (fp32, TF32 or bf16). Measured, not
 * taken from a datasheet, so the fraction compares two measurements made alike (the CPU path
 * does the same with its FMA loop), and it is the achievable peak of the library the training
 * step uses, per precision, as issue 10 asks.
 *
 * Method: C (n,n) = A (n,n) B (n,n) through the ABI's gemm (row-major, no epilogue), inputs
 * random in [-1, 1) (never zeros: tensor-core power and clocks depend on the data), n = 512
 * doubled while the median call is shorter than 20 ms and n < 8192 (about 0.75 GiB of
 * operands at 8192); at each n two untimed calls, then the median of 5 calls between device
 * events; the peak is the best n. FLOPs = 2 n^3. A size whose buffers cannot be allocated ends
 * the search (the best smaller size stands). In the host emulation the GEMM runs on a host
 * cuBLASLt, so the search stops at n = 512 and the figure means nothing (it only exercises the code).
 */
#pragma once
#include <string>

namespace lshlab {

struct CudaGemmPeak {
  double gflops = 0;      // best 2 n^3 / median time over the sizes tried
  int n = 0;              // the size that gave it
  double ms = 0;          // its median call time
  std::string precision;  // "fp32", "tf32" or "bf16"
  std::string method;     // the method in words, for reports
};

// Runs on CUDA device `device` (throws lshlab::Error when CUDA is unavailable) with the ABI's
// gemm_set_precision `mode` (0 fp32, 1 tf32, 2 bf16) on this thread, restored to fp32 afterwards.
CudaGemmPeak measure_cuda_gemm_peak(int device, int mode);

}  // namespace lshlab
