/*
 * reformer_forward.cu: Reformer LSH attention forward (attention/reformer.h) and the shape plan.
 *   ctx (B,T,C) <- qkv (B,T,3C), mask (B,T) or null; state (reformer_common.cuh) for the
 *   backward; optional rotations (B,H,D,R,nb/2) and buckets (B,H,R,T).
 * Stages: rotations, buckets (reformer_hash.cu) and the stable sort (reformer_sort.cu), or in
 * standard mode (T <= chunk_length) the identity order; key scales; then
 *   attend : one block per (32 query slots of a chunk, chunk g, b*H+h): the chunk's window of W
 *            keys (chunks g-bef .. g+aft mod G, duplicates kept) in tiles of 32 gathered through
 *            order, fused scores + online softmax + P'V (attention_forward.cu's scheme), self
 *            -> -1e5 and padding keys -> -1e9 (replacements), dropout with the CPU's mask
 *            (element ((bh G + g) c + i) W + w of the site) on P after its normalisation sum;
 *            writes the slot's out row and lse.
 *   combine: one warp per (b,t,h): w_r = exp(lse_r - logsumexp_r lse_r) in float64 as the CPU,
 *            ctx = sum_r w_r out_r in round order; w_r is kept per slot for the backward.
 * No (c, W) score buffer: memory is the state's O(R T D) per (b,h).
 */
#include <cmath>

#include "reformer_common.cuh"

