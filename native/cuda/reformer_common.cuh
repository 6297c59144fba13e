/*
 * reformer_common.cuh: what the Reformer LSH attention kernels (reformer_hash.cu,
 * reformer_sort.cu, reformer_forward.cu, reformer_backward.cu) share: the shape plan (the CPU's
 * ReformerAttention::plan, attention/reformer.cc), the layout of the state the forward keeps for
 * the backward and of the scratch workspace, the window indexing, and loading sorted rows into
 * shared tiles. The maths is attention/reformer.h's; the tile geometry is attention_tile.cuh's.
 *
 * Shapes: B batch, T tokens, H heads, D head size (<= 128), R rounds (num_hashes; 1 in standard
 * mode), nb buckets per round (+1 for padding), c chunk length (T in standard mode), Tp = T
 * padded to a multiple of c, G = R Tp / c chunks over the concatenated rounds, W = (1 + before
 * + after) c window keys, S = G c = R Tp sorted slots per (b,h). Slot r Tp + j of (b,h) is
 * position order[r Tp + j] of round r (positions >= T are the internal padding: zero rows).
 *   state (kept by the layer between forward and backward):
 *     order, undo (B,H,S) int32   slot -> position; (r, position) -> slot
 *     lse, w      (B,H,S)         per-slot logsumexp and round weight exp(lse_r - LSE) (0 past T)
 *     ks          (B,H,Tp)        key scale 1 / sqrt(|x|^2 + D 1e-6), float as the CPU rounds it
 *     out         (B,H,S,D)       per-round outputs in sorted order
 *   workspace, forward: rotations (B,H,D,R,nb/2), radix keys / indices (2 x 2 x (B,H,R,Tp)),
 *     radix counts; backward: drow (B,H,S), dq, dk, dv (B,H,S,D) per sorted slot.
 */
#pragma once
#include <cstddef>
#include <cstdint>

#include "attention_tile.cuh"
#include "backend.h"
#include "hash_draw.cuh"

namespace lshlab_cuda {
namespace reformer {

using attn::kThreads;
using attn::kTile;
using attn::kWarps;
constexpr int kMaxD = 128, kPerLane = kMaxD / 32;
constexpr int kRadixBits = 8, kBins = 1 << kRadixBits;
constexpr float kSelfMask = -1e5f, kPadMask = -1e9f;  // HF's replacement logits (float32)

struct Plan {
  int B, T, H, D;
  int R, nb, c, Tp, G, bef, aft, W;
  int standard;      // T <= chunk_length: no hash, one chunk of T
  int tiles, passes; // radix tiles of 256 keys per segment, radix passes of 8 bits
  int64_t S;         // slots per (b,h)
  size_t st_order, st_undo, st_lse, st_w, st_ks, st_out, state;              // bytes
  size_t ws_rot, ws_keys, ws_idx, ws_counts, ws_drow, ws_dq, ws_dk, ws_dv, workspace;
  __host__ __device__ int C() const { return H * D; }
  __host__ __device__ int64_t BH() const { return int64_t(B) * H; }
  __host__ __device__ int nb2() const { return nb / 2; }
  // Sorted slot of window key w (0 <= w < W) of chunk g: chunk g - bef + w / c, mod G.
  __device__ int64_t window_slot(int g, int w) const {
    int x = (g - bef + w / c) % G;
    if (x < 0) x += G;
    return int64_t(x) * c + w % c;
  }
};

// The plan of a call, or a non-zero code with a message naming `what` and the bad argument.
int make_plan(Plan* p, const char* what, int B, int T, int H, int D,
              const lshlab_cuda_reformer_params* params);

struct State {
  int32_t* order;
  int32_t* undo;
  float *lse, *w, *ks, *out;
};
inline State carve_state(void* st, const Plan& p) {
  char* c = static_cast<char*>(st);
  return {reinterpret_cast<int32_t*>(c + p.st_order), reinterpret_cast<int32_t*>(c + p.st_undo),
          reinterpret_cast<float*>(c + p.st_lse), reinterpret_cast<float*>(c + p.st_w),
          reinterpret_cast<float*>(c + p.st_ks), reinterpret_cast<float*>(c + p.st_out)};
}

// Stage entry points (each launches its kernels on the library's stream; 0 = fine).
// rot (B,H,D,R,nb/2) <- the CPU's philox_normal draws rounded to float.
int draw_rotations(float* rot, const Plan& p, const HashDraw& draw, uint32_t site);
// keys (B,H,R,Tp) <- bucket (nb for padding), idx <- position; buckets (B,H,R,T) if not null.
int hash_buckets(uint32_t* keys, uint32_t* idx, int32_t* buckets, const float* qkv,
                 const int32_t* mask, const float* rot, const Plan& p);
// ks (B,H,Tp) key scales; in standard mode also order = undo = identity.
int key_scales(State st, const float* qkv, const Plan& p);
// Stable radix sort of each (b,h,r) segment of keys by bucket, then order and undo.
int sort_slots(State st, uint32_t* keys, uint32_t* idx, void* workspace, const Plan& p);

// ---- device helpers ----

// Rows of a shared tile [32][D+1] from positions: tile[r][d] = base[pos[r] * ld + d] * scale[r]
// (scale null: 1) for 0 <= pos[r] < T, else 0. The product is rounded on its own, as the CPU's
// float product (no FMA contraction into a later sum). Every thread of the block calls it.
__device__ __forceinline__ void load_rows(float* tile, const int* pos, const float* scale,
                                          const float* base, int64_t ld, int T, int D) {
  for (int idx = threadIdx.x; idx < kTile * D; idx += kThreads) {
    const int r = idx / D, d = idx % D, t = pos[r];
    float v = 0.f;
    if (t >= 0 && t < T) v = scale ? __fmul_rn(base[int64_t(t) * ld + d], scale[r]) : base[int64_t(t) * ld + d];
    tile[r * (D + 1) + d] = v;
  }
}

// Logit of query position qp and key position kp (kok: the key is an unpadded token) given
// their dot product: HF's torch.where replacements, self first.
__device__ __forceinline__ float masked_logit(float s, int qp, int kp, bool kok) {
  return kp == qp ? kSelfMask : (kok ? s : kPadMask);
}
__device__ __forceinline__ bool replaced(int qp, int kp, bool kok) { return kp == qp || !kok; }

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

}  // namespace reformer
}  // namespace lshlab_cuda
