/*
 * reformer_backward.cu: exact gradient of the Reformer forward (reformer_forward.cu) with the
 * hash, the sort and the dropout mask held at the forward's, as attention/reformer_backward.cc:
 *   dqkv (B,T,3C) overwritten <- dctx (B,T,C), qkv, mask and the forward's state.
 * Per slot s of round r at position t (w = the round weight, out = o_r, dO = w dctx_t):
 *   prepare : gbar_t = sum_r w_r (dctx_t . o_r);  drow_s = dlse - dO.o = -w_r gbar_t (the CPU's
 *             w_r (g_r - gbar) - w_r g_r, the same up to float64 rounding)   one warp per (b,t,h)
 *   dq      : dS = P (M dO.V + drow) (0 where the logit was replaced), dQs = dS K over the
 *             window                                      block = 32 query slots of chunk g
 *   dkv     : key slot j of chunk g sits in the windows of chunks g + bef - jj (jj = 0..bef+aft,
 *             mod G, duplicates included) at column jj c + j: dK_j = sum dS Q, dV_j = sum P' dO,
 *             jj by jj, query tile by query tile (the CPU's order)   block = 32 key slots of g
 *   scatter : per (b,t,h): sum the rounds' slots in round order; the shared-QK key path
 *             dq += s dk - s^3 (x.dk) x (s = the key scale), K slice 0, V slice dV
 * P = exp(S - lse) is recomputed from the forward's lse with the same replacements (-1e5 self,
 * -1e9 padding); M = the CPU's keep mask times 1/(1-p). No atomics: each output row is one
 * block's or one warp's sum in a fixed order, so dqkv repeats bit for bit.
 */
#include <cmath>

#include "reformer_common.cuh"

