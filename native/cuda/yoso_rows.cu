/*
 * yoso_rows.cu: the per-row steps YOSO and yoso-e share (yoso_backward.cu, yoso_e.cu): the unit
 * q and k with their norms, the gradient through the output normalisation, and the gradients
 * through the input normalisations, each exactly as attention/yoso.cc's l2_rows and
 * l2_rows_backward (sums of squares and dots in float64, x * float(1 / norm), the dot skipped
 * where the norm was clamped to 1e-12), so rows match the CPU's float path to rounding.
 * Shapes: qkv, dqkv (B,T,3C); dctx, ctx (B,T,C); qn, kn, g (B,H,T,D); qnrm, knrm, ynrm (B,H,T).
 * One warp per (b, t, h) row, lanes over D (D <= 128: 4 values per lane in registers).
 */
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {

// One warp per (b, t, h): unit q, k and their norms into the workspace, and g (unless null).
__global__ void __launch_bounds__(kThreads)
yoso_prep_kernel(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
                 const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
                 Shape s) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= s.BH() * s.T) return;
  const int h = int(row % s.H);
  const int64_t bt = row / s.H, b = bt / s.T, t = bt % s.T, C = s.C();
  const int64_t hr = (b * s.H + h) * s.T + t;  // (B,H,T) index
  float x[kPerLane], y[kPerLane];
  for (int part = 0; part < 2; part++) {  // l2_rows of q, then k
    load_row(x, qkv + bt * 3 * C + part * C + h * s.D, s.D, lane);
    double ss = 0;
#pragma unroll
    for (int k = 0; k < kPerLane; k++) ss += double(x[k]) * x[k];
    const double nv = fmax(sqrt(warp_sum_d(ss)), kEps);
    const float inv = float(1.0 / nv);
    float* o = (part ? kn : qn) + hr * s.D;
#pragma unroll
    for (int k = 0; k < kPerLane; k++)
      if (lane + 32 * k < s.D) o[lane + 32 * k] = x[k] * inv;
    if (lane == 0) (part ? knrm : qnrm)[hr] = float(nv);
  }
  if (g == nullptr) return;
  // l2_rows_backward of ctx = X / |X| (the dot is skipped where the norm was clamped).
  load_row(x, dctx + bt * C + h * s.D, s.D, lane);
  load_row(y, ctx + bt * C + h * s.D, s.D, lane);
  const double nv = double(ynrm[hr]);
  double pd = 0;
#pragma unroll
  for (int k = 0; k < kPerLane; k++) pd += double(y[k]) * x[k];
  pd = warp_sum_d(pd);
  if (!(nv > kEps)) pd = 0;
  const float inv = float(1.0 / nv), pp = float(pd);
  const bool on = token(mask, s, int(b), int(t));
#pragma unroll
  for (int k = 0; k < kPerLane; k++)
    if (lane + 32 * k < s.D) g[hr * s.D + lane + 32 * k] = on ? (x[k] - y[k] * pp) * inv : 0.f;
}

// One warp per (b, t, h): dq, dk through the input normalisations (in place in dqkv), dv * scale.
__global__ void __launch_bounds__(kThreads)
yoso_finish_kernel(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                   const float* knrm, Shape s, float dv_scale) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= s.BH() * s.T) return;
  const int h = int(row % s.H);
  const int64_t bt = row / s.H, b = bt / s.T, t = bt % s.T, C = s.C();
  const int64_t hr = (b * s.H + h) * s.T + t;
  float* base = dqkv + bt * 3 * C + h * s.D;
  for (int part = 0; part < 2; part++) {
    float gx[kPerLane], y[kPerLane];
    float* d = base + part * C;
    load_row(gx, d, s.D, lane);
    load_row(y, (part ? kn : qn) + hr * s.D, s.D, lane);
    const double nv = double((part ? knrm : qnrm)[hr]);
    double pd = 0;
#pragma unroll
    for (int k = 0; k < kPerLane; k++) pd += double(y[k]) * gx[k];
    pd = warp_sum_d(pd);
    if (!(nv > kEps)) pd = 0;
    const float inv = float(1.0 / nv), pp = float(pd);
#pragma unroll
    for (int k = 0; k < kPerLane; k++)
      if (lane + 32 * k < s.D) d[lane + 32 * k] = (gx[k] - y[k] * pp) * inv;
  }
  float* dv = base + 2 * C;
  if (dv_scale != 1.f)
    for (int d = lane; d < s.D; d += 32) dv[d] *= dv_scale;
}

}  // namespace

int prep_rows(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
              const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
              const Shape& s) {
  yoso_prep_kernel<<<unsigned(ceil_div(s.BH() * s.T, kWarps)), kThreads, 0, stream()>>>(
      qn, kn, g, qnrm, knrm, qkv, dctx, ctx, ynrm, mask, s);
  return check_launch("yoso_prep_kernel");
}

int finish_rows(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                const float* knrm, const Shape& s, float dv_scale) {
  yoso_finish_kernel<<<unsigned(ceil_div(s.BH() * s.T, kWarps)), kThreads, 0, stream()>>>(
      dqkv, qn, kn, qnrm, knrm, s, dv_scale);
  return check_launch("yoso_finish_kernel");
}

}  // namespace yoso
}  // namespace lshlab_cuda
