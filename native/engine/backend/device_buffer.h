/*
 * device_buffer.h: device memory for the engine's CUDA path, through the backend ABI (no CUDA
 * header): DeviceArray<T> grows to the largest size asked and is then reused, like the CPU
 * model's Buffer<T>, so a steady-state step allocates nothing. cuda_ok() turns an ABI return code
 * into an lshlab::Error carrying the library's message ("cudaMalloc: out of memory (2)").
 */
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "backend/cuda_abi.h"
#include "core/common.h"

namespace lshlab {

inline void cuda_ok(const lshlab_cuda_api_v1& a, int rc, const char* what) {
  if (rc != 0) throw Error(std::string("CUDA ") + what + " failed: " + a.last_error());
}

// How many times any DeviceArray of the process has (re)allocated. A captured CUDA graph holds
// raw device pointers (model/bert_cuda_graph.cc): it may replay only while this is unchanged.
inline std::atomic<uint64_t>& device_array_growths() {
  static std::atomic<uint64_t> n{0};
  return n;
}

template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(const lshlab_cuda_api_v1* a) : a_(a) {}
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept { *this = std::move(o); }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      release();
      a_ = o.a_; p_ = o.p_; cap_ = o.cap_; n_ = o.n_;
      o.p_ = nullptr; o.cap_ = o.n_ = 0;
    }
    return *this;
  }
  ~DeviceArray() { release(); }

  void bind(const lshlab_cuda_api_v1* a) { a_ = a; }
  // Ensures room for n elements (contents are lost when it grows).
  void resize(size_t n) {
    if (n > cap_) {
      release();
      void* p = nullptr;
      cuda_ok(*a_, a_->malloc(&p, n * sizeof(T)), "malloc");
      device_array_growths()++;
      p_ = static_cast<T*>(p);
      cap_ = n;
    }
    n_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }
  void zero() { if (n_) cuda_ok(*a_, a_->memset(p_, 0, bytes()), "memset"); }
  void upload(const T* host, size_t n) {
    resize(n);
    if (n) cuda_ok(*a_, a_->memcpy_h2d(p_, host, n * sizeof(T)), "copy to device");
  }
  void download(T* host, size_t n) const {
    if (n) cuda_ok(*a_, a_->memcpy_d2h(host, p_, n * sizeof(T)), "copy to host");
  }

 private:
  void release() {
    if (p_ && a_) a_->free(p_);
    p_ = nullptr;
    cap_ = n_ = 0;
  }
  const lshlab_cuda_api_v1* a_ = nullptr;
  T* p_ = nullptr;
  size_t cap_ = 0, n_ = 0;
};

}  // namespace lshlab
