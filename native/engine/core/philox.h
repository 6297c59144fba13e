/*
 * philox.h: Philox-4x32-10 counter-based random numbers (Salmon et al., SC'11), the engine's only
 * source of randomness. A draw is a pure function of (key, counter), so any element of any stream
 * can be recomputed anywhere (CPU thread, GPU thread) in any order: a seed reproduces a run
 * exactly, and the GPU backend can replay the CPU's streams for parity tests.
 *
 * Convention: key = the run seed (64 bits); counter = {offset lo, offset hi, stream, step}, where
 * stream names what is drawn (see Stream) and step is the optimiser step. Element i of a stream
 * uses counter offset i/4 and lane i%4.
 */
#pragma once
#include <cmath>
#include <cstdint>

// Philox4x32 and philox_u32 also compile as CUDA device code (the CUDA backend replays the CPU's
// dropout masks); the macro is empty for the host compilers.
#if defined(__CUDACC__)
#define LSHLAB_HOST_DEVICE __host__ __device__
#else
#define LSHLAB_HOST_DEVICE
#endif

namespace lshlab {

struct Philox4x32 {
  LSHLAB_HOST_DEVICE static inline void round(uint32_t ctr[4], const uint32_t key[2]) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * ctr[0];
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * ctr[2];
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    uint32_t out[4] = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    ctr[0] = out[0]; ctr[1] = out[1]; ctr[2] = out[2]; ctr[3] = out[3];
  }
  // Ten rounds of Philox-4x32 on ctr with key; result written back into ctr.
  LSHLAB_HOST_DEVICE static inline void generate(uint32_t ctr[4], uint64_t seed) {
    uint32_t key[2] = {uint32_t(seed), uint32_t(seed >> 32)};
    for (int r = 0; r < 10; r++) {
      round(ctr, key);
      key[0] += 0x9E3779B9u;
      key[1] += 0xBB67AE85u;
    }
  }
};

// What a stream of random numbers is used for; part of the counter so streams never overlap.
enum class Stream : uint32_t {
  Init = 1,          // parameter initialisation (per-tensor offset added by the caller)
  MlmMask = 2,       // masked-LM position choice and 80/10/10 replacement
  Dropout = 3,       // dropout masks (per-site offset added by the caller)
  RandomTokens = 4,  // synthetic batches for benchmarks
  Attention = 5,     // attention variants' hash draws (per layer offset added by the caller)
};

// Random uint32 number `index` of stream (stream, step) under seed.
LSHLAB_HOST_DEVICE inline uint32_t philox_u32(uint64_t seed, uint32_t stream, uint32_t step,
                                               uint64_t index) {
  uint32_t ctr[4] = {uint32_t(index >> 2), uint32_t(index >> 34), stream, step};
  Philox4x32::generate(ctr, seed);
  return ctr[index & 3];
}

// Uniform in [0, 1) with 24 bits of resolution (exactly representable as float).
inline float philox_uniform(uint64_t seed, uint32_t stream, uint32_t step, uint64_t index) {
  return float(philox_u32(seed, stream, step, index) >> 8) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller on draws 2*index and 2*index+1.
inline double philox_normal(uint64_t seed, uint32_t stream, uint32_t step, uint64_t index) {
  const double u1 = (double(philox_u32(seed, stream, step, 2 * index) >> 8) + 1.0) / 16777217.0;
  const double u2 = double(philox_u32(seed, stream, step, 2 * index + 1) >> 8) / 16777216.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace lshlab
