/*
 * cuda_runtime_api.h (emulation): the subset of the CUDA runtime and device language that
 * native/cuda uses, on the host, so the kernels' indexing and algorithms can be checked on a
 * machine without a GPU (see check.sh). Each block's CUDA threads run as fibers on the
 * launching host thread (fibers.h), blocks one after another; __syncthreads is a block barrier;
 * a warp shuffle goes through a per-warp exchange buffer between two warp barriers; __shared__
 * arrays are function statics (one block at a time); dynamic shared memory starts as 0xFF bytes (NaN) so unwritten reads
 * show. Device memory is host memory; cudaMalloc records each allocation so the emulated
 * cuBLASLt (cublasLt.h) can refuse a GEMM that would read or write past one. Not a memory-model,
 * timing or occupancy model: a kernel that passes here can still race or fault on a GPU
 * (compute-sanitizer on a GPU decides that).
 *
 * Launches are refused as a GPU refuses them (launch_refusal below), so a configuration that
 * would fail only on a device fails here first: block and grid dimensions past the hardware's,
 * an empty grid, and dynamic shared memory above 48 KiB that the kernel was not opted into with
 * cudaFuncSetAttribute, or above the opt-in limit of the smallest GPU the build targets.
 */
#pragma once
#include <malloc.h>  // malloc_usable_size: the emulated device memory count (glibc)

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "fibers.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
// Plain globals: launches run one at a time (emu::launch_mutex) and the fibers of a block share
// the launching thread; the scheduler sets threadIdx before it resumes a fiber.
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace emu {
inline std::vector<std::vector<uint64_t>> xchg;  // a warp's shuffle and ballot exchange
inline std::vector<unsigned char> dyn;
inline std::mutex launch_mutex;  // one kernel at a time, whichever host thread launches it

// ---- launch limits (CUDA C++ Programming Guide, compute capabilities 8.0 - 9.0) ----
constexpr unsigned kMaxBlockThreads = 1024, kMaxBlockZ = 64, kMaxGridYZ = 65535;
constexpr size_t kDefaultSmem = 48 * 1024;  // dynamic shared memory without an opt-in
// The opt-in limit per block: 99 KiB on sm_86 and sm_89, the smallest of the architectures the
// build targets (sm_80: 163 KiB, sm_90: 227 KiB). LSHLAB_EMU_SMEM_OPTIN overrides it (bytes).
inline size_t smem_optin() {
  const char* e = std::getenv("LSHLAB_EMU_SMEM_OPTIN");
  return e && *e ? size_t(std::strtoull(e, nullptr, 10)) : size_t(101376);
}
inline std::mutex attr_mutex;
inline std::map<const void*, size_t> max_dynamic_smem;  // cudaFuncSetAttribute, per kernel
inline thread_local int last_error = 0;                  // what cudaGetLastError returns
template <typename F>
inline const void* key(F f) { return reinterpret_cast<const void*>(f); }

// Why a GPU would refuse this launch ("" when it would not).
inline std::string launch_refusal(const void* kernel, dim3 g, dim3 b, size_t smem) {
  const unsigned long long nt = 1ull * b.x * b.y * b.z;
  if (g.x == 0 || g.y == 0 || g.z == 0) return "empty grid (a dimension is 0)";
  if (g.y > kMaxGridYZ || g.z > kMaxGridYZ)
    return "grid y or z above 65535 (" + std::to_string(g.y) + ", " + std::to_string(g.z) + ")";
  if (g.x > 0x7fffffffu) return "grid x above 2^31 - 1";
  if (nt == 0 || nt > kMaxBlockThreads || b.z > kMaxBlockZ)
    return "block of " + std::to_string(nt) + " threads (at most 1024, z at most 64)";
  if (smem > kDefaultSmem) {
    size_t opted = 0;
    {
      std::lock_guard<std::mutex> l(attr_mutex);
      auto it = max_dynamic_smem.find(kernel);
      if (it != max_dynamic_smem.end()) opted = it->second;
    }
    if (opted < smem)
      return std::to_string(smem) + " bytes of dynamic shared memory, above 48 KiB, without "
             "cudaFuncSetAttribute(MaxDynamicSharedMemorySize) to at least that";
  }
  return "";
}

// Runs kernel `name` over grid g of blocks b, or refuses it as a GPU would: the launch then does
// nothing, says why on stderr, and cudaGetLastError reports cudaErrorInvalidConfiguration.
inline void launch(const void* kernel, const char* name, dim3 g, dim3 b, size_t smem,
                   const std::function<void()>& body) {
  const std::string why = launch_refusal(kernel, g, b, smem);
  if (!why.empty()) {
    std::fprintf(stderr, "emulation: a GPU would refuse the launch of %s: %s\n", name, why.c_str());
    if (last_error == 0) last_error = 9;  // cudaErrorInvalidConfiguration
    return;
  }
  std::lock_guard<std::mutex> one_at_a_time(launch_mutex);
  const unsigned nt = b.x * b.y * b.z;
  for (unsigned bz = 0; bz < g.z; bz++)
    for (unsigned by = 0; by < g.y; by++)
      for (unsigned bx = 0; bx < g.x; bx++) {
        xchg.assign((nt + 31) / 32, std::vector<uint64_t>(32));
        dyn.assign(smem, 0xFF);  // NaN garbage: unwritten shared memory shows; exact size for ASan
        blockIdx = dim3(bx, by, bz);
        blockDim = b;
        gridDim = g;
        const unsigned at[3] = {bx, by, bz};
        const bool odd = ((bx + by + bz) & 1u) != 0;
        block_fibers.run(
            nt, odd, [&](unsigned) { body(); },
            [&](unsigned t) { threadIdx = dim3(t % b.x, (t / b.x) % b.y, t / (b.x * b.y)); }, name, at);
      }
}
inline unsigned linear_tid() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
}  // namespace emu

