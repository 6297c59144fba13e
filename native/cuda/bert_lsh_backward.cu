/*
 * bert_lsh_backward.cu: BERT-LSH attention backward (FlashAttention-2 style, float32): the
 * probabilities are recomputed tile by tile from the forward's lse; no (T,T) buffer, no atomics
 * (deterministic). Entries and tile phases as bert_lsh_common.cuh. With P_ij = exp(A_ij/sqrt(D) -
 * lse_i), M the dropout multipliers, delta_i = dO_i . O_i:
 *   dS_ij = P_ij (M_ij dO_i . v_j - delta_i) on entries; dV_j = sum_i P_ij M_ij dO_i over entries,
 *   fill=zero's zero logits (P = exp(-lse_i)) and fill=masked's diagonal fallbacks (P = 1, dS = 0).
 *   A U entry (i, j) has logit q_i.k_j: dq_i += dS k_j / sqrt(D), dk_j += dS q_i / sqrt(D).
 *   An L entry (i, j), j < i, has logit q_j.k_i: dq_j += dS k_i / sqrt(D), dk_i += dS q_j / sqrt(D)
 *   (so a transposed-fill pair's two entries both reach q_i and k_j, as the CPU's summed ds).
 * Kernels (one stream, in order):
 *   delta : delta_i = dO_i . O_i                                  one warp per row
 *   rows  : block = 32 query rows I, every key tile: dq_I from U entries, dk_I from L entries;
 *           writes the q and k parts of dqkv
 *   keys  : block = 32 key rows J, every query tile: dk_J from U entries, dq_J from L entries
 *           (added to what `rows` wrote), dV_J (written)
 * Tiles without an entry are skipped (the keys kernel keeps them under fill=zero for dV, and the
 * diagonal tile of a fallback row).
 * Shapes: qkv, dqkv (B,T,3C); dctx, ctx (B,T,C); stats (2,B,H,T); codes (2,B,H,nh,T); mask
 * (B,T); workspace: delta (B,H,T). Disjoint buckets may take the sorted path instead (use_sorted,
 * as the forward: fill=masked, or fill=zero without dropout; the index rebuilt from codes, then
 * bert_lsh_sorted_bwd.cu).
 */
#include <cmath>

#include "bert_lsh_common.cuh"

namespace lshlab_cuda {
namespace blsh {
namespace {
using namespace attn;

__global__ void bert_lsh_delta_kernel(float* delta, const float* dctx, const float* ctx, Shape s) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;  // (b, t, h) flattened
  const int lane = threadIdx.x % 32;
  if (row >= int64_t(s.B) * s.T * s.H) return;
  const int h = int(row % s.H);
  const int64_t bt = row / s.H;
  const int b = int(bt / s.T), t = int(bt % s.T);
  float acc = 0.f;
  for (int d = lane; d < s.D; d += 32) acc += dctx[bt * s.C() + h * s.D + d] * ctx[bt * s.C() + h * s.D + d];
  acc = warp_sum(acc);
  if (lane == 0) delta[(int64_t(b) * s.H + h) * s.T + t] = acc;
}

template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
bert_lsh_rows_kernel(float* dqkv, const float* dctx, const float* qkv, const float* stats,
                     const float* delta, const int32_t* codes, const int32_t* mask, Shape s, Opt o,
                     DropoutKeep drop) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* X = smem;                  // [32][D+1] query-side rows
  float* Y = X + kTile * Dp;        // [32][D+1] key-side rows
  float* dOs = Y + kTile * Dp;      // [32][D+1] dO of the query rows
  float* Vs = dOs + kTile * Dp;     // [32][D+1] V of the key rows
  float* WU = Vs + kTile * Dp;      // [32 queries][33] dS of U entries
  float* WL = WU + kTile * 33;      // [32 queries][33] dS of L entries
  float* Ms = WL + kTile * 33;      // [32][33] (kDropout)
  int32_t* cqI = reinterpret_cast<int32_t*>(Ms + (kDropout ? kTile * 33 : 0));
  int32_t* ckI = cqI + o.nh * kTile;
  int32_t* cqJ = ckI + o.nh * kTile;
  int32_t* ckJ = cqJ + o.nh * kTile;
  int32_t* any = ckJ + o.nh * kTile;

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, q0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C), BHT = int64_t(s.B) * s.H * s.T;
  const float* head = qkv + int64_t(b) * s.T * ld + h * D;
  load_codes(cqI, ckI, codes, o, BHT, bh, s.T, q0);
  load_tile(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T, D);
  float lse_r[kRowsPerWarp], delta_r[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int t = q0 + warp + kWarps * r;
    lse_r[r] = t < s.T ? stats[int64_t(bh) * s.T + t] : INFINITY;
    delta_r[r] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
  }
  float dq[kMaxOut], dk[kMaxOut];
  out_zero(dq);
  out_zero(dk);
  int xp = -1;