namespace lshlab_cuda {
namespace reformer {
namespace {
using namespace attn;

// One warp per (b, t < Tp, h).
__global__ void __launch_bounds__(kThreads)
reformer_prepare_kernel(float* drow, const float* dctx, State st, Plan p) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= p.BH() * p.Tp) return;
  const int h = int(row % p.H), t = int((row / p.H) % p.Tp), b = int(row / (int64_t(p.H) * p.Tp));
  const int64_t bh = int64_t(b) * p.H + h;
  const int32_t* un = st.undo + bh * p.S;
  double gbar = 0;
  if (t < p.T) {
    const float* dc = dctx + (int64_t(b) * p.T + t) * p.C() + h * p.D;
    for (int r = 0; r < p.R; r++) {
      const int64_t slot = un[int64_t(r) * p.Tp + t];
      const float* o = st.out + (bh * p.S + slot) * p.D;
      double acc = 0;
      for (int d = lane; d < p.D; d += 32) acc += double(dc[d]) * o[d];
      gbar += double(st.w[bh * p.S + slot]) * warp_sum_d(acc);
    }
  }
  for (int r = lane; r < p.R; r += 32) {
    const int64_t slot = bh * p.S + un[int64_t(r) * p.Tp + t];
    drow[slot] = float(-double(st.w[slot]) * gbar);  // padding: w = 0, gbar = 0
  }
}

// Per-tile slot data of 32 sorted slots: positions, the scale of their loaded rows, lse, drow.
struct SlotTile {
  int pos[kTile];
  float scale[kTile], lse[kTile], drow[kTile];
};

// Query slots [g c + q0, +32) of chunk g: positions, dO scale w, lse and drow (rows past the
// chunk: position -1, lse +inf so P = 0, drow 0). Threads 0..31.
__device__ __forceinline__ void query_slots(SlotTile& q, const State& st, const float* drow,
                                            const Plan& p, int64_t bh, int g, int q0) {
  if (threadIdx.x >= kTile) return;
  const int i = threadIdx.x;
  const bool in = q0 + i < p.c;
  const int64_t s = bh * p.S + int64_t(g) * p.c + q0 + i;
  q.pos[i] = in ? st.order[s] : -1;
  q.scale[i] = in ? st.w[s] : 0.f;
  q.lse[i] = in ? st.lse[s] : INFINITY;
  q.drow[i] = in ? drow[s] : 0.f;
}

template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
reformer_dq_kernel(float* dqs, const float* drow, const float* dctx, const float* qkv,
                   const int32_t* mask, State st, Plan p, DropoutKeep drop) {
  extern __shared__ float smem[];
  __shared__ SlotTile q;
  __shared__ int kpos[kTile], kok[kTile];
  __shared__ float kscl[kTile];
  const int D = p.D, Dp = D + 1, C = p.C();
  float* Qs = smem;               // [32][D+1]
  float* dOs = Qs + kTile * Dp;   // [32][D+1]
  float* Ks = dOs + kTile * Dp;   // [32][D+1]
  float* Vs = Ks + kTile * Dp;    // [32][D+1]
  float* dSs = Vs + kTile * Dp;   // [32 queries][33]
  float* Ms = dSs + kTile * 33;   // [32 queries][33] (kDropout)
  const int q0 = blockIdx.x * kTile, g = blockIdx.y, bh = blockIdx.z, b = bh / p.H, h = bh % p.H;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C);
  const float* xq = qkv + int64_t(b) * p.T * ld + h * D;
  query_slots(q, st, drow, p, bh, g, q0);
  __syncthreads();
  load_rows(Qs, q.pos, nullptr, xq, ld, p.T, D);
  load_rows(dOs, q.pos, q.scale, dctx + int64_t(b) * p.T * C + h * D, C, p.T, D);
  float dq[kMaxOut];
  out_zero(dq);
  for (int k0 = 0; k0 < p.W; k0 += kTile) {
    __syncthreads();
    if (threadIdx.x < kTile) {
      const int w = k0 + threadIdx.x;
      const int t = w < p.W ? st.order[bh * p.S + p.window_slot(g, w)] : -1;
      kpos[threadIdx.x] = t;
      kok[threadIdx.x] = t >= 0 && t < p.T && (mask == nullptr || mask[int64_t(b) * p.T + t] != 0);
      kscl[threadIdx.x] = t >= 0 && t < p.T ? st.ks[int64_t(bh) * p.Tp + t] : 0.f;
    }
    __syncthreads();
    load_rows(Ks, kpos, kscl, xq, ld, p.T, D);
    load_rows(Vs, kpos, nullptr, xq + 2 * C, ld, p.T, D);
    if (kDropout) dropout_tile(Ms, drop, 0, p.W, int((bh * int64_t(p.G) + g) * p.c + q0), k0);
    __syncthreads();
    const int kp = kpos[lane];
    const bool kv = kok[lane] != 0;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      float ds = 0.f;
      if (kp >= 0 && !replaced(q.pos[i], kp, kv)) {
        const float pr = expf(tile_dot(Qs, i, Ks, lane, D) - q.lse[i]);
        float dp = tile_dot(dOs, i, Vs, lane, D);
        if (kDropout) dp *= Ms[i * 33 + lane];
        ds = pr * (dp + q.drow[i]);
      }
      dSs[i * 33 + lane] = ds;
    }
    __syncthreads();
    out_mac(dq, dSs, Ks, D);
  }
  out_store(dqs + (bh * p.S + int64_t(g) * p.c) * D, D, dq, 1.f, q0, p.c, D);
}

