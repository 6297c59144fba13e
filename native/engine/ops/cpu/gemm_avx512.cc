/*
 * gemm_avx512.cc: the AVX-512F float GEMM kernel (compiled with -mavx512f ... -mfma; only
 * called after cpu_info() reports AVX-512F with OS-enabled ZMM state). A 12x32 micro-kernel on
 * the shared loop nest of gemm_driver.h, reading row-major A in place where it can. Measured on
 * an AMD EPYC with full-width 512-bit FMA (docs/benchmarks.md: 80-90% of its AVX-512 peak on the
 * training step's shapes); validated against gemm_reference (test gemm/).
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

  static constexpr bool kDirectA = true;  // has micro_direct()

  // Packed A: sliver k-major, MR floats per k.
  static void micro(int kc, const float* pa, const float* pb, float* c, int ldc, float alpha,
                    float beta, int mr, int nr) {
    __m512 acc[MR][2];
    kloop(kc, pa, 1, MR, pb, acc);
    store(acc, c, ldc, alpha, beta, mr, nr);
  }
  // Unpacked row-major A (rows lda apart), all MR rows valid: for N = 128 products packing A
  // costs a large share of the FMAs; twelve sequential row streams read in place do not.
  static void micro_direct(int kc, const float* a, long lda, const float* pb, float* c, int ldc,
                           float alpha, float beta, int mr, int nr) {
    __m512 acc[MR][2];
    kloop(kc, a, lda, 1, pb, acc);
    store(acc, c, ldc, alpha, beta, mr, nr);
  }

  // A(i, k) at a[i * rs + k * ks].
  static inline void kloop(int kc, const float* a, long rs, long ks, const float* pb,
                           __m512 (&acc)[MR][2]) {
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, a += ks, pb += NR) {
      const __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 12
      for (int i = 0; i < MR; i++) {
        const __m512 av = _mm512_set1_ps(a[i * rs]);
        acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
      }
    }
  }

  static inline void store(const __m512 (&acc)[MR][2], float* c, int ldc, float alpha, float beta,
                           int mr, int nr) {
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
