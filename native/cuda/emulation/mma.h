/*
 * mma.h (emulation): the nvcuda::wmma subset the bf16 attention kernels use, on the host:
 * m16n16k16 fragments (matrix_a / matrix_b of __nv_bfloat16, row- or column-major; float
 * accumulators), fill_fragment, load_matrix_sync, store_matrix_sync, mma_sync.
 *
 * Element mapping (opaque on a GPU, so kernels must not depend on it): lane l holds elements
 * e = l + 32 i, i < 8, of the 16 x 16 tile, (row, col) = (e / 16, e % 16). Every operation is
 * warp-collective as on a GPU: it passes the warp barrier (all 32 lanes must call it), and
 * mma_sync exchanges the three operand tiles through a per-warp buffer between two warp
 * barriers, as __shfl_xor_sync does with its exchange buffer. The product: bf16 x bf16 is exact
 * in fp32, summed in fp32 over k in order onto C (tensor cores sum in an undocumented order and
 * internal precision; the tests' tolerances allow for that).
 * Refused (abort with a message) as the documentation forbids: ldm not a multiple of 8 elements
 * (16-bit types) or 4 (float), a shared-memory pointer not 32-byte aligned (from the dynamic
 * shared memory's start, which a GPU aligns further).
 */
#pragma once
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "cuda_bf16.h"
#include "cuda_runtime_api.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulation has the m16n16k16 shape only");
  static constexpr int num_elements = 8;
  T x[num_elements];
};

namespace detail {
inline float wmma_xchg[32][3][256];  // per warp of the running block: A, B, C tiles
inline unsigned warp() { return emu::linear_tid() / 32; }
inline unsigned lane() { return emu::linear_tid() % 32; }
inline void warp_barrier() { emu::block_fibers.warp_sync(); }
inline float to_float(float v) { return v; }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
inline void from_float(float& d, float v) { d = v; }
inline void from_float(__nv_bfloat16& d, float v) { d = __float2bfloat16_rn(v); }
template <typename T>
void check(const T* p, unsigned ldm, const char* what) {
  const unsigned need = sizeof(T) == 2 ? 8 : 4;
  const unsigned char* c = reinterpret_cast<const unsigned char*>(p);
  const unsigned char* d0 = emu::dyn.data();
  const bool shared = c >= d0 && c < d0 + emu::dyn.size();
  if (ldm % need != 0 || (shared && (c - d0) % 32 != 0)) {
    std::fprintf(stderr, "emulation: wmma::%s with ldm %u (must be a multiple of %u) or a pointer "
                 "%s32-byte aligned\n", what, ldm, need, shared && (c - d0) % 32 ? "not " : "");
    std::abort();
  }
}
// Offset of tile element (r, c) in memory of leading dimension ldm.
inline size_t at(int r, int c, unsigned ldm, bool row) { return row ? size_t(r) * ldm + c : size_t(c) * ldm + r; }
}  // namespace detail

template <typename Use, typename T, typename L>
void fill_fragment(fragment<Use, 16, 16, 16, T, L>& f, float v) {
  detail::warp_barrier();
  for (auto& x : f.x) detail::from_float(x, v);
}

template <typename Use, typename T, typename L>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, L>& f, const T* p, unsigned ldm) {
  static_assert(!std::is_same<L, void>::value, "an accumulator load takes a layout_t");
  detail::check(p, ldm, "load_matrix_sync");
  detail::warp_barrier();
  for (int i = 0; i < 8; i++) {
    const int e = int(detail::lane()) + 32 * i;
    f.x[i] = p[detail::at(e / 16, e % 16, ldm, std::is_same<L, row_major>::value)];
  }
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm,
                             layout_t layout) {
  detail::check(p, ldm, "load_matrix_sync");
  detail::warp_barrier();
  for (int i = 0; i < 8; i++) {
    const int e = int(detail::lane()) + 32 * i;
    f.x[i] = p[detail::at(e / 16, e % 16, ldm, layout == mem_row_major)];
  }
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm,
                              layout_t layout) {
  detail::check(p, ldm, "store_matrix_sync");
  detail::warp_barrier();
  for (int i = 0; i < 8; i++) {
    const int e = int(detail::lane()) + 32 * i;
    p[detail::at(e / 16, e % 16, ldm, layout == mem_row_major)] = f.x[i];
  }
}

// d = a b + c (d may be c).
template <typename T, typename La, typename Lb>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, La>& a,
              const fragment<matrix_b, 16, 16, 16, T, Lb>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float(&x)[3][256] = detail::wmma_xchg[detail::warp()];
  const int l = int(detail::lane());
  for (int i = 0; i < 8; i++) {
    x[0][l + 32 * i] = detail::to_float(a.x[i]);
    x[1][l + 32 * i] = detail::to_float(b.x[i]);
    x[2][l + 32 * i] = c.x[i];
  }
  detail::warp_barrier();
  float out[8];
  for (int i = 0; i < 8; i++) {
    const int e = l + 32 * i, r = e / 16, col = e % 16;
    float acc = x[2][e];
    for (int k = 0; k < 16; k++) acc += x[0][r * 16 + k] * x[1][k * 16 + col];
    out[i] = acc;
  }
  detail::warp_barrier();
  for (int i = 0; i < 8; i++) d.x[i] = out[i];
}

}  // namespace wmma
}  // namespace nvcuda
