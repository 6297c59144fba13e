/*
 * dropout.cu: the elementwise ops of the training step around the residual stream, float32:
 *
 *   dropout_add_forward: out = (keep ? x * scale : 0) + residual, keep (n bytes) saved for the
 *                        backward; without dropout out = x + residual. x, residual, out (n)
 *   dropout_backward   : dx = keep ? dout * scale : 0                            dout, dx (n)
 *   tanh_forward       : out = tanh(x)                       (the pooler's activation)
 *   tanh_backward      : dx = dout * (1 - out^2)
 *
 * The keep mask and scale are the CPU's bit for bit (dropout.cuh): a thread owns an aligned
 * group of four elements, one Philox call. x * scale is rounded before the residual is added
 * (__fmul_rn: no fused multiply-add), as the CPU's dropout_forward then add_inplace, so the
 * result matches the CPU float path exactly. Memory-bound: one read per input, one write per
 * output; grid-stride loops.
 */
#include "dropout.cuh"

namespace lshlab_cuda {
namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t work_items) {
  const int64_t blocks = ceil_div(work_items, kThreads);
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

// Thread per group of four elements [4g, 4g+4) (the last one may be partial).
__global__ void dropout_add_kernel(float* out, uint8_t* keep, const float* x, const float* residual,
                                   int64_t n, DropoutKeep d) {
  const int64_t groups = (n + 3) / 4;
  for (int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; g < groups;
       g += int64_t(gridDim.x) * blockDim.x) {
    uint32_t draws[4] = {0, 0, 0, 0};
    if (d.on) d.draw_group(draws, d.base + uint64_t(4 * g));
#pragma unroll
    for (int l = 0; l < 4; l++) {
      const int64_t i = 4 * g + l;
      if (i >= n) break;
      float v = x[i];
      if (d.on) {
        const bool k = d.kept(draws[l]);
        v = k ? __fmul_rn(v, d.scale) : 0.f;
        if (keep) keep[i] = k ? 1 : 0;
      } else if (keep) {
        keep[i] = 1;
      }
      if (residual) v += residual[i];
      out[i] = v;
    }
  }
}

__global__ void dropout_backward_kernel(float* dx, const float* dout, const uint8_t* keep,
                                        int64_t n, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = keep[i] ? dout[i] * scale : 0.f;
}

__global__ void tanh_forward_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = tanhf(x[i]);
}

__global__ void tanh_backward_kernel(float* dx, const float* dout, const float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float y = out[i];
    dx[i] = dout[i] * (1.f - y * y);
  }
}

}  // namespace

int dropout_add_forward(float* out, uint8_t* keep, const float* x, const float* residual,
                        int64_t n, const lshlab_cuda_dropout* dropout) {
  clear_error();
  if (n <= 0) return 0;
  const DropoutKeep d = make_dropout_keep(dropout);
  dropout_add_kernel<<<grid_for(ceil_div(n, 4)), kThreads, 0, stream()>>>(out, keep, x, residual,
                                                                           n, d);
  return check_launch("dropout_add_kernel");
}

int dropout_backward(float* dx, const float* dout, const uint8_t* keep, int64_t n, double p) {
  clear_error();
  if (n <= 0) return 0;
  const float scale = float(1.0 / (1.0 - p));  // as dropout_backward<float>
  dropout_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dx, dout, keep, n, scale);
  return check_launch("dropout_backward_kernel");
}

int tanh_forward(float* out, const float* x, int64_t n) {
  clear_error();
  if (n <= 0) return 0;
  tanh_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, x, n);
  return check_launch("tanh_forward_kernel");
}

int tanh_backward(float* dx, const float* dout, const float* out, int64_t n) {
  clear_error();
  if (n <= 0) return 0;
  tanh_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dx, dout, out, n);
  return check_launch("tanh_backward_kernel");
}

}  // namespace lshlab_cuda
