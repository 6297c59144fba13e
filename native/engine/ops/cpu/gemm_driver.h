/*
 * gemm_driver.h: the GotoBLAS/BLIS loop nest around a register-blocked micro-kernel, as a
 * template each per-ISA file instantiates with its own kernel, so packing and the loops are
 * compiled with that file's flags. Not a public header: included only by gemm_<isa>.cc.
 * It does not pick kernels or threads (gemm.cc does); it computes one C sub-block.
 *
 * Loop nest for a C block (rows [m0,m1), cols [n0,n1)):
 *   jc over nc columns        B block kc x nc packed into NR-wide slivers  (lives in L3/L2)
 *     pc over kc of K           first pc applies the user's beta, later ones accumulate
 *       ic over mc rows          A block mc x kc packed into MR-tall slivers  (lives in L2)
 *         jr over NR, ir over MR micro-kernel: MR x NR of C in registers, B sliver in L1
 *       epilogue on the finished mc x nc block while it is still in cache
 *
 * Everything here sits in an anonymous namespace on purpose: the same inline code compiled with
 * -mavx2 in one file and baseline flags in another must not be merged by the linker.
 */
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/cpu/gemm_internal.h"

namespace lshlab {
namespace gemm_detail {
namespace {

inline float gelu_scalar(float v) {
  return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
}

// B(k, n) = op(B) element; packs op(B)[pc:pc+kc, j0:j0+nc] as NR-wide slivers, k-major inside
// a sliver, zero-padded to a multiple of NR columns so the micro-kernel never branches.
template <int NR>
void pack_b(const GemmArgs& g, int pc, int kc, int j0, int nc, float* pb) {
  for (int p = 0; p < nc; p += NR) {
    const int w = std::min(NR, nc - p);
    float* dst = pb + static_cast<long>(p) * kc;
    if (!g.transB) {  // rows of B are contiguous in n: straight copies
      const float* src = g.B + static_cast<long>(pc) * g.ldb + j0 + p;
      for (int k = 0; k < kc; k++, src += g.ldb, dst += NR) {
        if (w == NR) {
          std::memcpy(dst, src, sizeof(float) * NR);
        } else {
          for (int j = 0; j < w; j++) dst[j] = src[j];
          for (int j = w; j < NR; j++) dst[j] = 0.f;
        }
      }
    } else {  // B stored (N,K): read each row of B contiguously, scatter into the sliver
      for (int j = 0; j < NR; j++) {
        if (j < w) {
          const float* src = g.B + static_cast<long>(j0 + p + j) * g.ldb + pc;
          for (int k = 0; k < kc; k++) dst[k * NR + j] = src[k];
        } else {
          for (int k = 0; k < kc; k++) dst[k * NR + j] = 0.f;
        }
      }
    }
  }
}

// Packs op(A)[i0:i0+mc, pc:pc+kc] as MR-tall slivers, k-major inside a sliver, zero-padded.
template <int MR>
void pack_a(const GemmArgs& g, int i0, int mc, int pc, int kc, float* pa) {
  if (g.transA) {
    // A stored (K,M): row k holds all mc values of this block contiguously. Read each row once
    // (prefetching 4 rows ahead: rows are lda floats apart, often a new page each) and scatter
    // MR-value runs to the slivers; sliver-by-sliver order re-touched every row mc/MR times
    // and cost ~15% on dW-shaped products.
    const int full = mc / MR * MR;
    const float* src = g.A + static_cast<long>(pc) * g.lda + i0;
    for (int k = 0; k < kc; k++, src += g.lda) {
      if (k + 4 < kc) {
        const char* pf = reinterpret_cast<const char*>(src + 4L * g.lda);
        for (int off = 0; off < mc * 4; off += 64) __builtin_prefetch(pf + off);
      }
      for (int p = 0; p < full; p += MR)
        std::memcpy(pa + static_cast<long>(p) * kc + k * MR, src + p, sizeof(float) * MR);
      if (full < mc) {
        float* dst = pa + static_cast<long>(full) * kc + k * MR;
        for (int i = 0; i < MR; i++) dst[i] = full + i < mc ? src[full + i] : 0.f;
      }
    }
    return;
  }
  for (int p = 0; p < mc; p += MR) {  // A (M,K): MR row streams, gathered column by column
    const int h = std::min(MR, mc - p);
    float* dst = pa + static_cast<long>(p) * kc;
    const float* rows[MR];
    for (int i = 0; i < MR; i++)
      rows[i] = g.A + static_cast<long>(i0 + p + std::min(i, h - 1)) * g.lda + pc;
    if (h == MR) {
      for (int k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++) dst[k * MR + i] = rows[i][k];
    } else {
      for (int k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++) dst[k * MR + i] = i < h ? rows[i][k] : 0.f;
    }
  }
}

// Kernels may declare kDirectA and a micro_direct() that reads row-major A in place.
template <class Kern, class = void>
struct HasDirectA { static constexpr bool value = false; };
template <class Kern>
struct HasDirectA<Kern, decltype(void(Kern::kDirectA))> { static constexpr bool value = Kern::kDirectA; };

template <class Kern>
void micro_direct(int kc, const float* a, long lda, const float* b, float* c, int ldc, float alpha,
                  float beta, int mr, int nr) {
  if constexpr (HasDirectA<Kern>::value) Kern::micro_direct(kc, a, lda, b, c, ldc, alpha, beta, mr, nr);
}

template <class Kern>
void run_block(const GemmArgs& g, int m0, int m1, int n0, int n1, float* pa, float* pb) {
  constexpr int MR = Kern::MR, NR = Kern::NR;
  // Split K into equal chunks no larger than KC (K=512 -> 2 x 256, not 384 + 128), and the rows
  // into equal MR-multiple blocks no taller than MC (M=128 -> 66 + 62, not 96 + 32).
  const int nk = (g.K + Kern::KC - 1) / Kern::KC;
  const int kstep = (g.K + nk - 1) / nk;
  const int nm = (m1 - m0 + Kern::MC - 1) / Kern::MC;
  const int mstep = ((m1 - m0 + nm - 1) / nm + MR - 1) / MR * MR;
  const GemmEpilogue<float>* ep = g.ep;
  for (int jc = n0; jc < n1; jc += Kern::NC) {
    const int nc = std::min(Kern::NC, n1 - jc);
    for (int pc = 0; pc < g.K; pc += kstep) {
      const int kc = std::min(kstep, g.K - pc);
      const float beta = pc == 0 ? g.beta : 1.0f;
      const bool last = pc + kc >= g.K;
      pack_b<NR>(g, pc, kc, jc, nc, pb);
      for (int ic = m0; ic < m1; ic += mstep) {
        const int mc = std::min(mstep, m1 - ic);
        // Kernels with in-place A read op(A) = A straight from memory (six row streams); only
        // ragged last rows (< MR) get packed. A^T is always packed: read in place, each k sits
        // lda floats from the last (a new page per k for M = 4096), measured 20-30% slower.
        const bool in_place = HasDirectA<Kern>::value && !g.transA;
        if (!in_place) pack_a<MR>(g, ic, mc, pc, kc, pa);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = std::min(NR, nc - jr);
          const float* b = pb + static_cast<long>(jr) * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            float* c = g.C + static_cast<long>(ic + ir) * g.ldc + jc + jr;
            const int mr = std::min(MR, mc - ir);
            if (!in_place) {
              Kern::micro(kc, pa + static_cast<long>(ir) * kc, b, c, g.ldc, g.alpha, beta, mr, nr);
            } else if (mr < MR) {  // pack the ragged rows so no read goes past A's last row
              pack_a<MR>(g, ic + ir, mr, pc, kc, pa);
              Kern::micro(kc, pa, b, c, g.ldc, g.alpha, beta, mr, nr);
            } else {
              micro_direct<Kern>(kc, g.A + static_cast<long>(ic + ir) * g.lda + pc, g.lda, b, c,
                                 g.ldc, g.alpha, beta, mr, nr);
            }
          }
        }
        if (last && ep) {
          for (int i = ic; i < ic + mc; i++) {
            const long off = static_cast<long>(i) * g.ldc + jc;
            Kern::epilogue_row(g.C + off, ep->gelu && ep->pre_gelu ? ep->pre_gelu + off : nullptr,
                               ep->bias ? ep->bias + jc : nullptr, nc, ep->gelu);
          }
        }
      }
    }
  }
}

// Scalar epilogue for kernels without a vector one: + bias, then optional pre-store and GELU.
inline void epilogue_row_scalar(float* c, float* pre, const float* bias, int n, bool gelu) {
  for (int j = 0; j < n; j++) {
    float v = c[j] + (bias ? bias[j] : 0.f);
    if (gelu) {
      if (pre) pre[j] = v;
      v = gelu_scalar(v);
    }
    c[j] = v;
  }
}

}  // namespace
}  // namespace gemm_detail
}  // namespace lshlab