  for (int k0 = 0; k0 < s.T; k0 += kTile) {
    __syncthreads();
    load_codes(cqJ, ckJ, codes, o, BHT, bh, s.T, k0);
    if (threadIdx.x == 0) *any = 0;
    __syncthreads();
    const bool kvalid = key_valid(mask, s, b, k0 + lane);
    int kind[kRowsPerWarp];
    bool has = false;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      kind[r] = entry_kind(cqI, ckI, cqJ, ckJ, warp + kWarps * r, lane, q0, k0, s.T, kvalid, o);
      has = has || kind[r] != 0;
    }
    if (has) *any = 1;
    __syncthreads();
    if (*any == 0) continue;  // no entry: no dS here
    const int xpart = x_part(q0, k0, o);
    if (xpart != xp) {
      load_tile(X, head + xpart * C, ld, q0, s.T, D);
      xp = xpart;
    }
    load_tile(Y, head + y_part(q0, k0, o) * C, ld, k0, s.T, D);
    load_tile(Vs, head + 2 * C, ld, k0, s.T, D);
    if (kDropout) dropout_tile(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int i = warp + kWarps * r;
      float ds = 0.f;
      if (kind[r]) {
        const float p = expf(entry_dot(X, Y, kind[r], i, lane, D) * s.scale - lse_r[r]);
        float dp = tile_dot(dOs, i, Vs, lane, D);
        if (kDropout) dp *= Ms[i * 33 + lane];
        ds = p * (dp - delta_r[r]);
      }
      WU[i * 33 + lane] = kind[r] == 1 ? ds : 0.f;
      WL[i * 33 + lane] = kind[r] >= 2 ? ds : 0.f;
    }
    __syncthreads();
    if (o.symn || k0 > q0) out_mac(dq, WU, Y, D);       // Y = K rows: dq_i += dS k_j
    else if (k0 < q0) out_mac(dk, WL, Y, D);            // Y = Q rows: dk_i += dS q_j
    else out_mac2(dq, WU, Y, dk, WL, X, D);             // diagonal: Y = K, X = Q of the rows
  }
  out_store2(dqkv + int64_t(b) * s.T * ld + h * D, ld, dq, s.scale, C, dk, s.scale, q0, s.T, D);
}

