/*
 * cuda_loader.h: the engine's door to the CUDA backend library (native/cuda/, loaded at run
 * time, never linked). At first use it looks for the library beside the module that holds the
 * engine (lshlab.node or lshlab-native), opens it, asks for the v1 ABI table, counts devices and
 * keeps the first reason CUDA cannot serve, in words:
 *   "not built: <configure reason>", "library not found: <path>",
 *   "failed to load <path>: <dlerror>" (e.g. libcublasLt.so.13 missing), "no NVIDIA driver",
 *   "no CUDA device", "compute capability X.Y below 8.0" (the kernels need sm_80+).
 * LSHLAB_CUDA_LIBRARY=<path> overrides the library's location (tests, packaging);
 * LSHLAB_CUDA_DISABLE=1 reports CUDA unavailable without loading anything.
 * No CUDA header here: the library's contract is backend/cuda_abi.h.
 */
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda_abi.h"

namespace lshlab {

struct CudaDevice {
  int index = 0;
  std::string name;
  uint64_t memory_bytes = 0;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  bool usable = false;  // compute capability >= 8.0
};

struct CudaStatus {
  bool compiled = false;   // this build produced the library (configure found nvcc and cuBLASLt)
  bool loaded = false;     // the library opened and served the ABI
  bool available = false;  // loaded, and at least one usable device
  std::string reason;      // why not available ("" when available)
  std::string library_path;
  std::string build_info;  // the library's own description (nvcc version, architectures)
  std::vector<CudaDevice> devices;
};

// Loads once (thread-safe) and returns the status for the life of the process.
const CudaStatus& cuda_status();

// The ABI table when CUDA is available, else nullptr (see cuda_status().reason).
const lshlab_cuda_api_v1* cuda_api();

// Throws lshlab::Error("CUDA unavailable: <reason>") unless available; returns the table.
const lshlab_cuda_api_v1& cuda_require();

// The CUDA status as one JSON object (compiled, available, reason, library, build, devices),
// for the driver's `info --json` (the addon builds its JS object from cuda_status() directly).
std::string cuda_status_json();

}  // namespace lshlab
