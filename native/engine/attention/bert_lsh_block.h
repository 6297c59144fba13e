/*
 * bert_lsh_block.h: helpers shared by the two halves of BERT-LSH's bucket-blocked path
 * (bert_lsh_block.cc: forward, bert_lsh_block_bwd.cc: backward). Internal to native/engine/attention.
 */
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "core/philox.h"

namespace lshlab {
namespace bert_lsh_block_detail {
using Clock = std::chrono::steady_clock;
inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
inline bool keep_at(uint64_t seed, uint32_t step, uint32_t site, uint64_t idx, uint32_t threshold) {
  return (philox_u32(seed, uint32_t(Stream::Dropout), step, (uint64_t(site) << 36) + idx) >> 8) >= threshold;
}
template <typename T>
inline void gather(T* out, const T* src, int64_t ld, const int32_t* rows, int cnt, int D) {
  for (int r = 0; r < cnt; r++) std::copy(src + int64_t(rows[r]) * ld, src + int64_t(rows[r]) * ld + D, out + int64_t(r) * D);
}
template <typename T>
inline void scatter(T* dst, int64_t ld, const int32_t* rows, int cnt, const T* in, int D) {
  for (int r = 0; r < cnt; r++) std::copy(in + int64_t(r) * D, in + int64_t(r) * D + D, dst + int64_t(rows[r]) * ld);
}
template <typename T>
struct Scratch { std::vector<T> a, b, c, d, e, w; std::vector<double> col; std::vector<T> cmax; };
template <typename T>
inline Scratch<T>& scratch() { thread_local Scratch<T> s; return s; }
template <typename T>
inline T* sized(std::vector<T>& v, size_t n) { if (v.size() < n) v.resize(n); return v.data(); }
}  // namespace bert_lsh_block_detail

}  // namespace lshlab