inline void __syncthreads() { emu::block_fibers.block_sync(); }
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int o) {
  const unsigned t = emu::linear_tid(), w = t / 32, lane = t % 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  emu::xchg[w][lane] = bits;
  emu::block_fibers.warp_sync();
  const uint64_t r = emu::xchg[w][lane ^ unsigned(o)];
  emu::block_fibers.warp_sync();
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
// Warp vote (yoso_sort.cu): bit l = lane l's predicate, through the shuffle exchange buffer.
inline unsigned __ballot_sync(unsigned, int pred) {
  const unsigned t = emu::linear_tid(), w = t / 32, lane = t % 32;
  const unsigned left = blockDim.x * blockDim.y * blockDim.z - 32 * w, n = left < 32 ? left : 32;
  emu::xchg[w][lane] = pred != 0;
  emu::block_fibers.warp_sync();
  unsigned out = 0;
  for (unsigned l = 0; l < n; l++) out |= unsigned(emu::xchg[w][l] != 0) << l;
  emu::block_fibers.warp_sync();
  return out;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline void __syncwarp(unsigned = 0xffffffffu) {
  emu::block_fibers.warp_sync();
}
// A product rounded on its own (never fused into an add); the host compile keeps it apart too.
inline float __fmul_rn(float a, float b) {
  volatile float p = a * b;
  return p;
}

// ---- runtime API stubs (host memory stands in for device memory) ----
typedef int cudaError_t;
constexpr cudaError_t cudaSuccess = 0;
typedef void* cudaStream_t;
typedef void* cudaEvent_t;
constexpr unsigned cudaStreamNonBlocking = 1;
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount;
};
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == 9 ? "invalid configuration argument (emulated)" : "emulated error";
}
inline cudaError_t cudaGetLastError() {
  const int e = emu::last_error;
  emu::last_error = 0;
  return e;
}
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::snprintf(p->name, sizeof p->name, "host emulation");
  p->totalGlobalMem = size_t(1) << 30;
  p->major = 9; p->minor = 0; p->multiProcessorCount = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin };
