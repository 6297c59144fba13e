/*
 * cuda_peak.cc: measure_cuda_gemm_peak (backend/cuda_peak.h): cuBLASLt's square-GEMM throughput
 * on one GPU at one precision, through the backend ABI only (no CUDA header in the engine).
 * At bf16 (mode 2) the timed call is the engine's bf16 GEMM as training runs it: fp32 operands
 * rounded to bf16 into the library's scratch, then the bf16 x bf16 -> fp32 cuBLASLt call, so
 * the peak includes the two conversions (about 4 n^2 bytes of traffic, small next to 2 n^3).
 */
#include "backend/cuda_peak.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda_loader.h"
#include "backend/device_buffer.h"

namespace lshlab {

namespace {

constexpr int kFirstN = 512, kMaxN = 8192;
constexpr double kLongEnoughMs = 20;  // a call this long runs at steady clocks
constexpr int kWarmup = 2, kReps = 5;

// Values in [-1, 1) from a 64-bit LCG: fast for 67M floats, and not zeros (see the header).
void fill_random(std::vector<float>& v, uint64_t state) {
  for (float& x : v) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    x = float(int32_t(state >> 32)) * (1.0f / 2147483648.0f);
  }
}

// Owns the two events of a timing and frees them however the measurement ends.
struct Events {
  const lshlab_cuda_api_v1& a;
  void* e[2] = {nullptr, nullptr};
  explicit Events(const lshlab_cuda_api_v1& api) : a(api) {
    for (void*& x : e) cuda_ok(a, a.event_create(&x), "event_create");
  }
  ~Events() {
    for (void* x : e) if (x) a.event_destroy(x);
  }
};

}  // namespace

CudaGemmPeak measure_cuda_gemm_peak(int device, int mode) {
  const lshlab_cuda_api_v1& a = cuda_require();
  cuda_ok(a, a.set_device(device), "set_device");
  cuda_ok(a, a.gemm_set_precision(mode), "gemm_set_precision");
  CudaGemmPeak best;
  best.precision = mode == 2 ? "bf16" : mode == 1 ? "tf32" : "fp32";
  Events ev(a);
  std::vector<float> host;
  for (int n = kFirstN; n <= kMaxN; n *= 2) {
    const size_t nn = size_t(n) * size_t(n);
    DeviceArray<float> A(&a), B(&a), C(&a);
    try {
      A.resize(nn); B.resize(nn); C.resize(nn);
    } catch (const Error&) {
      break;  // out of device memory at this size: the best smaller size stands
    }
    host.resize(nn);
    fill_random(host, 0x9E3779B97F4A7C15ULL ^ uint64_t(n));
    A.upload(host.data(), nn);
    fill_random(host, 0xD1B54A32D192ED03ULL ^ uint64_t(n));
    B.upload(host.data(), nn);
    auto call = [&] {
      cuda_ok(a, a.gemm(0, 0, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C.data(), n, nullptr, 0, nullptr),
              "gemm");
    };
    for (int i = 0; i < kWarmup; i++) call();
    std::vector<double> ms;
    for (int i = 0; i < kReps; i++) {
      cuda_ok(a, a.event_record(ev.e[0]), "event_record");
      call();
      cuda_ok(a, a.event_record(ev.e[1]), "event_record");
      float t = 0;
      cuda_ok(a, a.event_elapsed_ms(&t, ev.e[0], ev.e[1]), "event_elapsed_ms");
      ms.push_back(double(t));
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    const double gflops = med > 0 ? 2.0 * double(n) * double(n) * double(n) / (med * 1e-3) / 1e9 : 0;
    if (gflops > best.gflops) { best.gflops = gflops; best.n = n; best.ms = med; }
    if (med >= kLongEnoughMs) break;
  }
  cuda_ok(a, a.gemm_set_precision(0), "gemm_set_precision");  // leave the thread's default
  best.method = "cuBLASLt " + best.precision + " GEMM, square n = " + std::to_string(best.n) +
                " (best of n = 512 doubling to <= 8192 until a call takes >= 20 ms), median of 5 calls "
                "after 2 warm-ups, same GPU, after the timed steps";
  return best;
}

}  // namespace lshlab
