/*
 * hash_draw.cuh: the (seed, step) of an attention variant's hash draws (yoso's hyperplanes,
 * bert-lsh's planes and coefficients, reformer's rotations), passed to the drawing kernel.
 *
 * They come by value, or, while the calling host thread has set step constants (ABI
 * set_step_constants, graph.cu), from device memory when the kernel runs, as dropout.cuh's
 * DropoutKeep: a captured step (CUDA graph) keeps its kernel arguments frozen, so by-value
 * values would redraw the capture's hash functions on every replay. The CUDA model passes the
 * forward the same seed and step it writes into the step constants (model/bert_cuda.cc
 * train_step), so eager and replayed steps draw the same bits.
 * A fixed step (bert-lsh reseed=fixed: 0xFFFFFFFF) is part of the options, not of the training
 * step: it is never read from the step constants; the seed still is.
 */
#pragma once
#include <cstdint>

#include "backend.h"

namespace lshlab_cuda {

struct HashDraw {
  uint64_t seed;
  uint32_t step;
  int fixed_step;  // 1: `step` is the options' constant, whatever the step constants say
  // Non-null: seed (and step unless fixed_step) are read here instead of the fields above.
  const lshlab_cuda_step_constants* dev;

  __device__ __forceinline__ uint64_t seed_now() const { return dev ? dev->seed : seed; }
  __device__ __forceinline__ uint32_t step_now() const {
    return dev && !fixed_step ? dev->step : step;
  }
};

// This host thread's draw constants: by value, plus its device step constants (or null).
inline HashDraw make_hash_draw(uint64_t seed, uint32_t step, bool fixed_step = false) {
  return HashDraw{seed, step, fixed_step ? 1 : 0, step_constants()};
}

}  // namespace lshlab_cuda