// The emulated device's opt-in shared memory: emu::smem_optin() (LSHLAB_EMU_SMEM_OPTIN, read at
// each call so a test can emulate a larger GPU for a case).
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
  *v = int(emu::smem_optin());
  return cudaSuccess;
}
// Bytes the emulated device holds, so cudaMemGetInfo's "used" moves with allocations as on a GPU
// (bench train's peak device memory can then be checked here).
inline std::atomic<size_t>& emulated_allocated() { static std::atomic<size_t> n{0}; return n; }
// The live allocations (base -> bytes asked for), so a library call can check that what it
// reads and writes lies inside device memory (emu::device_bytes_from; cublasLt.h uses it).
struct EmulatedAllocations {
  std::mutex mu;
  std::map<uintptr_t, size_t> live;
};
inline EmulatedAllocations& emulated_allocations() { static EmulatedAllocations a; return a; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = std::malloc(n);
  if (*p) {
    emulated_allocated() += malloc_usable_size(*p);
    std::lock_guard<std::mutex> l(emulated_allocations().mu);
    emulated_allocations().live[reinterpret_cast<uintptr_t>(*p)] = n;
  }
  return *p ? 0 : 2;
}
inline cudaError_t cudaFree(void* p) {
  if (p) {
    emulated_allocated() -= malloc_usable_size(p);
    std::lock_guard<std::mutex> l(emulated_allocations().mu);
    emulated_allocations().live.erase(reinterpret_cast<uintptr_t>(p));
  }
  std::free(p);
  return cudaSuccess;
}
namespace emu {
// Bytes from p to the end of the cudaMalloc allocation holding it; -1 if p is in none.
inline int64_t device_bytes_from(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> l(emulated_allocations().mu);
  auto it = emulated_allocations().live.upper_bound(a);
  if (it == emulated_allocations().live.begin()) return -1;
  --it;
  const uintptr_t end = it->first + it->second;
  return a < end ? int64_t(end - a) : -1;
}
}  // namespace emu
// total as cudaGetDeviceProperties says (1 GiB); free never below 0.
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = size_t(1) << 30;
  const size_t used = emulated_allocated();
  *free_bytes = used < *total_bytes ? *total_bytes - used : 0;
  return cudaSuccess;
}
// ---- stream capture (CUDA graphs; native/cuda/graph.cu) ----
// While a stream captures, what is enqueued on it (launches, async device copies and memsets) is
// recorded, not run, with its arguments copied by value as a real graph keeps kernel parameters
// (translate.py builds each launch's argument tuple at the launch); cudaGraphLaunch replays the
// records in order. What a GPU refuses inside a capture invalidates it here too (a synchronise of
// the capturing stream, a host copy), and cudaStreamEndCapture then fails.
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1, cudaStreamCaptureModeRelaxed = 2
};
constexpr cudaError_t cudaErrorStreamCaptureUnsupported = 900, cudaErrorStreamCaptureInvalidated = 901;
namespace emu {
struct Capture {
  std::vector<std::function<void()>> nodes;
  std::string invalid;  // why the capture was invalidated ("" while valid)
};
inline std::mutex capture_mutex;
inline std::map<cudaStream_t, std::shared_ptr<Capture>>& captures() {
  static std::map<cudaStream_t, std::shared_ptr<Capture>> c;
  return c;
}
inline std::shared_ptr<Capture> capture_of(cudaStream_t s) {
  std::lock_guard<std::mutex> l(capture_mutex);
  auto it = captures().find(s);
  return it == captures().end() ? nullptr : it->second;
}
// Runs op now, or records it when s captures.
inline void stream_op(cudaStream_t s, std::function<void()> op) {
  if (auto c = capture_of(s)) c->nodes.push_back(std::move(op));
  else op();
}
// An operation a capture may not contain: the capture is invalidated (as on a GPU).
inline cudaError_t refuse_in_capture(cudaStream_t s, const char* what) {
  auto c = capture_of(s);
  if (!c) return cudaSuccess;
  if (c->invalid.empty()) c->invalid = what;
  std::fprintf(stderr, "emulation: %s inside a stream capture invalidates it\n", what);
  return cudaErrorStreamCaptureUnsupported;
}
}  // namespace emu
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind kind, cudaStream_t st) {
  if (kind != cudaMemcpyDeviceToDevice)
    if (cudaError_t e = emu::refuse_in_capture(st, "a host copy (cudaMemcpyAsync)")) return e;
  emu::stream_op(st, [d, s, n] { std::memcpy(d, s, n); });
  return 0;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t st) {
  emu::stream_op(st, [d, v, n] { std::memset(d, v, n); });
  return 0;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) { return emu::refuse_in_capture(s, "cudaStreamSynchronize"); }