template <bool kDropout>
__global__ void __launch_bounds__(kThreads)
bert_lsh_keys_kernel(float* dqkv, const float* dctx, const float* qkv, const float* stats,
                     const float* delta, const int32_t* codes, const int32_t* mask, Shape s, Opt o,
                     DropoutKeep drop) {
  extern __shared__ float smem[];
  const int D = s.D, Dp = D + 1, C = s.C();
  float* KJ = smem;                 // [32][D+1] resident: K, Q, V of the key rows
  float* QJ = KJ + kTile * Dp;
  float* VJ = QJ + kTile * Dp;
  float* Z = VJ + kTile * Dp;       // [32][D+1] Q (U phase) or K (L phase) of the query rows
  float* dOs = Z + kTile * Dp;      // [32][D+1] dO of the query rows
  float* PT = dOs + kTile * Dp;     // [32 keys][33] P' (transposed: row = key)
  float* WU = PT + kTile * 33;      // [32 keys][33] dS of U entries
  float* WL = WU + kTile * 33;      // [32 keys][33] dS of L entries
  float* lse_s = WL + kTile * 33;   // [32] per query row of the tile
  float* delta_s = lse_s + kTile;
  float* fb_s = delta_s + kTile;
  float* Ms = fb_s + kTile;         // [32 queries][33] (kDropout)
  int32_t* cqJ = reinterpret_cast<int32_t*>(Ms + (kDropout ? kTile * 33 : 0));
  int32_t* ckJ = cqJ + o.nh * kTile;
  int32_t* cqI = ckJ + o.nh * kTile;
  int32_t* ckI = cqI + o.nh * kTile;
  int32_t* any = ckI + o.nh * kTile;

  const int bh = blockIdx.y, b = bh / s.H, h = bh % s.H, k0 = blockIdx.x * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t ld = 3 * int64_t(C), BHT = int64_t(s.B) * s.H * s.T;
  const float* head = qkv + int64_t(b) * s.T * ld + h * D;
  load_tile(KJ, head + C, ld, k0, s.T, D);
  if (!o.symn) load_tile(QJ, head, ld, k0, s.T, D);
  load_tile(VJ, head + 2 * C, ld, k0, s.T, D);
  load_codes(cqJ, ckJ, codes, o, BHT, bh, s.T, k0);
  bool kvalid[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) kvalid[r] = key_valid(mask, s, b, k0 + warp + kWarps * r);
  float dq[kMaxOut], dk[kMaxOut], dv[kMaxOut];
  out_zero(dq);
  out_zero(dk);
  out_zero(dv);

  for (int q0 = 0; q0 < s.T; q0 += kTile) {
    __syncthreads();
    load_codes(cqI, ckI, codes, o, BHT, bh, s.T, q0);
    if (threadIdx.x < kTile) {
      const int t = q0 + threadIdx.x;
      lse_s[threadIdx.x] = t < s.T ? stats[int64_t(bh) * s.T + t] : INFINITY;
      delta_s[threadIdx.x] = t < s.T ? delta[int64_t(bh) * s.T + t] : 0.f;
      fb_s[threadIdx.x] = t < s.T ? stats[BHT + int64_t(bh) * s.T + t] : 0.f;
    }
    if (threadIdx.x == 0) *any = 0;
    __syncthreads();
    int kind[kRowsPerWarp];
    bool fbp[kRowsPerWarp], zf[kRowsPerWarp], has = false;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int j = warp + kWarps * r;  // key row; lane = query row
      kind[r] = entry_kind(cqI, ckI, cqJ, ckJ, lane, j, q0, k0, s.T, kvalid[r], o);
      fbp[r] = q0 == k0 && lane == j && fb_s[lane] > 0.f;
      zf[r] = !o.masked && kvalid[r] && q0 + lane < s.T;
      has = has || kind[r] != 0 || fbp[r] || zf[r];
    }
    if (has) *any = 1;
    __syncthreads();
    if (*any == 0) continue;
    const bool phaseU = o.symn || k0 > q0, phaseL = !o.symn && k0 < q0;
    if (phaseU || phaseL) load_tile(Z, head + (phaseL ? C : 0), ld, q0, s.T, D);
    load_tile(dOs, dctx + int64_t(b) * s.T * C + h * D, C, q0, s.T, D);
    if (kDropout) dropout_tile(Ms, drop, bh, s.T, q0, k0);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int j = warp + kWarps * r, i = lane;
      const float mul = kDropout ? Ms[i * 33 + j] : 1.f;
      float pp = 0.f, ds = 0.f;
      if (kind[r]) {
        const float dot = phaseU ? tile_dot(Z, i, KJ, j, D)
                          : phaseL ? tile_dot(QJ, j, Z, i, D)
                          : kind[r] == 1 ? tile_dot(QJ, i, KJ, j, D) : tile_dot(QJ, j, KJ, i, D);
        const float p = expf(dot * s.scale - lse_s[i]);
        ds = p * (tile_dot(dOs, i, VJ, j, D) * mul - delta_s[i]);
        pp = p * mul;
      } else if (fbp[r]) {
        pp = mul;
      } else if (zf[r]) {
        pp = expf(0.f - lse_s[i]) * mul;
      }
      PT[j * 33 + i] = pp;
      WU[j * 33 + i] = kind[r] == 1 ? ds : 0.f;
      WL[j * 33 + i] = kind[r] >= 2 ? ds : 0.f;
    }
    __syncthreads();
    if (phaseU) out_mac2(dv, PT, dOs, dk, WU, Z, D);       // Z = Q: dk_j += dS q_i
    else if (phaseL) out_mac2(dv, PT, dOs, dq, WL, Z, D);  // Z = K: dq_j += dS k_i
    else {
      out_mac2(dv, PT, dOs, dk, WU, QJ, D);
      out_mac(dq, WL, KJ, D);
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int j = idx / D, d = idx % D, t = k0 + j;
      if (t < s.T) {
        float* row = dqkv + (int64_t(b) * s.T + t) * ld + h * D + d;
        row[0] += dq[r] * s.scale;
        row[C] += dk[r] * s.scale;
        row[2 * C] = dv[r];
      }
    }
  }
}

}  // namespace
}  // namespace blsh