template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
reformer_dkv_kernel(float* dks, float* dvs, const float* drow, const float* dctx, const float* qkv,
                    const int32_t* mask, State st, Plan p, DropoutKeep drop) {
  extern __shared__ float smem[];
  __shared__ SlotTile q;
  __shared__ int kpos[kTile], kok[kTile];
  __shared__ float kscl[kTile];
  const int D = p.D, Dp = D + 1, C = p.C();
  float* Ks = smem;               // [32][D+1] resident keys (normalised)
  float* Vs = Ks + kTile * Dp;    // [32][D+1] resident values
  float* Qs = Vs + kTile * Dp;    // [32][D+1] per query tile
  float* dOs = Qs + kTile * Dp;   // [32][D+1]
  float* Ps = dOs + kTile * Dp;   // [32 keys][33] P' (times the keep mask)
  float* dSs = Ps + kTile * 33;   // [32 keys][33]
  float* Ms = dSs + kTile * 33;   // [32 queries][33] (kDropout)
  const int k0 = blockIdx.x * kTile, g = blockIdx.y, bh = blockIdx.z, b = bh / p.H, h = bh % p.H;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C);
  const float* xq = qkv + int64_t(b) * p.T * ld + h * D;
  if (threadIdx.x < kTile) {
    const int j = threadIdx.x;
    const int t = k0 + j < p.c ? st.order[bh * p.S + int64_t(g) * p.c + k0 + j] : -1;
    kpos[j] = t;
    kok[j] = t >= 0 && t < p.T && (mask == nullptr || mask[int64_t(b) * p.T + t] != 0);
    kscl[j] = t >= 0 && t < p.T ? st.ks[int64_t(bh) * p.Tp + t] : 0.f;
  }
  __syncthreads();
  load_rows(Ks, kpos, kscl, xq, ld, p.T, D);
  load_rows(Vs, kpos, nullptr, xq + 2 * C, ld, p.T, D);
  float dk[kMaxOut], dv[kMaxOut];
  out_zero(dk);
  out_zero(dv);
  for (int jj = 0; jj <= p.bef + p.aft; jj++) {
    int gp = (g + p.bef - jj) % p.G;
    if (gp < 0) gp += p.G;
    for (int q0 = 0; q0 < p.c; q0 += kTile) {
      __syncthreads();
      query_slots(q, st, drow, p, bh, gp, q0);
      __syncthreads();
      load_rows(Qs, q.pos, nullptr, xq, ld, p.T, D);
      load_rows(dOs, q.pos, q.scale, dctx + int64_t(b) * p.T * C + h * D, C, p.T, D);
      if (kDropout)
        dropout_tile(Ms, drop, 0, p.W, int((bh * int64_t(p.G) + gp) * p.c + q0), jj * p.c + k0);
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; r++) {
        const int j = warp + kWarps * r;  // key row of the tile; lane = query row
        const int kp = kpos[j];
        float pr = 0.f, ds = 0.f;
        if (kp >= 0 && q.pos[lane] >= 0) {
          const int qp = q.pos[lane];
          const bool kv = kok[j] != 0;
          const float e = expf(masked_logit(tile_dot(Qs, lane, Ks, j, D), qp, kp, kv) - q.lse[lane]);
          float dp = tile_dot(dOs, lane, Vs, j, D), mul = 1.f;
          if (kDropout) {
            mul = Ms[lane * 33 + j];
            dp *= mul;
          }
          ds = replaced(qp, kp, kv) ? 0.f : e * (dp + q.drow[lane]);
          pr = kDropout ? e * mul : e;  // P' for dV (replaced logits included, as the CPU)
        }
        Ps[j * 33 + lane] = pr;
        dSs[j * 33 + lane] = ds;
      }
      __syncthreads();
      out_mac2(dv, Ps, dOs, dk, dSs, Qs, D);
    }
  }
  out_store(dks + (bh * p.S + int64_t(g) * p.c) * D, D, dk, 1.f, k0, p.c, D);
  out_store(dvs + (bh * p.S + int64_t(g) * p.c) * D, D, dv, 1.f, k0, p.c, D);
}

// One warp per (b, t < T, h): sum the rounds' slots, the key path, the three slices of dqkv.
__global__ void __launch_bounds__(kThreads)
reformer_scatter_kernel(float* dqkv, const float* dqs, const float* dks, const float* dvs,
                        const float* qkv, State st, Plan p) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= int64_t(p.B) * p.T * p.H) return;
  const int h = int(row % p.H);
  const int64_t bt = row / p.H;
  const int t = int(bt % p.T), b = int(bt / p.T), C = p.C(), D = p.D;
  const int64_t bh = int64_t(b) * p.H + h;
  float q[kPerLane] = {0.f, 0.f, 0.f, 0.f}, k[kPerLane] = {0.f, 0.f, 0.f, 0.f},
        v[kPerLane] = {0.f, 0.f, 0.f, 0.f};
  for (int r = 0; r < p.R; r++) {
    const int64_t s = (bh * p.S + st.undo[bh * p.S + int64_t(r) * p.Tp + t]) * D;
#pragma unroll
    for (int i = 0; i < kPerLane; i++) {
      const int d = lane + 32 * i;
      if (d >= D) continue;
      q[i] += dqs[s + d];
      k[i] += dks[s + d];
      v[i] += dvs[s + d];
    }
  }
  const float* x = qkv + bt * 3 * C + h * D;
  double xdk = 0;
