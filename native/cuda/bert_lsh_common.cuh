/*
 * bert_lsh_common.cuh: what the BERT-LSH kernels (bert_lsh_hash.cu, bert_lsh_forward.cu,
 * bert_lsh_backward.cu) share: the options, IEEE-rounded float/double helpers (so nvcc cannot
 * contract the CPU's separate multiply and add into an FMA), the code tiles and the entry
 * predicate. Semantics: attention/bert_lsh.h; geometry: attention_tile.cuh (32 x 32 tiles, 256
 * threads).
 *
 * Shapes: qkv (B,T,3C); codes (2,B,H,nh,T): q codes then k codes; planes (B,H,nh,bands,D);
 * coef (B,H,nh,bands); stats (2,B,H,T): row logsumexp, then 1 for a fill=masked diagonal
 * fallback row, -1 for a fill=zero row of the sorted path without a zero-logit key, 0 otherwise.
 *
 * Entries of the score tile (query rows q0 + i, key rows k0 + j), key unpadded, in three phases:
 *   U (k0 > q0, or symmetric=none): logit q_i.k_j when q_i, k_j collide;
 *   L (k0 < q0): logit q_j.k_i when q_j, k_i collide (transposed fill: A[i,j] = A[j,i]);
 *   diagonal tile (k0 == q0): U for j >= i, L for j < i.
 * The kernels load X (query-side rows) and Y (key-side rows) so the logit is always X[i].Y[j]:
 * U: X = Q rows q0.., Y = K rows k0..; L: X = K rows q0.., Y = Q rows k0..; diagonal: X = Q,
 * Y = K of rows q0.., U entries X[i].Y[j], L entries X[j].Y[i].
 */
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "attention_tile.cuh"
#include "hash_draw.cuh"