namespace lshlab_cuda {
namespace reformer {

int make_plan(Plan* out, const char* what, int B, int T, int H, int D,
              const lshlab_cuda_reformer_params* pr) {
  if (pr == nullptr) return fail(1, what, "params must not be NULL");
  if (D <= 0 || D > kMaxD) return fail(1, what, "head size D must be in 1..128");
  if (pr->num_hashes < 1 || pr->num_hashes > 64) return fail(1, what, "num_hashes must be in 1..64");
  if (pr->num_buckets != 0 &&
      (pr->num_buckets < 2 || pr->num_buckets > 65536 || pr->num_buckets % 2 != 0))
    return fail(1, what, "num_buckets must be 0 (auto) or even in 2..65536");
  if (pr->chunk_length < 1) return fail(1, what, "chunk_length must be >= 1");
  if (pr->num_chunks_before < 0 || pr->num_chunks_before > 64 || pr->num_chunks_after < 0 ||
      pr->num_chunks_after > 64)
    return fail(1, what, "num_chunks_before and num_chunks_after must be in 0..64");
  if (B >= 65536 || H >= 1024) return fail(1, what, "at most 65535 batch rows and 1023 heads");
  Plan p{};
  p.B = B; p.T = T; p.H = H; p.D = D;
  p.standard = T <= pr->chunk_length;
  if (p.standard) {
    p.R = 1; p.nb = 0; p.c = T; p.Tp = T; p.G = 1; p.bef = p.aft = 0;
  } else {
    p.R = pr->num_hashes; p.c = pr->chunk_length;
    p.Tp = int((int64_t(T) + p.c - 1) / p.c * p.c);
    const int nc = p.Tp / p.c;
    p.nb = pr->num_buckets;
    if (p.nb == 0)
      for (p.nb = 1; p.nb * 2 <= 2 * nc;) p.nb *= 2;  // HF's rule, re-derived per call
    p.G = p.R * nc; p.bef = pr->num_chunks_before; p.aft = pr->num_chunks_after;
    if (int64_t(D) * p.R * (p.nb / 2) >= (int64_t(1) << 24))
      return fail(1, what, "head_dim * num_hashes * num_buckets/2 must stay below 2^24");
    if (p.BH() * p.R > 65535) return fail(1, what, "B * H * num_hashes must be at most 65535");
  }
  p.W = (1 + p.bef + p.aft) * p.c;
  p.S = int64_t(p.G) * p.c;
  if (p.BH() > 65535 || p.G > 65535) return fail(1, what, "B * H and the chunk count must be at most 65535");
  if (p.BH() * p.S >= (int64_t(1) << 31)) return fail(1, what, "B * H * num_hashes * T must be < 2^31");
  p.tiles = int(ceil_div(p.Tp, kThreads));
  int bits = 1;
  while ((p.nb >> bits) != 0) bits++;
  p.passes = (bits + kRadixBits - 1) / kRadixBits;
  auto al = [](size_t x) { return (x + 255) / 256 * 256; };
  const size_t BH = size_t(p.BH()), S = size_t(p.S), Dz = size_t(D), f = sizeof(float);
  size_t o = 0;
  p.st_order = o; o += al(BH * S * 4);
  p.st_undo = o;  o += al(BH * S * 4);
  p.st_lse = o;   o += al(BH * S * f);
  p.st_w = o;     o += al(BH * S * f);
  p.st_ks = o;    o += al(BH * size_t(p.Tp) * f);
  p.st_out = o;   o += al(BH * S * Dz * f);
  p.state = o;
  o = 0;  // forward scratch
  p.ws_rot = o;    o += p.standard ? 0 : al(BH * Dz * p.R * (p.nb / 2) * f);
  p.ws_keys = o;   o += p.standard ? 0 : al(2 * BH * S * 4);
  p.ws_idx = o;    o += p.standard ? 0 : al(2 * BH * S * 4);
  p.ws_counts = o; o += p.standard ? 0 : al(BH * p.R * kBins * size_t(p.tiles) * 4);
  const size_t fwd = o;
  o = 0;  // backward scratch (the same bytes)
  p.ws_drow = o; o += al(BH * S * f);
  p.ws_dq = o;   o += al(BH * S * Dz * f);
  p.ws_dk = o;   o += al(BH * S * Dz * f);
  p.ws_dv = o;   o += al(BH * S * Dz * f);
  p.workspace = o > fwd ? o : fwd;
  *out = p;
  return 0;
}

namespace {
using namespace attn;

template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
reformer_attend_kernel(float* out, float* lse, const float* qkv, const int32_t* mask,
                       const int32_t* order, const float* ks, Plan p, DropoutKeep drop) {
  extern __shared__ float smem[];
  __shared__ int qpos[kTile], kpos[kTile], kok[kTile];
  __shared__ float kscl[kTile];
  const int D = p.D, Dp = D + 1;
  float* Qs = smem;               // [32][D+1] raw queries
  float* Ks = Qs + kTile * Dp;    // [32][D+1] normalised keys
  float* Vs = Ks + kTile * Dp;    // [32][D+1]
  float* Ps = Vs + kTile * Dp;    // [32][33]  unnormalised probabilities (times the keep mask)
  float* corr = Ps + kTile * 33;  // [32]
  float* inv_l = corr + kTile;    // [32]
  float* Ms = inv_l + kTile;      // [32][33]  dropout multipliers (kDropout)
  const int q0 = blockIdx.x * kTile, g = blockIdx.y, bh = blockIdx.z, b = bh / p.H, h = bh % p.H;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(p.C());
  const float* xq = qkv + int64_t(b) * p.T * ld + h * D;  // row 0 of this head's q (= k) slice
  const int32_t* ord = order + bh * p.S;
  if (threadIdx.x < kTile)
    qpos[threadIdx.x] = q0 + int(threadIdx.x) < p.c ? ord[int64_t(g) * p.c + q0 + threadIdx.x] : -1;
  __syncthreads();
  load_rows(Qs, qpos, nullptr, xq, ld, p.T, D);
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kMaxOut];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) { m[r] = -INFINITY; l[r] = 0.f; }
  out_zero(o);
  for (int k0 = 0; k0 < p.W; k0 += kTile) {
    __syncthreads();  // the previous tile is no longer read
    if (threadIdx.x < kTile) {
      const int w = k0 + threadIdx.x;
      const int t = w < p.W ? ord[p.window_slot(g, w)] : -1;
      kpos[threadIdx.x] = t;
      kok[threadIdx.x] = t >= 0 && t < p.T && (mask == nullptr || mask[int64_t(b) * p.T + t] != 0);
      kscl[threadIdx.x] = t >= 0 && t < p.T ? ks[int64_t(bh) * p.Tp + t] : 0.f;
    }
    __syncthreads();
    load_rows(Ks, kpos, kscl, xq, ld, p.T, D);
    load_rows(Vs, kpos, nullptr, xq + 2 * p.C(), ld, p.T, D);
    if (kDropout) dropout_tile(Ms, drop, 0, p.W, int((bh * int64_t(p.G) + g) * p.c + q0), k0);
    __syncthreads();
    const int kp = kpos[lane];
    const bool kv = kok[lane] != 0;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      const float sc = kp < 0 ? -INFINITY : masked_logit(tile_dot(Qs, i, Ks, lane, D), qpos[i], kp, kv);
      const float m_new = fmaxf(m[r], warp_max(sc));  // finite: k0 < W has a key in the window
      const float e = expf(sc - m_new), c = expf(m[r] - m_new);
      l[r] = l[r] * c + warp_sum(e);
      m[r] = m_new;
      Ps[i * 33 + lane] = kDropout ? e * Ms[i * 33 + lane] : e;
      if (lane == 0) corr[i] = c;
    }
    __syncthreads();
    out_mac_rescaled(o, corr, Ps, Vs, D);
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int i = warp + kWarps * r;
    if (lane == 0) {
      inv_l[i] = 1.f / l[r];
      if (q0 + i < p.c) lse[bh * p.S + int64_t(g) * p.c + q0 + i] = m[r] + logf(l[r]);
    }
  }
  __syncthreads();
  float* dst = out + (bh * p.S + int64_t(g) * p.c) * D;
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D;
      if (q0 + i < p.c) dst[int64_t(q0 + i) * D + d] = o[r] * inv_l[i];
    }
  }
}

