/*
 * layernorm.cu: LayerNorm over the last dimension, forward and backward, float32.
 *   forward : out = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), var the population
 *             variance; mean, rstd (N) saved for backward.        as ops/cpu/ops.cc
 *   backward: dx = (dout*w - mean(dout*w) - xhat * mean(dout*w*xhat)) * rstd   (overwritten)
 *             dw += sum_rows dout * xhat, db += sum_rows dout                   (accumulated)
 * Shapes: x, out, dout, dx (N,C); w, b, dw, db (C); mean, rstd (N).
 *
 * One warp per row (rows are short: C = 128..1024 in BERT), two passes over the row for the
 * variance (as the CPU reference: no E[x^2] - mean^2 cancellation). dw/db are column sums over
 * all rows: a second kernel, one thread per column with a fixed row order per thread and a
 * fixed shared-memory tree, so results are deterministic (no atomics). Not tuned yet: no
 * vectorised loads, and the column-sum kernel uses few blocks when C is small.
 */
#include "backend.h"

namespace lshlab_cuda {
namespace {

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

constexpr int kRowsPerBlock = 8;  // warps per block, one row each

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* x,
                                         const float* w, const float* b, int N, int C, float eps) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.y;
  const int lane = threadIdx.x;
  if (row >= N) return;
  const float* xr = x + int64_t(row) * C;
  float s = 0.f;
  for (int c = lane; c < C; c += 32) s += xr[c];
  const float m = warp_sum(s) / float(C);
  float v = 0.f;
  for (int c = lane; c < C; c += 32) {
    const float d = xr[c] - m;
    v += d * d;
  }
  const float rs = rsqrtf(warp_sum(v) / float(C) + eps);
  float* o = out + int64_t(row) * C;
  for (int c = lane; c < C; c += 32) o[c] = (xr[c] - m) * rs * w[c] + b[c];
  if (lane == 0) {
    mean[row] = m;
    rstd[row] = rs;
  }
}

__global__ void layernorm_backward_dx_kernel(float* dx, const float* dout, const float* x,
                                             const float* w, const float* mean, const float* rstd,
                                             int N, int C) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.y;
  const int lane = threadIdx.x;
  if (row >= N) return;
  const float* xr = x + int64_t(row) * C;
  const float* dr = dout + int64_t(row) * C;
  const float m = mean[row], rs = rstd[row];
  float sum_dn = 0.f, sum_dn_xh = 0.f;
  for (int c = lane; c < C; c += 32) {
    const float dn = dr[c] * w[c];
    sum_dn += dn;
    sum_dn_xh += dn * ((xr[c] - m) * rs);
  }
  const float a = warp_sum(sum_dn) / float(C);
  const float bb = warp_sum(sum_dn_xh) / float(C);
  float* o = dx + int64_t(row) * C;
  for (int c = lane; c < C; c += 32) {
    const float xh = (xr[c] - m) * rs;
    o[c] = (dr[c] * w[c] - a - xh * bb) * rs;
  }
}

// Block (32 columns, 16 row groups): thread (tx, ty) sums rows ty, ty+16, ... of column
// blockIdx.x*32+tx; then a shared-memory reduction over ty. Reads are coalesced along columns.
constexpr int kColGroups = 16;
__global__ void layernorm_backward_dwdb_kernel(float* dw, float* db, const float* dout,
                                               const float* x, const float* mean,
                                               const float* rstd, int N, int C) {
  __shared__ float sw[kColGroups][33];
  __shared__ float sb[kColGroups][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  float aw = 0.f, ab = 0.f;
  if (c < C) {
    for (int n = threadIdx.y; n < N; n += kColGroups) {
      const float d = dout[int64_t(n) * C + c];
      aw += d * ((x[int64_t(n) * C + c] - mean[n]) * rstd[n]);
      ab += d;
    }
  }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float tw = 0.f, tb = 0.f;
    for (int g = 0; g < kColGroups; g++) {
      tw += sw[g][threadIdx.x];
      tb += sb[g][threadIdx.x];
    }
    dw[c] += tw;
    db[c] += tb;
  }
}

}  // namespace

int layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w,
                      const float* b, int N, int C, float eps) {
  clear_error();
  if (N <= 0 || C <= 0) return 0;
  const dim3 block(32, kRowsPerBlock);
  layernorm_forward_kernel<<<unsigned(ceil_div(N, kRowsPerBlock)), block, 0, stream()>>>(
      out, mean, rstd, x, w, b, N, C, eps);
  return check_launch("layernorm_forward_kernel");
}

int layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                       const float* w, const float* mean, const float* rstd, int N, int C) {
  clear_error();
  if (N <= 0 || C <= 0) return 0;
  layernorm_backward_dx_kernel<<<unsigned(ceil_div(N, kRowsPerBlock)), dim3(32, kRowsPerBlock), 0,
                                 stream()>>>(dx, dout, x, w, mean, rstd, N, C);
  if (int rc = check_launch("layernorm_backward_dx_kernel")) return rc;
  layernorm_backward_dwdb_kernel<<<unsigned(ceil_div(C, 32)), dim3(32, kColGroups), 0, stream()>>>(
      dw, db, dout, x, mean, rstd, N, C);
  return check_launch("layernorm_backward_dwdb_kernel");
}

}  // namespace lshlab_cuda
