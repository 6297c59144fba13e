/*
 * embeddings.cu: the row-indexed ops of the training step, float32:
 *
 *   embeddings_forward: out[b,t] = wte[ids[b,t]] + wpe[t] + wtt[types[b,t]]   (types NULL = 0)
 *                       out (B,T,C); wte (V,C), wpe (maxT,C), wtt (TV,C)    as ops/cpu/ops.cc
 *   rows_segment_sum  : table[target[g]] += sum_{k in [offsets[g], offsets[g+1])} src[rows[k]]
 *                       for g < G; table (.,C), src (.,C), offsets (G+1)
 *   gather_rows       : out[r] = src[rows[r]]        out (R,C) dense
 *   scatter_rows      : dst[rows[r]] = src[r]        src (R,C) dense, other dst rows untouched
 *
 * rows_segment_sum is the embedding backward without atomics: the host groups the batch's rows
 * by the table row they hit (token id, position, token type), so each table row is owned by one
 * group, summed in k order (deterministic) and added once. The targets of one call must be
 * distinct (two groups writing one row would race); an empty group writes nothing, so a caller
 * may launch a fixed number of groups (a captured step's fixed shape). A negative row index is a
 * padding row: gather writes zeros, scatter skips it. Layout for all four: one block row per
 * output row (grid.x), threads along C (grid.y strips of 128 columns): coalesced row reads.
 */
#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr int kThreads = 128;  // columns per block

dim3 rows_grid(int64_t rows, int C) {
  return dim3(unsigned(rows), unsigned(ceil_div(C, kThreads)));
}

__global__ void embeddings_forward_kernel(float* out, const int32_t* ids, const int32_t* types,
                                          const float* wte, const float* wpe, const float* wtt,
                                          int T, int C) {
  const int64_t n = blockIdx.x;  // row b*T + t
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c >= C) return;
  const int t = int(n % T);
  const float we = wte[int64_t(ids[n]) * C + c];
  const float pe = wpe[int64_t(t) * C + c];
  const float te = wtt[int64_t(types ? types[n] : 0) * C + c];
  out[n * C + c] = we + pe + te;  // the CPU's order: (we + pe) + te
}

__global__ void rows_segment_sum_kernel(float* table, const int32_t* target, const int32_t* offsets,
                                        const int32_t* rows, const float* src, int C) {
  const int g = blockIdx.x;
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c >= C) return;
  const int begin = offsets[g], end = offsets[g + 1];
  if (begin == end) return;  // an empty (padding) group: its target is not read
  float acc = 0.f;
  for (int k = begin; k < end; k++) acc += src[int64_t(rows[k]) * C + c];
  table[int64_t(target[g]) * C + c] += acc;
}

__global__ void gather_rows_kernel(float* out, const float* src, const int32_t* rows, int C) {
  const int64_t r = blockIdx.x;
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c < C) out[r * C + c] = rows[r] >= 0 ? src[int64_t(rows[r]) * C + c] : 0.f;
}

__global__ void scatter_rows_kernel(float* dst, const float* src, const int32_t* rows, int C) {
  const int64_t r = blockIdx.x;
  const int c = blockIdx.y * kThreads + threadIdx.x;
  if (c < C && rows[r] >= 0) dst[int64_t(rows[r]) * C + c] = src[r * C + c];
}

}  // namespace

int embeddings_forward(float* out, const int32_t* ids, const int32_t* types, const float* wte,
                       const float* wpe, const float* wtt, int B, int T, int C) {
  clear_error();
  if (B <= 0 || T <= 0 || C <= 0) return 0;
  embeddings_forward_kernel<<<rows_grid(int64_t(B) * T, C), kThreads, 0, stream()>>>(
      out, ids, types, wte, wpe, wtt, T, C);
  return check_launch("embeddings_forward_kernel");
}

int rows_segment_sum(float* table, const int32_t* target, const int32_t* offsets,
                     const int32_t* rows, int G, const float* src, int C) {
  clear_error();
  if (G <= 0 || C <= 0) return 0;
  rows_segment_sum_kernel<<<rows_grid(G, C), kThreads, 0, stream()>>>(table, target, offsets, rows,
                                                                     src, C);
  return check_launch("rows_segment_sum_kernel");
}

int gather_rows(float* out, const float* src, const int32_t* rows, int R, int C) {
  clear_error();
  if (R <= 0 || C <= 0) return 0;
  gather_rows_kernel<<<rows_grid(R, C), kThreads, 0, stream()>>>(out, src, rows, C);
  return check_launch("gather_rows_kernel");
}

int scatter_rows(float* dst, const float* src, const int32_t* rows, int R, int C) {
  clear_error();
  if (R <= 0 || C <= 0) return 0;
  scatter_rows_kernel<<<rows_grid(R, C), kThreads, 0, stream()>>>(dst, src, rows, C);
  return check_launch("scatter_rows_kernel");
}

}  // namespace lshlab_cuda
