/*
 * gemm_avx2.cc: the AVX2 + FMA float GEMM kernel (compiled with -mavx2 -mfma; only ever called
 * after cpu_info() reports both). Holds the 6x16 micro-kernel and the vectorised epilogue;
 * the loop nest and packing come from gemm_driver.h. Does not decide when it runs (gemm.cc).
 */
#include "ops/cpu/gemm_driver.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace lshlab {
namespace gemm_detail {
namespace {

struct Avx2Kernel {
  // 6 x 16: 12 ymm accumulators + 2 B vectors + 1 A broadcast = 15 of 16 registers; per k it
  // issues 12 FMAs against 8 loads, which keeps Zen 3's two FMA pipes fed from L1.
  static constexpr int MR = 6, NR = 16;
  static constexpr bool kDirectA = true;  // has micro_direct()
  // kc 384: B sliver 384x16x4 = 24 KiB stays in the 32 KiB L1; K = 128/384 take one pass over
  //   C, K = 512 two balanced passes of 256 (measured: 256 costs ~8% at K = 384, 512 loses on
  //   transposed-A shapes with N = 128).
  // mc 96: A block 96x384x4 = 144 KiB, well inside the 512 KiB L2.
  // nc 4080: B block up to 6 MiB in the 32 MiB L3, for the vocab-sized N; N <= 512 fits whole.
  static constexpr int MC = 96, KC = 384, NC = 4080;

  // Packed A: sliver k-major, MR floats per k (row stride 4 bytes, k stride 24 bytes).
  static void micro(int kc, const float* pa, const float* pb, float* c, int ldc, float alpha,
                    float beta, int mr, int nr) {
    alignas(32) float t[MR * NR];
    prefetch_c(c, ldc, mr);
    kloop<MR * 4>(kc, pa, 4, pb, t);
    store(t, c, ldc, alpha, beta, mr, nr);
  }
  // Unpacked row-major A (op(A) = A, rows lda apart), all six rows valid: packing A would be a
  // 6-way gather costing about as much as the FMAs when N is only 128; six sequential row
  // streams read in place are nearly free.
  static void micro_direct(int kc, const float* a, long lda, const float* pb, float* c, int ldc,
                           float alpha, float beta, int mr, int nr) {
    alignas(32) float t[MR * NR];
    prefetch_c(c, ldc, mr);
    kloop<4>(kc, a, lda * 4, pb, t);
    store(t, c, ldc, alpha, beta, mr, nr);
  }

  static inline void prefetch_c(const float* c, int ldc, int mr) {
    for (int i = 0; i < mr; i++) {  // C is read/written only after ~kc*6 cycles of FMAs
      _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<long>(i) * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + static_cast<long>(i) * ldc + 15), _MM_HINT_T0);
    }
  }

  // The k loop in inline asm: gcc's register allocator spills some of the 12 accumulators of
  // the intrinsics version inside the loop (measured 5-15% slower). A(i, k) lives at byte
  // a + i*rs + k*KS, addressed BLIS-style from two bases (rows 0 and 3) so only two pointers
  // move. Writes the 6x16 sums to t.
  template <int KS>
  static inline void kloop(int kc, const float* a, long rs, const float* b, float* t) {
    const char* a0 = reinterpret_cast<const char*>(a);
    const char* a3 = a0 + 3 * rs;
    long k4 = kc / 4, kr = kc % 4;
#define LSHLAB_STEP(boff, kk)                                       \
  "vmovaps " #boff "(%[b]), %%ymm12\n\t"                            \
  "vmovaps " #boff "+32(%[b]), %%ymm13\n\t"                         \
  "vbroadcastss %c[" kk "](%[a0]), %%ymm14\n\t"                     \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm0\n\t"                        \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm1\n\t"                        \
  "vbroadcastss %c[" kk "](%[a0],%[rs],1), %%ymm15\n\t"             \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm2\n\t"                        \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm3\n\t"                        \
  "vbroadcastss %c[" kk "](%[a0],%[rs],2), %%ymm14\n\t"             \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm4\n\t"                        \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm5\n\t"                        \
  "vbroadcastss %c[" kk "](%[a3]), %%ymm15\n\t"                     \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm6\n\t"                        \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm7\n\t"                        \
  "vbroadcastss %c[" kk "](%[a3],%[rs],1), %%ymm14\n\t"             \
  "vfmadd231ps %%ymm12, %%ymm14, %%ymm8\n\t"                        \
  "vfmadd231ps %%ymm13, %%ymm14, %%ymm9\n\t"                        \
  "vbroadcastss %c[" kk "](%[a3],%[rs],2), %%ymm15\n\t"             \
  "vfmadd231ps %%ymm12, %%ymm15, %%ymm10\n\t"                       \
  "vfmadd231ps %%ymm13, %%ymm15, %%ymm11\n\t"
    __asm__ volatile(
        "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
        "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
        "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
        "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"
        "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
        "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
        "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
        "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
        "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
        "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
        "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
        "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
        "test %[k4], %[k4]\n\t"
        "jz 2f\n\t"
        "1:\n\t"
        LSHLAB_STEP(0, "d0") LSHLAB_STEP(64, "d1") LSHLAB_STEP(128, "d2") LSHLAB_STEP(192, "d3")
        "add %[s4], %[a0]\n\t"
        "add %[s4], %[a3]\n\t"
        "add $256, %[b]\n\t"
        "dec %[k4]\n\t"
        "jnz 1b\n\t"
        "2:\n\t"
        "test %[kr], %[kr]\n\t"
        "jz 4f\n\t"
        "3:\n\t"
        LSHLAB_STEP(0, "d0")
        "add %[s1], %[a0]\n\t"
        "add %[s1], %[a3]\n\t"
        "add $64, %[b]\n\t"
        "dec %[kr]\n\t"
        "jnz 3b\n\t"
        "4:\n\t"
        "vmovaps %%ymm0, (%[t])\n\t"
        "vmovaps %%ymm1, 32(%[t])\n\t"
        "vmovaps %%ymm2, 64(%[t])\n\t"
        "vmovaps %%ymm3, 96(%[t])\n\t"
        "vmovaps %%ymm4, 128(%[t])\n\t"
        "vmovaps %%ymm5, 160(%[t])\n\t"
        "vmovaps %%ymm6, 192(%[t])\n\t"
        "vmovaps %%ymm7, 224(%[t])\n\t"
        "vmovaps %%ymm8, 256(%[t])\n\t"
        "vmovaps %%ymm9, 288(%[t])\n\t"
        "vmovaps %%ymm10, 320(%[t])\n\t"
        "vmovaps %%ymm11, 352(%[t])\n\t"
        : [a0] "+r"(a0), [a3] "+r"(a3), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr)
        : [rs] "r"(rs), [t] "r"(t), [s4] "i"(4 * KS), [s1] "i"(KS), [d0] "i"(0), [d1] "i"(KS),
          [d2] "i"(2 * KS), [d3] "i"(3 * KS)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
#undef LSHLAB_STEP
  }

