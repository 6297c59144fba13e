/*
 * gemm_avx512.cc: the AVX-512F float GEMM kernel (compiled with -mavx512f ... -mfma; only
 * called after cpu_info() reports AVX-512F with OS-enabled ZMM state). A 12x32 micro-kernel on
 * the shared loop nest of gemm_driver.h. Not tuned on real AVX-512 hardware by this project's
 * dev machine (Zen 3 has none): it is validated against gemm_reference where such a CPU exists.
 */
#include "ops/cpu/gemm_driver.h"
#include "ops/cpu/vecmath.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

namespace lshlab {
namespace gemm_detail {
namespace {

struct Avx512Kernel {
  // 12 x 32: 24 zmm accumulators + 2 B vectors + 1 broadcast of 32 registers; 24 FMAs per
  // 14 loads per k, enough to saturate two 512-bit FMA ports.
  static constexpr int MR = 12, NR = 32;
  // kc 256: B sliver 256x32x4 = 32 KiB (L1 on Intel is 48 KiB); A block 120x256x4 = 120 KiB.
  static constexpr int MC = 120, KC = 256, NC = 4064;

  static void micro(int kc, const float* pa, const float* pb, float* c, int ldc, float alpha,
                    float beta, int mr, int nr) {
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, pa += MR, pb += NR) {
      const __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 12
      for (int i = 0; i < MR; i++) {
        const __m512 a = _mm512_set1_ps(pa[i]);
        acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (mr == MR && nr == NR) {
#pragma GCC unroll 12
      for (int i = 0; i < MR; i++) {
        float* ci = c + static_cast<long>(i) * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
        if (beta != 0.f) {  // beta == 0 must not read C (it may hold NaN)
          r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), r0);
          r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), r1);
        }
        _mm512_storeu_ps(ci, r0);
        _mm512_storeu_ps(ci + 16, r1);
      }
    } else {  // edge tile: spill, then touch only the valid mr x nr part of C
      alignas(64) float t[MR * NR];
      for (int i = 0; i < MR; i++) {
        _mm512_store_ps(t + i * NR, _mm512_mul_ps(va, acc[i][0]));
        _mm512_store_ps(t + i * NR + 16, _mm512_mul_ps(va, acc[i][1]));
      }
      for (int i = 0; i < mr; i++) {
        float* ci = c + static_cast<long>(i) * ldc;
        for (int j = 0; j < nr; j++)
          ci[j] = beta == 0.f ? t[i * NR + j] : t[i * NR + j] + beta * ci[j];
      }
    }
  }

  // Bias 16 wide, then GELU through vecmath's vectorised erf-GELU (libm's scalar erff here
  // cost ~3% of a BERT-tiny training step on a 2-thread Zen 5).
  static void epilogue_row(float* c, float* pre, const float* bias, int n, bool gelu) {
    if (bias) {
      int j = 0;
      for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(c + j, _mm512_add_ps(_mm512_loadu_ps(c + j), _mm512_loadu_ps(bias + j)));
      for (; j < n; j++) c[j] += bias[j];
    }
    if (gelu) {
      if (pre) std::memcpy(pre, c, sizeof(float) * static_cast<size_t>(n));
      vec_gelu_forward(c, c, n);
    }
  }
};

const KernelInfo kInfo = {"avx512",         Avx512Kernel::MR, Avx512Kernel::NR, Avx512Kernel::MC,
                          Avx512Kernel::KC, Avx512Kernel::NC, &run_block<Avx512Kernel>};

}  // namespace

const KernelInfo* kernel_avx512() { return &kInfo; }

}  // namespace gemm_detail
}  // namespace lshlab

#else  // compiled without AVX-512 flags: the kernel is simply absent

namespace lshlab {
namespace gemm_detail {
const KernelInfo* kernel_avx512() { return nullptr; }
}  // namespace gemm_detail
}  // namespace lshlab

#endif