// Distinct handles, so a capture stream is told apart from the library's stream.
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = new int(0); return 0; }
using emu_time = std::chrono::steady_clock::time_point;
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = new emu_time(); return 0; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete static_cast<emu_time*>(e); return 0; }
// Inside a capture an event record is no node (it only orders streams in the capture): the event
// then holds no time, and reading one fails, as it does on a GPU.
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  *static_cast<emu_time*>(e) = emu::capture_of(s) ? emu_time::max() : std::chrono::steady_clock::now();
  return 0;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return 0; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  const emu_time ta = *static_cast<emu_time*>(a), tb = *static_cast<emu_time*>(b);
  if (ta == emu_time::max() || tb == emu_time::max()) {
    std::fprintf(stderr, "emulation: cudaEventElapsedTime on an event recorded only inside a stream capture\n");
    return 400;  // cudaErrorInvalidResourceHandle
  }
  *ms = std::chrono::duration<float, std::milli>(tb - ta).count();
  return 0;
}
struct EmuGraph { std::vector<std::function<void()>> nodes; };
struct EmuGraphExec { std::vector<std::function<void()>> nodes; };
typedef EmuGraph* cudaGraph_t;
typedef EmuGraphExec* cudaGraphExec_t;
inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (s == nullptr) return cudaErrorStreamCaptureUnsupported;  // the legacy stream cannot capture
  std::lock_guard<std::mutex> l(emu::capture_mutex);
  if (emu::captures().count(s)) return cudaErrorStreamCaptureUnsupported;
  emu::captures()[s] = std::make_shared<emu::Capture>();
  return 0;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = nullptr;
  std::shared_ptr<emu::Capture> c;
  {
    std::lock_guard<std::mutex> l(emu::capture_mutex);
    auto it = emu::captures().find(s);
    if (it == emu::captures().end()) return 1;  // cudaErrorInvalidValue: not capturing
    c = it->second;
    emu::captures().erase(it);
  }
  if (!c->invalid.empty()) return cudaErrorStreamCaptureInvalidated;
  *g = new EmuGraph{std::move(c->nodes)};
  return 0;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = new EmuGraphExec{g->nodes};
  return 0;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  emu::stream_op(s, [e] { for (const auto& node : e->nodes) node(); });
  return 0;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) { delete g; return 0; }
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { delete e; return 0; }
namespace emu {
// A launch as translate.py writes it: the arguments are already evaluated into `args` (copied, as
// CUDA copies kernel parameters), so a launch recorded in a capture replays with these values.
template <typename K, typename Args>
inline void launch(const void* kernel, const char* name, dim3 g, dim3 b, size_t smem, cudaStream_t s,
                   K k, Args args) {
  auto body = [k, args] { std::apply(k, args); };
  if (!capture_of(s)) return launch(kernel, name, g, b, smem, body);
  const std::string why = launch_refusal(kernel, g, b, smem);  // refused at capture, as on a GPU
  if (!why.empty()) {
    std::fprintf(stderr, "emulation: a GPU would refuse the launch of %s: %s\n", name, why.c_str());
    if (last_error == 0) last_error = 9;
    return;
  }
  stream_op(s, [kernel, name, g, b, smem, body] { launch(kernel, name, g, b, smem, body); });
}
}  // namespace emu
// Records the kernel's opt-in; one above the smallest target GPU's limit fails, as it would there.
template <typename F>
inline cudaError_t cudaFuncSetAttribute(F f, cudaFuncAttribute, int bytes) {
  if (bytes < 0 || size_t(bytes) > emu::smem_optin()) {
    std::fprintf(stderr, "emulation: cudaFuncSetAttribute(MaxDynamicSharedMemorySize, %d) is above "
                 "the %zu bytes a block may opt into on the smallest target GPU\n", bytes, emu::smem_optin());
    return 1;  // cudaErrorInvalidValue
  }
  std::lock_guard<std::mutex> l(emu::attr_mutex);
  emu::max_dynamic_smem[emu::key(f)] = size_t(bytes);
  return 0;
}