// One warp per (b, t < Tp, h).
__global__ void __launch_bounds__(kThreads)
reformer_combine_kernel(float* ctx, float* wslot, const float* out, const float* lse,
                        const int32_t* undo, Plan p) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= p.BH() * p.Tp) return;
  const int h = int(row % p.H), t = int((row / p.H) % p.Tp), b = int(row / (int64_t(p.H) * p.Tp));
  const int64_t bh = int64_t(b) * p.H + h;
  const int32_t* un = undo + bh * p.S;
  float* w = wslot + bh * p.S;
  if (t >= p.T) {  // internal padding: no output, zero weight (no gradient)
    for (int r = lane; r < p.R; r += 32) w[un[int64_t(r) * p.Tp + t]] = 0.f;
    return;
  }
  const float* lr = lse + bh * p.S;
  double mx = -1e300, sum = 0;
  if (p.R > 1) {
    for (int r = 0; r < p.R; r++) mx = fmax(mx, double(lr[un[int64_t(r) * p.Tp + t]]));
    for (int r = 0; r < p.R; r++) sum += exp(double(lr[un[int64_t(r) * p.Tp + t]]) - mx);
  }
  const double L = mx + log(sum);
  float acc[kPerLane] = {0.f, 0.f, 0.f, 0.f};
  for (int r = 0; r < p.R; r++) {
    const int64_t slot = un[int64_t(r) * p.Tp + t];
    const float wr = p.R == 1 ? 1.f : float(exp(double(lr[slot]) - L));
    if (lane == 0) w[slot] = wr;
    const float* o = out + (bh * p.S + slot) * p.D;
#pragma unroll
    for (int k = 0; k < kPerLane; k++)
      if (lane + 32 * k < p.D) acc[k] = p.R == 1 ? o[lane + 32 * k] : acc[k] + wr * o[lane + 32 * k];
  }
  float* dst = ctx + (int64_t(b) * p.T + t) * p.C() + h * p.D;
#pragma unroll
  for (int k = 0; k < kPerLane; k++)
    if (lane + 32 * k < p.D) dst[lane + 32 * k] = acc[k];
}

}  // namespace
}  // namespace reformer

using namespace reformer;

int reformer_sizes(size_t* state_bytes, size_t* workspace_bytes, int B, int T, int H, int D,
                   const lshlab_cuda_reformer_params* params) {
  clear_error();
  *state_bytes = *workspace_bytes = 0;
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  Plan p;
  if (int rc = make_plan(&p, "reformer_sizes", B, T, H, D, params)) return rc;
  *state_bytes = p.state;
  *workspace_bytes = p.workspace;
  return 0;
}

int reformer_forward(float* ctx, void* state, float* rotations, int32_t* buckets, void* workspace,
                     const float* qkv, const int32_t* mask, int B, int T, int H, int D,
                     const lshlab_cuda_reformer_params* params, uint64_t seed, uint32_t step,
                     uint32_t site, const lshlab_cuda_dropout* dropout) {
  clear_error();
  void* mark = take_stage_mark();
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  Plan p;
  if (int rc = make_plan(&p, "reformer_forward", B, T, H, D, params)) return rc;
  const State st = carve_state(state, p);
  char* ws = static_cast<char*>(workspace);
  if (int rc = key_scales(st, qkv, p)) return rc;
  if (!p.standard) {
    float* rot = rotations ? rotations : reinterpret_cast<float*>(ws + p.ws_rot);
    uint32_t* keys = reinterpret_cast<uint32_t*>(ws + p.ws_keys);
    uint32_t* idx = reinterpret_cast<uint32_t*>(ws + p.ws_idx);
    if (int rc = draw_rotations(rot, p, make_hash_draw(seed, step), site)) return rc;
    if (int rc = hash_buckets(keys, idx, buckets, qkv, mask, rot, p)) return rc;
    if (int rc = sort_slots(st, keys, idx, workspace, p)) return rc;
  }
  if (int rc = record_stage_mark(mark)) return rc;  // hashed and sorted (standard mode: nothing to hash)
  const DropoutKeep drop = make_dropout_keep(dropout);
  const size_t smem =
      sizeof(float) * (3 * kTile * (D + 1) + kTile * 33 + 2 * kTile + (drop.on ? kTile * 33 : 0));
  const auto kernel = drop.on ? reformer_attend_kernel<true> : reformer_attend_kernel<false>;
  if (int rc = opt_in_smem(kernel, smem, "reformer_attend_kernel", D))
    return rc;
  const dim3 grid(unsigned(ceil_div(p.c, kTile)), unsigned(p.G), unsigned(p.BH()));
  kernel<<<grid, kThreads, smem, stream()>>>(st.out, st.lse, qkv, mask, st.order, st.ks, p, drop);
  if (int rc = check_launch("reformer_attend_kernel")) return rc;
  reformer_combine_kernel<<<unsigned(ceil_div(p.BH() * p.Tp, kWarps)), kThreads, 0, stream()>>>(
      ctx, st.w, st.out, st.lse, st.undo, p);
  return check_launch("reformer_combine_kernel");
}

}  // namespace lshlab_cuda
