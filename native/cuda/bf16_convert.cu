/*
 * bf16_convert.cu: the two small kernels behind --precision bf16 (gemm_lt.cc's mode 2), kept
 * apart from the GEMM because gemm_lt.cc is host code (no kernels; the emulation compiles it
 * against its host cuBLASLt, emulation/cublasLt.h):
 *
 *   f32_to_bf16_2d: dst (rows, cols) ld ldd = bf16(src (rows, cols) ld lds), round to nearest
 *                   even: the GEMM operands of an autocast-style bf16 GEMM, packed densely into
 *                   the library's scratch buffer (the fp32 master copies are not touched).
 *   add_bias_rows:  D (M, N) ld ldd += bias (N) per column: the bias, when cuBLASLt offers no
 *                   algorithm with the bias epilogue for bf16 inputs (see gemm_lt.cc).
 *
 * bf16 is the top 16 bits of an fp32, so the conversion is integer arithmetic on the bits:
 * add 0x7FFF plus the lowest kept bit and truncate (ties to even; overflow rounds to inf as
 * IEEE does); NaN stays a quiet NaN of the same sign. This is what __float2bfloat16_rn does,
 * written without cuda_bf16.h so it builds for every target architecture and in the host
 * emulation (emulation/check.sh compiles every .cu). Memory-bound: one read, one half-width
 * write per element.
 */
#include <cstring>

#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ uint32_t float_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

__device__ __forceinline__ uint16_t bf16_bits_rn(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN: keep it quiet
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

__global__ void f32_to_bf16_kernel(uint16_t* dst, int ldd, const float* src, int lds, int rows, int cols) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y)
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x)
      dst[int64_t(r) * ldd + c] = bf16_bits_rn(src[int64_t(r) * lds + c]);
}

__global__ void add_bias_rows_kernel(float* d, int ldd, const float* bias, int M, int N) {
  for (int r = blockIdx.y; r < M; r += gridDim.y)
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < N; c += gridDim.x * blockDim.x)
      d[int64_t(r) * ldd + c] += bias[c];
}

dim3 grid_2d(int rows, int cols) {
  const int64_t bx = ceil_div(cols, kThreads);
  return dim3(unsigned(bx < 65535 ? bx : 65535), unsigned(rows < 65535 ? rows : 65535));
}

}  // namespace

int f32_to_bf16_2d(uint16_t* dst, int ldd, const float* src, int lds, int rows, int cols) {
  if (rows <= 0 || cols <= 0) return 0;
  f32_to_bf16_kernel<<<grid_2d(rows, cols), kThreads, 0, stream()>>>(dst, ldd, src, lds, rows, cols);
  return check_launch("f32_to_bf16_kernel");
}

int add_bias_rows(float* d, int ldd, const float* bias, int M, int N) {
  if (M <= 0 || N <= 0) return 0;
  add_bias_rows_kernel<<<grid_2d(M, N), kThreads, 0, stream()>>>(d, ldd, bias, M, N);
  return check_launch("add_bias_rows_kernel");
}

}  // namespace lshlab_cuda
