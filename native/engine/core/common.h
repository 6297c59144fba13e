/*
 * common.h: shared vocabulary of the lshlab engine: the shape legend, the error type, checks,
 * aligned buffers. Knows nothing of Node, CUDA or threads.
 *
 * Shape legend used in comments throughout native/engine:
 *   B = batch size, T = sequence length, C = hidden size (channels), H = attention heads,
 *   D = head size (C / H), F = FFN intermediate size, V = vocab size, N = rows (B*T) of a 2-D view.
 * All tensors are dense row-major; "(B,T,C)" means index [b][t][c] with c fastest.
 */
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace lshlab {

// Every recoverable failure in the engine is an lshlab::Error with a message meant for a user:
// it names the file, tensor, parameter or byte offset at fault.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

#define LSHLAB_CHECK(cond, msg)                                   \
  do {                                                            \
    if (!(cond)) throw ::lshlab::Error(std::string(msg));         \
  } while (0)

// 64-byte aligned buffer of T, zeroed when allocated. Owns its memory; moves, never copies implicitly.
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n) { resize(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : p_(o.p_), n_(o.n_), cap_(o.cap_) { o.p_ = nullptr; o.n_ = o.cap_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) { release(); p_ = o.p_; n_ = o.n_; cap_ = o.cap_; o.p_ = nullptr; o.n_ = o.cap_ = 0; }
    return *this;
  }
  ~Buffer() { release(); }

  // Ensures room for n elements. Allocates (zeroed) only when growing past the capacity;
  // otherwise keeps the memory and its contents, so steady-state steps never allocate.
  void resize(size_t n) {
    if (n > cap_ || p_ == nullptr) {
      release();
      size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
      if (bytes == 0) bytes = 64;
      p_ = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!p_) throw std::bad_alloc();
      cap_ = bytes / sizeof(T);
      n_ = n;
      zero();
    }
    n_ = n;
  }
  void zero() { for (size_t i = 0; i < n_; i++) p_[i] = T(0); }
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }

 private:
  void release() { std::free(p_); p_ = nullptr; n_ = cap_ = 0; }
  T* p_ = nullptr;
  size_t n_ = 0;
  size_t cap_ = 0;
};

}  // namespace lshlab
