/*
 * cpu_info.h: what the host CPU can run (vector ISA extensions the OS has enabled) and what it is
 * called, for run-time kernel dispatch and for benchmark reports. Detection only: it does not
 * choose kernels (see ops/cpu/gemm.cc) and knows nothing of threads or GPUs.
 */
#pragma once
#include <string>

namespace lshlab {

struct CpuInfo {
  std::string model;   // e.g. "AMD EPYC 7B13"; "unknown" when it cannot be read
  int logical_cores;   // std::thread::hardware_concurrency(), at least 1
  bool avx2, fma, avx512f;  // usable: the CPU reports them AND the OS saves their registers
};

// Detected once (thread-safe) and cached for the life of the process.
const CpuInfo& cpu_info();

}  // namespace lshlab