  // C = alpha * t + beta * C over the valid mr x nr corner of the tile.
  static inline void store(const float* t, float* c, int ldc, float alpha, float beta, int mr,
                           int nr) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (mr == MR && nr == NR) {
      for (int i = 0; i < MR; i++) {
        float* ci = c + static_cast<long>(i) * ldc;
        __m256 r0 = _mm256_mul_ps(va, _mm256_load_ps(t + 16 * i));
        __m256 r1 = _mm256_mul_ps(va, _mm256_load_ps(t + 16 * i + 8));
        if (beta != 0.f) {  // beta == 0 must not read C (it may hold NaN)
          r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
          r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
        }
        _mm256_storeu_ps(ci, r0);
        _mm256_storeu_ps(ci + 8, r1);
      }
    } else {  // edge tile: spill, then touch only the valid mr x nr part of C
      for (int i = 0; i < mr; i++) {
        float* ci = c + static_cast<long>(i) * ldc;
        for (int j = 0; j < nr; j++)
          ci[j] = beta == 0.f ? alpha * t[i * NR + j] : alpha * t[i * NR + j] + beta * ci[j];
      }
    }
  }

  // + bias, optional pre-activation store, erf-GELU; 8 lanes at a time, scalar tail.
  static void epilogue_row(float* c, float* pre, const float* bias, int n, bool gelu) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      __m256 v = _mm256_loadu_ps(c + j);
      if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
      if (gelu) {
        if (pre) _mm256_storeu_ps(pre + j, v);
        v = gelu8(v);
      }
      _mm256_storeu_ps(c + j, v);
    }
    epilogue_row_scalar(c + j, pre ? pre + j : nullptr, bias ? bias + j : nullptr, n - j, gelu);
  }

  // exp(x) for x <= 0 (Cephes expf: range reduction by ln2, degree-6 polynomial; ~1 ulp).
  static inline __m256 exp_neg8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  }

  // 0.5 x (1 + erf(x / sqrt 2)) with erf from Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7,
  // below float resolution of the result): erf(z) = 1 - poly(t) exp(-z^2), t = 1/(1 + p|z|).
  static inline __m256 gelu8(__m256 x) {
    const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    const __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                                   _mm256_fmadd_ps(az, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = exp_neg8(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), az), az));
    __m256 erf_abs = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    const __m256 erf = _mm256_or_ps(erf_abs, _mm256_and_ps(z, _mm256_set1_ps(-0.0f)));  // sign
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
  }
};

const KernelInfo kInfo = {"avx2",         Avx2Kernel::MR, Avx2Kernel::NR, Avx2Kernel::MC,
                          Avx2Kernel::KC, Avx2Kernel::NC, &run_block<Avx2Kernel>};

}  // namespace

const KernelInfo* kernel_avx2() { return &kInfo; }

}  // namespace gemm_detail
}  // namespace lshlab

#else  // compiled without -mavx2 -mfma: the kernel is simply absent

namespace lshlab {
namespace gemm_detail {
const KernelInfo* kernel_avx2() { return nullptr; }
}  // namespace gemm_detail
}  // namespace lshlab

#endif
