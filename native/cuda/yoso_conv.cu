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
 * part touched; mask (B,T) or null; w, dw (H,W); workspace (B*H*kDwChunks*W) doubles.
 * The forward and dv kernels are one thread per output element, the taps in the CPU's order.
 * dw has no atomics and reads dctx and V about once: a block per (b, h, chunk, 64 taps) stages
 * 32-row tiles of dctx and of V (with the taps' halo) in shared memory, 32 head dims at a time,
 * and sums the products of its taps in double (warp k sums tap k: lanes over dims, rows in
 * order, then a fixed shuffle tree); chunk c takes the row tiles c, c + kDwChunks, ... Then one
 * thread per (h, k) sums the chunks in order per batch row, rounds to float and adds the rows in
 * batch order as the CPU does, so a step repeats bit for bit. (The first version ran one block
 * per (b, h, k) over all T*D products: every tap re-read dctx and V, W times the traffic, about
 * 1 TB at n = 2^20 with W = 65.)
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

constexpr int kDwChunks = LSHLAB_CUDA_YOSO_CONV_CHUNKS;  // row-tile chunks per (b, h)
constexpr int kRows = 32, kTaps = 64, kDims = 32;           // a block's tile: rows, taps, dims
static_assert(kThreads == 256, "conv_dw_partial_kernel: 8 warps share the taps");

// workspace[((b*H + h)*kDwChunks + c)*W + k] = sum over the row tiles of chunk c and all d of
// dctx[b,t,h,d] (V*mask)[b,t+k-pad,h,d], for the taps k of block's tap tile.
__global__ void __launch_bounds__(kThreads)
conv_dw_partial_kernel(double* part, const float* dctx, const float* qkv, const int32_t* mask,
                       int T, int H, int D, int W) {
  __shared__ float g_s[kRows][kDims];
  __shared__ float v_s[kRows + kTaps - 1][kDims];
  __shared__ double part_s[kTaps];
  const int tap_tiles = (W + kTaps - 1) / kTaps;
  int64_t rest = blockIdx.x;
  const int kt = int(rest % tap_tiles);
  rest /= tap_tiles;
  const int c = int(rest % kDwChunks), bh = int(rest / kDwChunks), b = bh / H, h = bh % H;
  const int k0 = kt * kTaps, kn = W - k0 < kTaps ? W - k0 : kTaps, pad = W / 2;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t C = int64_t(H) * D;
  const int32_t* mk = mask ? mask + int64_t(b) * T : nullptr;
  const float* g = dctx + int64_t(b) * T * C + h * D;
  const float* v = qkv + int64_t(b) * T * 3 * C + 2 * C + h * D;
  if (int(threadIdx.x) < kTaps) part_s[threadIdx.x] = 0.0;
  for (int64_t t0 = int64_t(c) * kRows; t0 < T; t0 += int64_t(kDwChunks) * kRows)
    for (int d0 = 0; d0 < D; d0 += kDims) {
      __syncthreads();  // the previous tile's readers are done (and part_s is zeroed)
      for (int e = threadIdx.x; e < kRows * kDims; e += kThreads) {
        const int r = e / kDims, dd = e % kDims;
        const int64_t t = t0 + r;
        g_s[r][dd] = t < T && d0 + dd < D ? g[t * C + d0 + dd] : 0.f;
      }
      for (int e = threadIdx.x; e < (kRows + kn - 1) * kDims; e += kThreads) {
        const int r = e / kDims, dd = e % kDims;
        const int64_t s = t0 + r + k0 - pad;
        const bool in = s >= 0 && s < T && (!mk || mk[s]) && d0 + dd < D;
        v_s[r][dd] = in ? v[s * 3 * C + d0 + dd] : 0.f;
      }
      __syncthreads();
      for (int k = warp; k < kn; k += kThreads / 32) {
        double acc = 0.0;
        for (int r = 0; r < kRows; r++) acc += double(g_s[r][lane]) * double(v_s[r + k][lane]);
        for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) part_s[k] += acc;  // tap k belongs to this warp alone
      }
    }
  __syncthreads();
  if (int(threadIdx.x) < kn) part[(int64_t(bh) * kDwChunks + c) * W + k0 + threadIdx.x] = part_s[threadIdx.x];
}

__global__ void conv_dw_final_kernel(float* dw, const double* part, int B, int H, int W) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);  // h * W + k
  if (i >= H * W) return;
  const int h = i / W, k = i % W;
  float acc = dw[i];
  for (int b = 0; b < B; b++) {
    const double* p = part + (int64_t(b) * H + h) * kDwChunks * W + k;
    double s = 0.0;
    for (int c = 0; c < kDwChunks; c++) s += p[int64_t(c) * W];
    acc += float(s);
  }
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
  const int64_t blocks = int64_t(B) * H * kDwChunks * ((W + kTaps - 1) / kTaps);
  if (blocks > 0x7fffffff) return fail(1, "yoso_conv_backward", "too many batch rows x heads for one grid");
  conv_dw_partial_kernel<<<unsigned(blocks), kThreads, 0, stream()>>>(
      workspace, dctx, qkv, mask, T, H, D, W);
  if (int rc = check_launch("conv_dw_partial_kernel")) return rc;
  conv_dw_final_kernel<<<unsigned(ceil_div(int64_t(H) * W, kThreads)), kThreads, 0, stream()>>>(
      dw, workspace, B, H, W);
  return check_launch("conv_dw_final_kernel");
}

}  // namespace lshlab_cuda
