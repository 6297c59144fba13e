/*
 * elementwise.cu: the elementwise ops: erf-GELU forward/backward (also the GEMM's GELU
 * epilogue, on a strided matrix) and the AdamW update. All float32, one thread per element
 * with a grid-stride loop; memory-bound, so the work is one read and one write per tensor.
 *
 *   gelu_forward : out = 0.5 x (1 + erf(x / sqrt 2))                         x, out (n)
 *   gelu_backward: dx = dout * (0.5 (1 + erf(x / sqrt 2)) + x phi(x))        phi = N(0,1) pdf
 *   adamw_update : as train/adamw.cc, in the same order of float operations:
 *                  g' = g * grad_scale; p *= decay; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
 *                  p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)      p, m, v, g (n)
 *   adamw_update_clipped: the same with grad_scale = clip_coefficient(sqrt(*sum_sq), max_norm)
 *                  computed on the device (sum_sq from sum_squares, reduce.cu), so the step
 *                  needs no host round trip; a non-finite norm leaves p, m, v untouched.
 *   adamw_update_chunks: adamw_update_clipped over a table of (begin, end, decay) chunks, the
 *                  whole model in one launch (the training step's update); _device reads the
 *                  constants from device memory (a captured step replays with this step's lr).
 * erff/expf/sqrtf are the accurate device functions (no fast-math): parity with the CPU's
 * vectorised erf/exp is checked in the driver's cuda/ tests.
 */
#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float gelu(float x) {
  return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
}

__device__ __forceinline__ float gelu_grad(float x) {
  const float cdf = 0.5f * (1.f + erff(x * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = ceil_div(n, kThreads);
  return unsigned(blocks < 65535 * 8 ? blocks : 65535 * 8);  // grid-stride beyond that
}

__global__ void gelu_forward_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = gelu(x[i]);
}

__global__ void gelu_backward_kernel(float* dx, const float* dout, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = dout[i] * gelu_grad(x[i]);
}

// out (M,N) ld ldo = gelu(pre (M,N) ld ldp); one block row per matrix row.
__global__ void gelu_strided_kernel(float* out, int ldo, const float* pre, int ldp, int M, int N) {
  for (int r = blockIdx.y; r < M; r += gridDim.y)
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < N; c += gridDim.x * blockDim.x)
      out[int64_t(r) * ldo + c] = gelu(pre[int64_t(r) * ldp + c]);
}

// One element's AdamW update with gradient scale gs (the clipping coefficient).
__device__ __forceinline__ void adamw_element(float* p, float* m, float* v, const float* g,
                                              int64_t i, const lshlab_cuda_adamw_params& a,
                                              float gs) {
  const float gi = g[i] * gs;
  float pi = p[i] * a.decay;
  const float mi = a.beta1 * m[i] + (1.0f - a.beta1) * gi;
  const float vi = a.beta2 * v[i] + (1.0f - a.beta2) * gi * gi;
  const float denom = sqrtf(vi) * a.inv_sqrt_bc2 + a.eps;
  pi -= a.step_size * mi / denom;
  p[i] = pi;
  m[i] = mi;
  v[i] = vi;
}

__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, int64_t n,
                             lshlab_cuda_adamw_params a) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    adamw_element(p, m, v, g, i, a, a.grad_scale);
}

// The clipping coefficient from the device-side global norm, as train/adamw.cc
// clip_coefficient in float64 (IEEE sqrt and division: the CPU's value exactly); NaN when the
// norm is not finite (the update is then skipped).
__device__ __forceinline__ float clip_scale(const double* sum_sq, double max_norm) {
  const double norm = sqrt(*sum_sq);
  if (!(norm < INFINITY)) return NAN;  // inf or NaN
  double coef = 1.0;
  if (max_norm > 0) {
    coef = max_norm / (norm + 1e-6);
    coef = coef < 1.0 ? coef : 1.0;
  }
  return float(coef);
}

