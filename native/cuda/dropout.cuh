/*
 * dropout.cuh: the CPU's dropout keep mask (ops/cpu/ops.cc dropout_mask) on the device, shared
 * by dropout.cu and the exact-attention kernels, so a GPU step drops exactly the elements a CPU
 * step with the same (seed, step, site) drops.
 *
 *   element i of site s is kept iff (philox_u32(seed, Stream::Dropout, step, (s << 36) + i) >> 8)
 *   >= uint32(p * 2^24); a kept element is multiplied by float(1 / (1 - p)): the quotient is
 *   taken in double and rounded to float once, as dropout_forward<float> does.
 *
 * One Philox-4x32-10 call yields the four draws of an aligned group of four counter indices
 * (index / 4 is the counter, index % 4 the lane), and (s << 36) is a multiple of 4, so kernels
 * draw whole groups: one call per four elements instead of four.
 *
 * Seed and step come by value, or, while the calling host thread has set step constants (ABI
 * set_step_constants, graph.cu), from device memory when the kernel runs: a captured step (CUDA
 * graph) keeps its kernel arguments frozen, so a by-value step would replay the capture's step.
 */
#pragma once
#include <cstdint>

#include "backend.h"
#include "core/philox.h"

namespace lshlab_cuda {

// A dropout call's constants, passed to kernels by value. on = 0: nothing is dropped.
struct DropoutKeep {
  int on;
  uint32_t threshold;  // uint32(p * 2^24): kept iff the draw's top 24 bits are >= threshold
  float scale;         // float(1 / (1 - p))
  uint32_t step;
  uint64_t seed;
  uint64_t base;  // site << 36: the counter index of the site's element 0
  // Non-null: seed and step are read here (device memory) instead of the fields above.
  const lshlab_cuda_step_constants* dev;

  // The four draws of the group holding counter index `index` (lane l = index l of the group).
  __device__ __forceinline__ void draw_group(uint32_t out[4], uint64_t index) const {
    out[0] = uint32_t(index >> 2);
    out[1] = uint32_t(index >> 34);
    out[2] = uint32_t(lshlab::Stream::Dropout);
    out[3] = dev ? dev->step : step;
    lshlab::Philox4x32::generate(out, dev ? dev->seed : seed);
  }
  __device__ __forceinline__ bool kept(uint32_t draw) const { return (draw >> 8) >= threshold; }
};

// The constants of `d` (NULL or p <= 0: no dropout), computed as ops/cpu/ops.cc does.
inline DropoutKeep make_dropout_keep(const lshlab_cuda_dropout* d) {
  DropoutKeep k{0, 0, 1.0f, 0, 0, 0, nullptr};
  if (d == nullptr || !(d->p > 0)) return k;
  k.on = 1;
  k.threshold = uint32_t(d->p * 16777216.0);
  k.scale = float(1.0 / (1.0 - d->p));
  k.step = d->step;
  k.seed = d->seed;
  k.base = uint64_t(d->site) << 36;
  k.dev = step_constants();  // this host thread's device step constants, or null
  return k;
}

}  // namespace lshlab_cuda