namespace lshlab_cuda {
namespace blsh {

constexpr int kMaxHashes = 64, kMaxBands = 64;

struct Opt {
  int nh, bands, table;
  int masked, symn, andc;  // fill=masked, symmetric=none, combine=and
};

// Rounded exactly as written (CUDA intrinsics; the host emulation compiles without contraction).
#if defined(__CUDACC__)
__device__ __forceinline__ float fmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float fadd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float fsub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float fsqrt(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double dmul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double dadd(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ uint32_t f2u(float x) { return __float_as_uint(x); }
__device__ __forceinline__ float u2f(uint32_t x) { return __uint_as_float(x); }
#else
inline float fmul(float a, float b) { volatile float r = a * b; return r; }
inline float fadd(float a, float b) { volatile float r = a + b; return r; }
inline float fsub(float a, float b) { volatile float r = a - b; return r; }
inline float fsqrt(float a) { return std::sqrt(a); }
inline double dmul(double a, double b) { volatile double r = a * b; return r; }
inline double dadd(double a, double b) { volatile double r = a + b; return r; }
inline uint32_t f2u(float x) { uint32_t u; std::memcpy(&u, &x, 4); return u; }
inline float u2f(uint32_t u) { float x; std::memcpy(&x, &u, 4); return x; }
#endif

// Loads the q and k codes of rows [t0, t0+32) of head bh into cq, ck [nh][32] (-1 past T).
__device__ __forceinline__ void load_codes(int32_t* cq, int32_t* ck, const int32_t* codes,
                                           const Opt& o, int64_t BHT, int bh, int T, int t0) {
  for (int idx = threadIdx.x; idx < o.nh * attn::kTile; idx += attn::kThreads) {
    const int g = idx / attn::kTile, r = idx % attn::kTile, t = t0 + r;
    const int64_t at = (int64_t(bh) * o.nh + g) * T + t;
    cq[idx] = t < T ? codes[at] : -1;
    ck[idx] = t < T ? codes[BHT * o.nh + at] : -1;
  }
}

// Do a[., ia] and b[., ib] ([nh][32] code tiles) collide: equal under any (or=) / all (and=)?
__device__ __forceinline__ bool collide(const int32_t* a, int ia, const int32_t* b, int ib,
                                        const Opt& o) {
  for (int g = 0; g < o.nh; g++) {
    const bool eq = a[g * attn::kTile + ia] == b[g * attn::kTile + ib];
    if (eq != bool(o.andc)) return eq;  // or: first match decides; and: first mismatch
  }
  return bool(o.andc);
}

// Entry kind of (query q0 + i, key k0 + j): 0 none, 1 U (logit X[i].Y[j]), 2 L on the diagonal
// tile (logit X[j].Y[i]), 3 L off the diagonal (logit X[i].Y[j]). kvalid: key unpadded, < T.
__device__ __forceinline__ int entry_kind(const int32_t* cqI, const int32_t* ckI,
                                          const int32_t* cqJ, const int32_t* ckJ, int i, int j,
                                          int q0, int k0, int T, bool kvalid, const Opt& o) {
  if (!kvalid || q0 + i >= T) return 0;
  if (o.symn || k0 + j >= q0 + i) return collide(cqI, i, ckJ, j, o) ? 1 : 0;
  if (!collide(cqJ, j, ckI, i, o)) return 0;
  return k0 == q0 ? 2 : 3;
}

// The logit's raw dot product for entry kind `kind` (1..3) from the X, Y tiles.
__device__ __forceinline__ float entry_dot(const float* X, const float* Y, int kind, int i, int j,
                                           int D) {
  return kind == 2 ? attn::tile_dot(X, j, Y, i, D) : attn::tile_dot(X, i, Y, j, D);
}

// Which rows X and Y hold for key tile k0 of query tile q0: part (0 q, 1 k) of X, of Y.
__device__ __forceinline__ int x_part(int q0, int k0, const Opt& o) {
  return (!o.symn && k0 < q0) ? 1 : 0;
}
__device__ __forceinline__ int y_part(int q0, int k0, const Opt& o) {
  return (!o.symn && k0 < q0) ? 0 : 1;
}

// Keep multiplier of one element (b h, i, j) of the dropout site, as dropout_tile draws it.
__device__ __forceinline__ float keep_one(const DropoutKeep& d, int bh, int T, int i, int j) {
  const uint64_t idx = d.base + (uint64_t(bh) * T + uint64_t(i)) * T + uint64_t(j);
  uint32_t r[4];
  d.draw_group(r, idx & ~uint64_t(3));
  return d.kept(r[idx & 3]) ? d.scale : 0.f;
}

// ---- the sorted path (bert_lsh_sort.cu, bert_lsh_sorted_fwd.cu, bert_lsh_sorted_bwd.cu,
// bert_lsh_sorted_zero.cu) ----
// Per head bh, rows of each side s (0 q, 1 k) stably sorted by bucket key: ord[s] (T) original
// row of each sorted position, sb[s] (T) its dense bucket id (ids shared by both sides, in key
// order), start[s] (2T + 1) first sorted position of each bucket id (start[s][nb] = T).
// fill=zero adds col and zs (null under fill=masked).
struct Sorted {
  int32_t *ord, *sb, *start;  // [2][BH][T], [2][BH][T], [2][BH][2T + 1]
  float* ml;  // [3][BH][T] the forward's U-part max, sum and entry count (transposed fill)
  float* col; // [BH][D+1] fill=zero: forward sum of V over unpadded keys, then their count;
              // backward sum of c_i dO_i over every row (c_i = a zero logit's probability)
  float* zs;  // [BH][T][D] fill=zero: the forward's U-part sum of V over entries (transposed fill)
};

// Loads rows rows[0..32) (original row numbers, -1: zero) of a (T, D) slice (row stride ld from
// base, which points at row 0) into tile[32][D+1]. Every thread of the block calls it.
__device__ __forceinline__ void gather_tile(float* tile, const float* base, int64_t ld,
                                            const int32_t* rows, int D) {
  for (int idx = threadIdx.x; idx < attn::kTile * D; idx += attn::kThreads) {
    const int r = idx / D, c = idx % D, t = rows[r];
    tile[r * (D + 1) + c] = t >= 0 ? base[int64_t(t) * ld + c] : 0.f;
  }
}

// Whether the sorted path may run: disjoint buckets (one hash, or combine=and), any fill.
inline bool sorted_eligible(const Opt& o) { return o.nh == 1 || o.andc; }
// Dynamic shared memory of the sorted kernels per block, bytes (bert_lsh_sorted_{fwd,bwd}.cu).
size_t sorted_fwd_smem(const Opt& o, int D);
size_t sorted_bwd_smem(int D);
// Path choice (bert_lsh_sort.cu): eligible, not fill=zero with dropout (dense, as the CPU), the
// sorted kernels' shared memory within the device's opt-in limit (at D = 128 the backward needs
// 107 KiB: more than sm_86 / sm_89 give, so those GPUs keep the dense kernels there), and
// LSHLAB_CUDA_BERT_LSH_PATH=sorted, or not =dense and T >= kSortedMinT.
bool use_sorted(const Opt& o, int T, int D, bool dropout);
// Workspace: bytes of the sorted path's area (0 when not eligible); its offset in the workspace
// (after the forward's rowcount, planes and coef, or the backward's delta).
size_t sorted_bytes(const Opt& o, int B, int T, int H, int D);
size_t sorted_offset(const Opt& o, int B, int T, int H, int D);
// Sorts the rows of every head by bucket from codes (2,B,H,nh,T); area = sorted_bytes.
int sort_rows(Sorted* out, void* area, const int32_t* codes, const attn::Shape& s, const Opt& o);
// Sorted-path forward: ctx, stats, rowcount as the dense kernel (counts kernel not included).
int sorted_forward(float* ctx, float* stats, int32_t* rowcount, const Sorted& st, const float* qkv,
                   const int32_t* mask, const attn::Shape& s, const Opt& o, const DropoutKeep& drop);
// bert_lsh_sorted_zero.cu (fill=zero): col[bh] = sum over rows t of w_t x_t (D values), then
// sum of w_t; x = V, w = key unpadded (lse null), or x = dO, w = c_t from lse = stats.
int zero_colsum(float* col, const float* x, int64_t ld, const float* lse, const int32_t* mask,
                const attn::Shape& s);
// Sorted-path backward after the delta kernel: writes every element of dqkv.
int sorted_backward(float* dqkv, const Sorted& st, const float* dctx, const float* qkv,
                    const float* stats, const float* delta, const int32_t* mask,
                    const attn::Shape& s, const Opt& o, const DropoutKeep& drop);

// bert_lsh_forward.cu: the dense (every tile) forward kernel; ctx, stats, rowcount.
int dense_forward(float* ctx, float* stats, int32_t* rowcount, const float* qkv,
                  const int32_t* codes, const int32_t* mask, const attn::Shape& s, const Opt& o,
                  const DropoutKeep& drop);
// bert_lsh_forward.cu: validates shapes and params (fails with a message naming `what`), fills o.
int check_args(const char* what, int B, int T, int H, int D, const lshlab_cuda_bert_lsh_params* p,
               Opt* o);
// bert_lsh_hash.cu: planes (B,H,nh,bands,D), coef (B,H,nh,bands), codes (2,B,H,nh,T) of `step`.
int hash(int32_t* codes, float* planes, int32_t* coef, const float* qkv, const attn::Shape& s,
         const Opt& o, const HashDraw& draw, uint32_t site);

}  // namespace blsh
}  // namespace lshlab_cuda
