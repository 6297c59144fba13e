/*
 * yoso_rows.cu: the per-row steps YOSO and yoso-e share (yoso_backward.cu, yoso_e.cu): the unit
 * q and k with their norms, the gradient through the output normalisation, and the gradients
 * through the input normalisations, each exactly as attention/yoso.cc's l2_rows and
 * l2_rows_backward (sums of squares and dots in float64, x * float(1 / norm), the dot skipped
 * where the norm was clamped to 1e-12), so rows match the CPU's float path to rounding.
 * Shapes: qkv, dqkv (B,T,3C); dctx, ctx (B,T,C); qn, kn, g (B,H,T,D); qnrm, knrm, ynrm (B,H,T);
 * or, for a chunk of heads [bh0, bh0 + nb) (yoso_backward.cu), qn, kn, g (nb,T,D) and qnrm,
 * knrm (nb,T) counted from head bh0.
 * One warp per (t, head) row, heads fastest (rows of one token are adjacent in qkv), lanes over
 * D: PL values per lane in registers (4 for D <= 128, 8 for D <= 256; a template chosen at
 * launch). A flat grid of nb * T / 8 blocks.
 */
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {

// One warp per (t, head): unit q, k and their norms into the workspace, and g (unless null).
template <int PL>
__global__ void __launch_bounds__(kThreads)
yoso_prep_kernel(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
                 const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
                 Shape s, int bh0, int nb) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= int64_t(nb) * s.T) return;
  const int t = int(row / nb), bl = int(row - int64_t(t) * nb), bh = bh0 + bl;
  const int b = bh / s.H, h = bh % s.H;
  const int64_t hr = int64_t(bl) * s.T + t;  // (nb,T) index
  const float* x0 = qkv + token_row_at(b, t, h, s, 3, 0);
  float x[PL], y[PL];
  for (int part = 0; part < 2; part++) {  // l2_rows of q, then k
    load_row(x, x0 + part * s.C(), s.D, lane);
    double ss = 0;
#pragma unroll
    for (int k = 0; k < PL; k++) ss += double(x[k]) * x[k];
    const double nv = fmax(sqrt(warp_sum_d(ss)), kEps);
    const float inv = float(1.0 / nv);
    float* o = (part ? kn : qn) + hr * s.D;
#pragma unroll
    for (int k = 0; k < PL; k++)
      if (lane + 32 * k < s.D) o[lane + 32 * k] = x[k] * inv;
    if (lane == 0) (part ? knrm : qnrm)[hr] = float(nv);
  }
  if (g == nullptr) return;
  // l2_rows_backward of ctx = X / |X| (the dot is skipped where the norm was clamped).
  const int64_t cr = token_row_at(b, t, h, s, 1, 0);
  load_row(x, dctx + cr, s.D, lane);
  load_row(y, ctx + cr, s.D, lane);
  const double nv = double(ynrm[hr + int64_t(bh0) * s.T]);
  double pd = 0;
#pragma unroll
  for (int k = 0; k < PL; k++) pd += double(y[k]) * x[k];
  pd = warp_sum_d(pd);
  if (!(nv > kEps)) pd = 0;
  const float inv = float(1.0 / nv), pp = float(pd);
  const bool on = token(mask, s, b, t);
#pragma unroll
  for (int k = 0; k < PL; k++)
    if (lane + 32 * k < s.D) g[hr * s.D + lane + 32 * k] = on ? (x[k] - y[k] * pp) * inv : 0.f;
}

// One warp per (t, head): dq, dk through the input normalisations (in place in dqkv), dv * scale.
template <int PL>
__global__ void __launch_bounds__(kThreads)
yoso_finish_kernel(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                   const float* knrm, Shape s, float dv_scale, int bh0, int nb) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= int64_t(nb) * s.T) return;
  const int t = int(row / nb), bl = int(row - int64_t(t) * nb), bh = bh0 + bl;
  const int b = bh / s.H, h = bh % s.H;
  const int64_t hr = int64_t(bl) * s.T + t;
  float* base = dqkv + token_row_at(b, t, h, s, 3, 0);
  for (int part = 0; part < 2; part++) {
    float gx[PL], y[PL];
    float* d = base + part * s.C();
    load_row(gx, d, s.D, lane);
    load_row(y, (part ? kn : qn) + hr * s.D, s.D, lane);
    const double nv = double((part ? knrm : qnrm)[hr]);
    double pd = 0;
#pragma unroll
    for (int k = 0; k < PL; k++) pd += double(y[k]) * gx[k];
    pd = warp_sum_d(pd);
    if (!(nv > kEps)) pd = 0;
    const float inv = float(1.0 / nv), pp = float(pd);
#pragma unroll
    for (int k = 0; k < PL; k++)
      if (lane + 32 * k < s.D) d[lane + 32 * k] = (gx[k] - y[k] * pp) * inv;
  }
  float* dv = base + 2 * s.C();
  if (dv_scale != 1.f)
    for (int d = lane; d < s.D; d += 32) dv[d] *= dv_scale;
}

}  // namespace

int prep_rows(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
              const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
              const Shape& s, int bh0, int nb) {
  unsigned grid = 0;
  if (int rc = grid_of(&grid, row_blocks(s, nb), "yoso_prep_kernel")) return rc;
  return with_lanes(s.D, [&](auto pl) {
    auto* k = &yoso_prep_kernel<decltype(pl)::value>;
    k<<<grid, kThreads, 0, stream()>>>(qn, kn, g, qnrm, knrm, qkv, dctx, ctx, ynrm, mask, s, bh0,
                                       nb);
    return check_launch("yoso_prep_kernel");
  });
}

int prep_rows(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
              const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
              const Shape& s) {
  return prep_rows(qn, kn, g, qnrm, knrm, qkv, dctx, ctx, ynrm, mask, s, 0, int(s.BH()));
}

int finish_rows(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                const float* knrm, const Shape& s, float dv_scale, int bh0, int nb) {
  unsigned grid = 0;
  if (int rc = grid_of(&grid, row_blocks(s, nb), "yoso_finish_kernel")) return rc;
  return with_lanes(s.D, [&](auto pl) {
    auto* k = &yoso_finish_kernel<decltype(pl)::value>;
    k<<<grid, kThreads, 0, stream()>>>(dqkv, qn, kn, qnrm, knrm, s, dv_scale, bh0, nb);
    return check_launch("yoso_finish_kernel");
  });
}

int finish_rows(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                const float* knrm, const Shape& s, float dv_scale) {
  return finish_rows(dqkv, qn, kn, qnrm, knrm, s, dv_scale, 0, int(s.BH()));
}

}  // namespace yoso
}  // namespace lshlab_cuda
