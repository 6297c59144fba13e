/*
 * cuda_runtime_api.h (emulation): the subset of the CUDA runtime and device language that
 * native/cuda uses, on the host, so the kernels' indexing and algorithms can be checked on a
 * machine without a GPU (see check.sh). Each block runs on one host thread per CUDA thread
 * (kept in a pool for the process), blocks one after another; __syncthreads is a block barrier; a warp shuffle goes through a
 * per-warp exchange buffer between two warp barriers; __shared__ arrays are function statics
 * (one block at a time); dynamic shared memory starts as 0xFF bytes (NaN) so unwritten reads
 * show. Device memory is host memory. Not a memory-model, timing or occupancy model: a kernel
 * that passes here can still race or fault on a GPU (compute-sanitizer on a GPU decides that).
 */
#pragma once
#include <malloc.h>  // malloc_usable_size: the emulated device memory count (glibc)

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace emu {
inline std::barrier<>* block_bar = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_bars;
inline std::vector<std::vector<uint64_t>> xchg;
inline std::vector<unsigned char> dyn;
// The CUDA threads of a block: worker std::threads kept for the process (created on first need,
// up to the largest block seen), started together for each block and awaited. Creating one
// std::thread per CUDA thread per block made thread creation most of the emulation's time.
class BlockThreads {
 public:
  ~BlockThreads() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    start_.notify_all();
    for (auto& t : ts_) t.join();
  }
  // Runs f(t) for t < nt, one worker each, and returns when all have finished.
  void run(unsigned nt, const std::function<void(unsigned)>& f) {
    while (ts_.size() < nt) {
      const unsigned id = unsigned(ts_.size());
      ts_.emplace_back([this, id] { work(id); });
    }
    std::unique_lock<std::mutex> l(m_);
    job_ = &f;
    active_ = nt;
    left_ = nt;
    gen_++;
    start_.notify_all();
    done_.wait(l, [this] { return left_ == 0; });
  }

 private:
  void work(unsigned id) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(unsigned)>* job;
      {
        std::unique_lock<std::mutex> l(m_);
        start_.wait(l, [&] { return stop_ || gen_ != seen; });
        if (stop_) return;
        seen = gen_;
        if (id >= active_) continue;
        job = job_;
      }
      (*job)(id);
      std::lock_guard<std::mutex> l(m_);
      if (--left_ == 0) done_.notify_one();
    }
  }
  std::vector<std::thread> ts_;
  std::mutex m_;
  std::condition_variable start_, done_;
  const std::function<void(unsigned)>* job_ = nullptr;
  uint64_t gen_ = 0;
  unsigned active_ = 0, left_ = 0;
  bool stop_ = false;
};
inline BlockThreads block_threads;
inline std::mutex launch_mutex;  // one kernel at a time, whichever host thread launches it

inline void launch(dim3 g, dim3 b, size_t smem, const std::function<void()>& body) {
  std::lock_guard<std::mutex> one_at_a_time(launch_mutex);
  const unsigned nt = b.x * b.y * b.z;
  for (unsigned bz = 0; bz < g.z; bz++)
    for (unsigned by = 0; by < g.y; by++)
      for (unsigned bx = 0; bx < g.x; bx++) {
        std::barrier<> bar(nt);
        block_bar = &bar;
        warp_bars.clear();
        xchg.assign((nt + 31) / 32, std::vector<uint64_t>(32));
        for (unsigned w = 0; w < (nt + 31) / 32; w++)
          warp_bars.emplace_back(new std::barrier<>(std::min(32u, nt - 32 * w)));
        dyn.assign(smem + 16, 0xFF);  // NaN garbage: unwritten shared memory shows
        block_threads.run(nt, [&](unsigned t) {
          threadIdx = dim3(t % b.x, (t / b.x) % b.y, t / (b.x * b.y));
          blockIdx = dim3(bx, by, bz);
          blockDim = b;
          gridDim = g;
          body();
        });
      }
}
inline unsigned linear_tid() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
}  // namespace emu

inline void __syncthreads() { emu::block_bar->arrive_and_wait(); }
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int o) {
  const unsigned t = emu::linear_tid(), w = t / 32, lane = t % 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  emu::xchg[w][lane] = bits;
  emu::warp_bars[w]->arrive_and_wait();
  const uint64_t r = emu::xchg[w][lane ^ unsigned(o)];
  emu::warp_bars[w]->arrive_and_wait();
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
  emu::warp_bars[w]->arrive_and_wait();
  unsigned out = 0;
  for (unsigned l = 0; l < n; l++) out |= unsigned(emu::xchg[w][l] != 0) << l;
  emu::warp_bars[w]->arrive_and_wait();
  return out;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline void __syncwarp(unsigned = 0xffffffffu) {
  emu::warp_bars[emu::linear_tid() / 32]->arrive_and_wait();
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
inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::snprintf(p->name, sizeof p->name, "host emulation");
  p->totalGlobalMem = size_t(1) << 30;
  p->major = 9; p->minor = 0; p->multiProcessorCount = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
// Bytes the emulated device holds, so cudaMemGetInfo's "used" moves with allocations as on a GPU
// (bench train's peak device memory can then be checked here).
inline std::atomic<size_t>& emulated_allocated() { static std::atomic<size_t> n{0}; return n; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = std::malloc(n);
  if (*p) emulated_allocated() += malloc_usable_size(*p);
  return *p ? 0 : 2;
}
inline cudaError_t cudaFree(void* p) {
  if (p) emulated_allocated() -= malloc_usable_size(p);
  std::free(p);
  return cudaSuccess;
}
// total as cudaGetDeviceProperties says (1 GiB); free never below 0.
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = size_t(1) << 30;
  const size_t used = emulated_allocated();
  *free_bytes = used < *total_bytes ? *total_bytes - used : 0;
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) { std::memcpy(d, s, n); return 0; }
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { std::memset(d, v, n); return 0; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return 0; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = nullptr; return 0; }
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = new std::chrono::steady_clock::time_point(); return 0; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete static_cast<std::chrono::steady_clock::time_point*>(e); return 0; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) { *static_cast<std::chrono::steady_clock::time_point*>(e) = std::chrono::steady_clock::now(); return 0; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return 0; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(*static_cast<std::chrono::steady_clock::time_point*>(b) -
                                                 *static_cast<std::chrono::steady_clock::time_point*>(a)).count();
  return 0;
}
template <typename F>
inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) { return 0; }