__global__ void adamw_clipped_kernel(float* p, float* m, float* v, const float* g, int64_t n,
                                     lshlab_cuda_adamw_params a, const double* sum_sq,
                                     double max_norm) {
  const float gs = clip_scale(sum_sq, max_norm);
  if (gs != gs) return;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    adamw_element(p, m, v, g, i, a, gs);
}

// One block per chunk (begin, end, decay) of chunks (nchunks, 3): every parameter of a model
// in one launch, instead of one small launch per LayerNorm vector and bias.
// dev_a non-null: the constants are read from there (device memory) instead of `a`.
__global__ void adamw_chunks_kernel(float* p, float* m, float* v, const float* g,
                                    const int64_t* chunks, lshlab_cuda_adamw_params a,
                                    const lshlab_cuda_adamw_params* dev_a, const double* sum_sq,
                                    double max_norm) {
  if (dev_a) a = *dev_a;
  const float gs = clip_scale(sum_sq, max_norm);
  if (gs != gs) return;
  const int64_t* c = chunks + 3 * int64_t(blockIdx.x);
  if (c[2] == 0) a.decay = 1.0f;
  for (int64_t i = c[0] + threadIdx.x; i < c[1]; i += blockDim.x) adamw_element(p, m, v, g, i, a, gs);
}

}  // namespace

int gelu_forward(float* out, const float* x, int64_t n) {
  clear_error();
  if (n <= 0) return 0;
  gelu_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, x, n);
  return check_launch("gelu_forward_kernel");
}

int gelu_backward(float* dx, const float* dout, const float* x, int64_t n) {
  clear_error();
  if (n <= 0) return 0;
  gelu_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dx, dout, x, n);
  return check_launch("gelu_backward_kernel");
}

int gelu_forward_strided(float* out, int ldo, const float* pre, int ldp, int M, int N) {
  if (M <= 0 || N <= 0) return 0;
  const dim3 grid(unsigned(ceil_div(N, kThreads)), unsigned(M < 65535 ? M : 65535));
  gelu_strided_kernel<<<grid, kThreads, 0, stream()>>>(out, ldo, pre, ldp, M, N);
  return check_launch("gelu_strided_kernel");
}

int adamw_update(float* p, float* m, float* v, const float* g, int64_t n,
                 const lshlab_cuda_adamw_params* params) {
  clear_error();
  if (n <= 0) return 0;
  adamw_kernel<<<grid_for(n), kThreads, 0, stream()>>>(p, m, v, g, n, *params);
  return check_launch("adamw_kernel");
}

int adamw_update_clipped(float* p, float* m, float* v, const float* g, int64_t n,
                         const lshlab_cuda_adamw_params* params, const double* sum_sq,
                         double max_norm) {
  clear_error();
  if (n <= 0) return 0;
  adamw_clipped_kernel<<<grid_for(n), kThreads, 0, stream()>>>(p, m, v, g, n, *params, sum_sq,
                                                               max_norm);
  return check_launch("adamw_clipped_kernel");
}

int adamw_update_chunks(float* p, float* m, float* v, const float* g, const int64_t* chunks,
                        int nchunks, const lshlab_cuda_adamw_params* params, const double* sum_sq,
                        double max_norm) {
  clear_error();
  if (nchunks <= 0) return 0;
  adamw_chunks_kernel<<<unsigned(nchunks), kThreads, 0, stream()>>>(p, m, v, g, chunks, *params, nullptr,
                                                                   sum_sq, max_norm);
  return check_launch("adamw_chunks_kernel");
}

int adamw_update_chunks_device(float* p, float* m, float* v, const float* g, const int64_t* chunks,
                               int nchunks, const lshlab_cuda_step_constants* constants,
                               const double* sum_sq, double max_norm) {
  clear_error();
  if (nchunks <= 0) return 0;
  if (!constants) return fail(1, "adamw_update_chunks_device", "constants is NULL");
  const lshlab_cuda_adamw_params unused{};
  adamw_chunks_kernel<<<unsigned(nchunks), kThreads, 0, stream()>>>(p, m, v, g, chunks, unused,
                                                                   &constants->adamw, sum_sq, max_norm);
  return check_launch("adamw_chunks_kernel");
}

}  // namespace lshlab_cuda
