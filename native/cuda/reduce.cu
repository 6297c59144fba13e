/*
 * reduce.cu: the deterministic reductions of the training step (no float atomics: every sum
 * has one fixed order, so a step is reproducible run to run):
 *
 *   bias_backward: db (C) += column sums of dout (N,C) with leading dimension ld   as ops/cpu
 *   sum_squares  : *sum_sq = sum g[i]^2 over n, in float64 (the global gradient norm's square)
 *
 * bias_backward: one block per strip of 8 columns (one 32-byte sector of a row), 64 row lanes:
 * lane y sums rows y, y+64, ... of its column in order (unrolled by 8: 8 loads in flight per
 * thread), then a fixed shared-memory tree over the 64 lanes. A warp reads 4 rows x 8 columns:
 * whole sectors. Shapes it serves: N up to 65,536 rows (64 x 1024 tokens), C = 128..3072, and
 * the MLM decoder bias (C = V = 30522); the narrow strip keeps C / 8 >= 16 blocks busy at
 * C = 128. Not timed on a GPU yet (bench-cuda has rows for it); without a workspace in the ABI
 * the rows of one column cannot be split across blocks.
 * sum_squares: a grid of at most LSHLAB_CUDA_SUM_SQ_WORKSPACE blocks (its size depends on n
 * only), each thread summing a grid-stride slice in float64, a shared-memory tree per block
 * into workspace[block], then one block sums the partials in the same fixed way.
 */
#include <algorithm>

#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr int kStripCols = 8;   // bias_backward: columns per block
constexpr int kRowLanes = 64;   // bias_backward: threads per column
constexpr int kSumThreads = 256;
constexpr int kSumItemsPerThread = 8;  // sum_squares: elements per thread at least (sets the grid)

__global__ void __launch_bounds__(kStripCols * kRowLanes)
bias_backward_kernel(float* db, const float* dout, int N, int C, int ld) {
  __shared__ float part[kRowLanes][kStripCols + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int c = blockIdx.x * kStripCols + tx;
  float acc = 0.f;
  if (c < C) {
    const float* col = dout + c;
#pragma unroll 8
    for (int n = ty; n < N; n += kRowLanes) acc += col[int64_t(n) * ld];
  }
  part[ty][tx] = acc;
  __syncthreads();
  for (int half = kRowLanes / 2; half > 0; half /= 2) {
    if (ty < half) part[ty][tx] += part[ty + half][tx];
    __syncthreads();
  }
  if (ty == 0 && c < C) db[c] += part[0][tx];
}

// Sums v over the block's threads in a fixed tree; the result is valid in thread 0.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double sh[kSumThreads];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int half = kSumThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) sh[threadIdx.x] += sh[threadIdx.x + half];
    __syncthreads();
  }
  return sh[0];
}

__global__ void __launch_bounds__(kSumThreads)
sum_squares_partial_kernel(double* partial, const float* g, int64_t n) {
  double s = 0.0;
  for (int64_t i = blockIdx.x * int64_t(kSumThreads) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * kSumThreads) {
    const double v = g[i];
    s += v * v;
  }
  const double total = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void __launch_bounds__(kSumThreads)
sum_squares_final_kernel(double* sum_sq, const double* partial, int blocks) {
  double s = 0.0;
  for (int b = threadIdx.x; b < blocks; b += kSumThreads) s += partial[b];
  const double total = block_sum(s);
  if (threadIdx.x == 0) *sum_sq = total;
}

}  // namespace

int bias_backward(float* db, const float* dout, int N, int C, int ld) {
  clear_error();
  if (N <= 0 || C <= 0) return 0;
  if (ld < C) return fail(1, "bias_backward", "leading dimension ld must be >= C");
  bias_backward_kernel<<<unsigned(ceil_div(C, kStripCols)), dim3(kStripCols, kRowLanes), 0,
                         stream()>>>(db, dout, N, C, ld);
  return check_launch("bias_backward_kernel");
}

int sum_squares(double* sum_sq, const float* g, int64_t n, double* workspace) {
  clear_error();
  if (n <= 0) return check(cudaMemsetAsync(sum_sq, 0, sizeof(double), stream()), "sum_squares");
  const int64_t wanted = ceil_div(n, int64_t(kSumThreads) * kSumItemsPerThread);
  const int blocks = int(std::min<int64_t>(wanted, LSHLAB_CUDA_SUM_SQ_WORKSPACE));
  sum_squares_partial_kernel<<<unsigned(blocks), kSumThreads, 0, stream()>>>(workspace, g, n);
  if (int rc = check_launch("sum_squares_partial_kernel")) return rc;
  sum_squares_final_kernel<<<1, kSumThreads, 0, stream()>>>(sum_sq, workspace, blocks);
  return check_launch("sum_squares_final_kernel");
}

}  // namespace lshlab_cuda
