/*
 * cuda_harness.h: what the CUDA parity tests (test_cuda*.cc) and the CUDA timing harness
 * (cmd_bench_cuda.cc) share: device buffers through the backend ABI, random inputs, poisoning,
 * the error measure and its test check, the tests' CUDA_TEST_API, and CUDA-event timing. Host-side only (no CUDA header): everything goes
 * through lshlab::cuda_api().
 *
 * Method (the device notes): draw fresh random inputs, never zeros; poison outputs with NaN
 * before each run so an element nothing wrote fails; compare against a float64 CPU reference by
 * ||got - ref|| / ||ref||; check every ABI call's return code (a failure throws with the
 * library's message). Time with device events after warm-ups and report the median.
 */
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda_loader.h"
#include "core/common.h"

namespace lshlab_cuda_harness {

using Api = lshlab_cuda_api_v1;

inline void ok(const Api& a, int rc, const char* what) {
  if (rc != 0) throw lshlab::Error(std::string(what) + " failed: " + a.last_error());
}

// A device buffer of n elements of T, freed when it goes out of scope.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer(const Api& a, size_t n) : a_(a), n_(n) { ok(a_, a_.malloc(&p_, bytes()), "cuda malloc"); }
  DeviceBuffer(const Api& a, const std::vector<T>& host) : DeviceBuffer(a, host.size()) { upload(host); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { if (p_) a_.free(p_); }
  T* get() const { return static_cast<T*>(p_); }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }
  void upload(const std::vector<T>& h) { ok(a_, a_.memcpy_h2d(p_, h.data(), std::min(bytes(), h.size() * sizeof(T))), "upload"); }
  std::vector<T> download() const {
    std::vector<T> h(n_);
    ok(a_, a_.memcpy_d2h(h.data(), p_, bytes()), "download");
    return h;
  }
  void poison() { ok(a_, a_.memset(p_, 0xFF, bytes()), "poison"); }  // all-ones bits: NaN floats

 private:
  const Api& a_;
  void* p_ = nullptr;
  size_t n_;
};

inline std::vector<float> random_floats(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// ||got - ref|| / ||ref|| (absolute norm when ref is all zero); +inf if any got is not finite
// where ref is (an unwritten, poisoned element).
inline double rel_error(const std::vector<float>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); i++) {
    if (std::isinf(ref[i]) && got[i] == ref[i]) continue;  // +inf lse of fully padded rows
    if (!std::isfinite(got[i])) return INFINITY;
    const double d = double(got[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// In a test (test_registry.h): `const Api& a`, the loaded CUDA library, or skip the test with
// the loader's reason when CUDA is unavailable.
#define CUDA_TEST_API(a)                                                              \
  const ::lshlab_cuda_harness::Api* a##_ptr = ::lshlab::cuda_api();                   \
  if (!a##_ptr) LSHLAB_SKIP("CUDA unavailable: " + ::lshlab::cuda_status().reason);   \
  const ::lshlab_cuda_harness::Api& a = *a##_ptr

// rel_error(got, ref) <= tol, else false with a line on stderr naming `what`.
inline bool expect_close(const char* what, const std::vector<float>& got,
                         const std::vector<double>& ref, double tol = 1e-5) {
  const double e = rel_error(got, ref);
  if (!(e <= tol)) std::fprintf(stderr, "    %s: relative error %.3g > %.1g\n", what, e, tol);
  return e <= tol;
}

// Times fn() on the device: `warmup` untimed calls, then `reps` calls each between two events;
// returns the median in milliseconds.
template <typename Fn>
double median_ms(const Api& a, Fn fn, int warmup = 3, int reps = 20) {
  for (int i = 0; i < warmup; i++) fn();
  void *e0 = nullptr, *e1 = nullptr;
  ok(a, a.event_create(&e0), "event_create");
  ok(a, a.event_create(&e1), "event_create");
  std::vector<double> t;
  for (int i = 0; i < reps; i++) {
    ok(a, a.event_record(e0), "event_record");
    fn();
    ok(a, a.event_record(e1), "event_record");
    float ms = 0;
    ok(a, a.event_elapsed_ms(&ms, e0, e1), "event_elapsed_ms");
    t.push_back(ms);
  }
  a.event_destroy(e0);
  a.event_destroy(e1);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace lshlab_cuda_harness
