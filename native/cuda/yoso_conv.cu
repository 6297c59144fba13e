/*
 * yoso_conv.cu: YOSO-C's depthwise convolution of V * mask (attention/yoso.h, conv_window W odd),
 * the part of YOSO-C that the LSH kernels (yoso_*.cu) do not do. As the CPU's conv_add and
 * conv_backward, per (b, h), pad = W / 2, s = t + k - pad:
 *
 *   forward : ctx[b,t,h,:] += sum_k w[h,k] mask[b,s] v[b,s,h,:]         (s in [0, T))
 *   backward: dv[b,s,h,:]  += mask[b,s] sum_k w[h,k] dctx[b,s-k+pad,h,:] (the forward's transpose)
 *             dw[h,k]      += float(sum_{t,d} dctx[b,t,h,d] mask[b,s] v[b,s,h,d]), b in order
 *
 * Shapes: qkv (B,T,3C) with V at columns 2C + h*D; ctx, dctx (B,T,C); dqkv (B,T,3C), only its V
 * part touched; mask (B,T) or null; w, dw (H,W); workspace (B*H*W) doubles.
 * The forward and dv kernels are one thread per output element, the taps in the CPU's order.
 * dw has no atomics: one block per (b, h, k) sums its T*D products in double with a fixed tree
 * into workspace, then one thread per (h, k) adds the B partials in batch order, each rounded to
 * float as the CPU adds them, so a step repeats bit for bit.
 */
#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ bool tap_ok(const int32_t* mk, int s, int T) {
  return s >= 0 && s < T && (!mk || mk[s]);
}

__global__ void __launch_bounds__(kThreads)
conv_forward_kernel(float* ctx, const float* qkv, const int32_t* mask, const float* w, int B,
                    int T, int H, int D, int W) {
  const int64_t C = int64_t(H) * D, n = int64_t(B) * T * C;
  const int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  if (i >= n) return;
  const int c = int(i % C), h = c / D;
  const int64_t bt = i / C;
  const int b = int(bt / T), t = int(bt % T), pad = W / 2;
  const int32_t* mk = mask ? mask + int64_t(b) * T : nullptr;
  const float* v = qkv + int64_t(b) * T * 3 * C + 2 * C + c;
  float acc = ctx[i];
  for (int k = 0; k < W; k++) {
    const int s = t + k - pad;
    if (tap_ok(mk, s, T)) acc += w[h * W + k] * v[int64_t(s) * 3 * C];
  }
  ctx[i] = acc;
}

__global__ void __launch_bounds__(kThreads)
conv_dv_kernel(float* dqkv, const float* dctx, const int32_t* mask, const float* w, int B, int T,
               int H, int D, int W) {
  const int64_t C = int64_t(H) * D, n = int64_t(B) * T * C;
  const int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  if (i >= n) return;
  const int c = int(i % C), h = c / D;
  const int64_t bs = i / C;
  const int b = int(bs / T), s = int(bs % T), pad = W / 2;
  if (mask && !mask[bs]) return;
  const float* g = dctx + int64_t(b) * T * C + c;
  float* dv = dqkv + bs * 3 * C + 2 * C + c;
  float acc = *dv;
  // The CPU walks t ascending with k inside; for a fixed s, t = s - k + pad ascends as k
  // descends, so the same float additions in the same order are k = W-1 .. 0.
  for (int k = W - 1; k >= 0; k--) {
    const int t = s - k + pad;
    if (t >= 0 && t < T) acc += w[h * W + k] * g[int64_t(t) * C];
  }
  *dv = acc;
}

__device__ __forceinline__ double block_sum(double v) {
  __shared__ double sh[kThreads];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) sh[threadIdx.x] += sh[threadIdx.x + half];
    __syncthreads();
  }
  return sh[0];
}

// One block per (b, h, k): workspace[(b*H + h)*W + k] = sum_{t,d} dctx[b,t,h,d] (V*mask)[b,s,h,d].
__global__ void __launch_bounds__(kThreads)
conv_dw_partial_kernel(double* part, const float* dctx, const float* qkv, const int32_t* mask,
                       int T, int H, int D, int W) {
  const int k = int(blockIdx.x % W), bh = int(blockIdx.x / W), b = bh / H, h = bh % H;
  const int64_t C = int64_t(H) * D, pad = W / 2;
  const int32_t* mk = mask ? mask + int64_t(b) * T : nullptr;
  const float* g = dctx + int64_t(b) * T * C + h * D;
  const float* v = qkv + int64_t(b) * T * 3 * C + 2 * C + h * D;
  double acc = 0.0;
  for (int64_t e = threadIdx.x; e < int64_t(T) * D; e += kThreads) {
    const int t = int(e / D), d = int(e % D), s = int(t + k - pad);
    if (tap_ok(mk, s, T)) acc += double(g[int64_t(t) * C + d]) * double(v[int64_t(s) * 3 * C + d]);
  }
  const double total = block_sum(acc);
  if (threadIdx.x == 0) part[blockIdx.x] = total;
}

__global__ void conv_dw_final_kernel(float* dw, const double* part, int B, int H, int W) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);  // h * W + k
  if (i >= H * W) return;
  float acc = dw[i];
  for (int b = 0; b < B; b++) acc += float(part[int64_t(b) * H * W + i]);
  dw[i] = acc;
}

int check_shape(const char* what, int B, int T, int H, int D, int W) {
  if (B < 0 || T < 0 || H <= 0 || D <= 0) return fail(1, what, "bad shape");
  if (W <= 0 || W % 2 == 0) return fail(1, what, "conv_window W must be odd and positive");
  return 0;
}

}  // namespace

int yoso_conv_forward(float* ctx, const float* qkv, const int32_t* mask, const float* w, int B,
                      int T, int H, int D, int W) {
  clear_error();
  if (int rc = check_shape("yoso_conv_forward", B, T, H, D, W)) return rc;
  const int64_t n = int64_t(B) * T * H * D;
  if (n == 0) return 0;
  conv_forward_kernel<<<unsigned(ceil_div(n, kThreads)), kThreads, 0, stream()>>>(
      ctx, qkv, mask, w, B, T, H, D, W);
  return check_launch("conv_forward_kernel");
}

int yoso_conv_backward(float* dqkv, float* dw, double* workspace, const float* dctx,
                       const float* qkv, const int32_t* mask, const float* w, int B, int T, int H,
                       int D, int W) {
  clear_error();
  if (int rc = check_shape("yoso_conv_backward", B, T, H, D, W)) return rc;
  const int64_t n = int64_t(B) * T * H * D;
  if (n == 0) return 0;
  conv_dv_kernel<<<unsigned(ceil_div(n, kThreads)), kThreads, 0, stream()>>>(
      dqkv, dctx, mask, w, B, T, H, D, W);
  if (int rc = check_launch("conv_dv_kernel")) return rc;
  conv_dw_partial_kernel<<<unsigned(int64_t(B) * H * W), kThreads, 0, stream()>>>(
      workspace, dctx, qkv, mask, T, H, D, W);
  if (int rc = check_launch("conv_dw_partial_kernel")) return rc;
  conv_dw_final_kernel<<<unsigned(ceil_div(int64_t(H) * W, kThreads)), kThreads, 0, stream()>>>(
      dw, workspace, B, H, W);
  return check_launch("conv_dw_final_kernel");
}

}  // namespace lshlab_cuda
