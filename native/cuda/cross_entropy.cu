/*
 * cross_entropy.cu: softmax cross-entropy over rows of logits with integer targets, forward and
 * backward in one pass over each row (the MLM / classification loss).
 *   losses[n]  = logsumexp(logits[n,:]) - logits[n, targets[n]]    (0 if targets[n] == ignore)
 *   correct[n] = argmax(logits[n,:]) == targets[n]  (first maximum, as ops/cpu/ops.cc)
 *   dlogits[n,:] = (softmax(logits[n,:]) - onehot(targets[n])) * dscale  (zero row if ignored)
 * Shapes: logits, dlogits (N,V); targets, losses, correct (N). dlogits may alias logits.
 * The mean over counted rows is the caller's (it knows the targets): dscale = scale / counted,
 * by value or (the _device form) read from device memory when the kernel runs, so a captured
 * step with a padded, fixed row count replays with this batch's count.
 *
 * One block per row: a block reduction for (max, first argmax), one for the sum of exp, then
 * the gradient. Reads the row three times; fine for V = 30522 (the row stays in L2), not tuned.
 */
#include <cfloat>

#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr int kThreads = 256;

struct MaxArg {
  float v;
  int i;
};

// Larger value wins; on a tie, the smaller index (the first maximum).
__device__ __forceinline__ MaxArg better(MaxArg a, MaxArg b) {
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) return b;
  return a;
}

__device__ MaxArg block_maxarg(MaxArg x, MaxArg* shared /* [32] */) {
  for (int o = 16; o > 0; o >>= 1) {
    MaxArg y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.i, o)};
    x = better(x, y);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  MaxArg r = shared[0];
  for (int w = 1; w < warps; w++) r = better(r, shared[w]);
  __syncthreads();  // shared may be reused by the caller's next reduction
  return r;
}

__device__ float block_sum(float x, float* shared /* [32] */) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  float r = 0.f;
  for (int w = 0; w < warps; w++) r += shared[w];  // fixed order: deterministic
  __syncthreads();
  return r;
}

__global__ void cross_entropy_kernel(float* losses, int32_t* correct, float* dlogits,
                                     const float* logits, const int32_t* targets, int V,
                                     int ignore, float dscale, const float* dev_dscale) {
  __shared__ MaxArg s_arg[32];
  __shared__ float s_sum[32];
  const int64_t row = blockIdx.x;
  const float* l = logits + row * V;
  float* d = dlogits ? dlogits + row * V : nullptr;
  const int y = targets[row];
  if (y == ignore || y < 0 || y >= V) {  // out-of-range targets count as ignored, never read
    if (d)
      for (int v = threadIdx.x; v < V; v += blockDim.x) d[v] = 0.f;
    if (threadIdx.x == 0) {
      losses[row] = 0.f;
      correct[row] = 0;
    }
    return;
  }
  if (dev_dscale) dscale = *dev_dscale;
  const float ly = l[y];  // read before any thread overwrites the row (dlogits may alias)
  MaxArg best{-FLT_MAX, V};
  for (int v = threadIdx.x; v < V; v += blockDim.x) best = better(best, MaxArg{l[v], v});
  best = block_maxarg(best, s_arg);
  float s = 0.f;
  for (int v = threadIdx.x; v < V; v += blockDim.x) s += expf(l[v] - best.v);
  s = block_sum(s, s_sum);
  if (threadIdx.x == 0) {
    losses[row] = best.v + logf(s) - ly;
    correct[row] = best.i == y;
  }
  if (d) {
    const float k = dscale / s;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
      d[v] = expf(l[v] - best.v) * k - (v == y ? dscale : 0.f);
  }
}

}  // namespace

int cross_entropy_forward_backward(float* losses, int32_t* correct, float* dlogits,
                                   const float* logits, const int32_t* targets, int N, int V,
                                   int ignore, float dscale) {
  clear_error();
  if (N <= 0) return 0;
  if (V <= 0) return fail(1, "cross_entropy_forward_backward", "V must be positive");
  cross_entropy_kernel<<<unsigned(N), kThreads, 0, stream()>>>(losses, correct, dlogits, logits,
                                                               targets, V, ignore, dscale, nullptr);
  return check_launch("cross_entropy_kernel");
}

int cross_entropy_forward_backward_device(float* losses, int32_t* correct, float* dlogits,
                                          const float* logits, const int32_t* targets, int N,
                                          int V, int ignore, const float* dscale) {
  clear_error();
  if (N <= 0) return 0;
  if (V <= 0) return fail(1, "cross_entropy_forward_backward_device", "V must be positive");
  if (!dscale) return fail(1, "cross_entropy_forward_backward_device", "dscale is NULL");
  cross_entropy_kernel<<<unsigned(N), kThreads, 0, stream()>>>(losses, correct, dlogits, logits,
                                                               targets, V, ignore, 0.f, dscale);
  return check_launch("cross_entropy_kernel");
}

}  // namespace lshlab_cuda