#pragma unroll
  for (int i = 0; i < kPerLane; i++)
    if (lane + 32 * i < D) xdk += double(x[lane + 32 * i]) * k[i];
  xdk = warp_sum_d(xdk);
  const double sc = st.ks[bh * p.Tp + t];
  const float a1 = float(sc), a3 = float(sc * sc * sc * xdk);
  float* out = dqkv + bt * 3 * C + h * D;
#pragma unroll
  for (int i = 0; i < kPerLane; i++) {
    const int d = lane + 32 * i;
    if (d >= D) continue;
    out[d] = q[i] + (__fmul_rn(a1, k[i]) - __fmul_rn(a3, x[d]));
    out[C + d] = 0.f;  // the K projection is unused by shared QK
    out[2 * C + d] = v[i];
  }
}

}  // namespace
}  // namespace reformer

using namespace reformer;

int reformer_backward(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                      const void* state, const int32_t* mask, int B, int T, int H, int D,
                      const lshlab_cuda_reformer_params* params, const lshlab_cuda_dropout* dropout) {
  clear_error();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  Plan p;
  if (int rc = make_plan(&p, "reformer_backward", B, T, H, D, params)) return rc;
  const State st = carve_state(const_cast<void*>(state), p);
  char* ws = static_cast<char*>(workspace);
  float* drow = reinterpret_cast<float*>(ws + p.ws_drow);
  float* dqs = reinterpret_cast<float*>(ws + p.ws_dq);
  float* dks = reinterpret_cast<float*>(ws + p.ws_dk);
  float* dvs = reinterpret_cast<float*>(ws + p.ws_dv);
  const unsigned rows_tp = unsigned(ceil_div(p.BH() * p.Tp, kWarps));
  reformer_prepare_kernel<<<rows_tp, kThreads, 0, stream()>>>(drow, dctx, st, p);
  if (int rc = check_launch("reformer_prepare_kernel")) return rc;

  const DropoutKeep drop = make_dropout_keep(dropout);
  const size_t smem_drop = drop.on ? sizeof(float) * kTile * 33 : 0;
  const dim3 grid(unsigned(ceil_div(p.c, kTile)), unsigned(p.G), unsigned(p.BH()));
  const size_t smem_dq = sizeof(float) * (4 * kTile * (D + 1) + kTile * 33) + smem_drop;
  const auto dq_kernel = drop.on ? reformer_dq_kernel<true> : reformer_dq_kernel<false>;
  if (int rc = opt_in_smem(dq_kernel, smem_dq, "reformer_dq_kernel", D))
    return rc;
  dq_kernel<<<grid, kThreads, smem_dq, stream()>>>(dqs, drow, dctx, qkv, mask, st, p, drop);
  if (int rc = check_launch("reformer_dq_kernel")) return rc;

  const size_t smem_dkv = sizeof(float) * (4 * kTile * (D + 1) + 2 * kTile * 33) + smem_drop;
  const auto dkv_kernel = drop.on ? reformer_dkv_kernel<true> : reformer_dkv_kernel<false>;
  if (int rc = opt_in_smem(dkv_kernel, smem_dkv, "reformer_dkv_kernel", D))
    return rc;
  dkv_kernel<<<grid, kThreads, smem_dkv, stream()>>>(dks, dvs, drow, dctx, qkv, mask, st, p, drop);
  if (int rc = check_launch("reformer_dkv_kernel")) return rc;

  const int64_t rows = int64_t(B) * T * H;
  reformer_scatter_kernel<<<unsigned(ceil_div(rows, kWarps)), kThreads, 0, stream()>>>(
      dqkv, dqs, dks, dvs, qkv, st, p);
  return check_launch("reformer_scatter_kernel");
}

}  // namespace lshlab_cuda