int bert_lsh_backward(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                      const float* ctx, const float* stats, const int32_t* codes,
                      const int32_t* mask, int B, int T, int H, int D,
                      const lshlab_cuda_bert_lsh_params* params, const lshlab_cuda_dropout* dropout) {
  using namespace attn;
  clear_error();
  blsh::Opt o{};
  if (int rc = blsh::check_args("bert_lsh_backward", B, T, H, D, params, &o)) return rc;
  if (B <= 0 || T <= 0 || H <= 0) return 0;
  const Shape s{B, T, H, D, float(1.0 / std::sqrt(double(D)))};
  const DropoutKeep drop = make_dropout_keep(dropout);
  float* delta = static_cast<float*>(workspace);
  const int64_t rows = int64_t(B) * T * H;
  const auto delta_kernel = blsh::bert_lsh_delta_kernel;
  delta_kernel<<<unsigned(ceil_div(rows, kWarps)), kThreads, 0, stream()>>>(delta, dctx, ctx, s);
  if (int rc = check_launch("bert_lsh_delta_kernel")) return rc;
  if (blsh::use_sorted(o, T, D, drop.on)) {  // disjoint buckets: bert_lsh_sorted_bwd.cu
    blsh::Sorted st{};
    char* area = static_cast<char*>(workspace) + blsh::sorted_offset(o, B, T, H, D);
    if (int rc = blsh::sort_rows(&st, area, codes, s, o)) return rc;
    return blsh::sorted_backward(dqkv, st, dctx, qkv, stats, delta, mask, s, o, drop);
  }

  const dim3 grid(unsigned(ceil_div(T, kTile)), unsigned(int64_t(B) * H));
  const size_t codes_bytes = sizeof(int32_t) * (4 * o.nh * kTile + 1);
  const size_t ms = drop.on ? kTile * 33 : 0;
  const size_t smem_rows = sizeof(float) * (4 * kTile * (D + 1) + 2 * kTile * 33 + ms) + codes_bytes;
  const auto rows_kernel = drop.on ? blsh::bert_lsh_rows_kernel<true> : blsh::bert_lsh_rows_kernel<false>;
  if (int rc = opt_in_smem(rows_kernel, smem_rows, "bert_lsh_rows_kernel", D))
    return rc;
  rows_kernel<<<grid, kThreads, smem_rows, stream()>>>(dqkv, dctx, qkv, stats, delta, codes, mask, s, o, drop);
  if (int rc = check_launch("bert_lsh_rows_kernel")) return rc;

  const size_t smem_keys =
      sizeof(float) * (5 * kTile * (D + 1) + 3 * kTile * 33 + 3 * kTile + ms) + codes_bytes;
  const auto keys_kernel = drop.on ? blsh::bert_lsh_keys_kernel<true> : blsh::bert_lsh_keys_kernel<false>;
  if (int rc = opt_in_smem(keys_kernel, smem_keys, "bert_lsh_keys_kernel", D))
    return rc;
  keys_kernel<<<grid, kThreads, smem_keys, stream()>>>(dqkv, dctx, qkv, stats, delta, codes, mask, s, o, drop);
  return check_launch("bert_lsh_keys_kernel");
}

}  // namespace lshlab_cuda
