/*
 * gemm_portable.cc: the fallback float GEMM kernel, plain C++ compiled with the baseline flags
 * (SSE2 on x86-64, whatever the target has elsewhere). Used when the CPU lacks AVX2/FMA and as
 * the "portable" forced kernel in tests. Not tuned: it exists so every machine gets a correct,
 * packed, auto-vectorisable kernel; the speed work lives in gemm_avx2.cc.
 */
#include "ops/cpu/gemm_driver.h"

namespace lshlab {
namespace gemm_detail {
namespace {

struct PortableKernel {
  // 4 x 8: eight 4-wide SSE accumulators leave registers for the A broadcast and B loads.
  static constexpr int MR = 4, NR = 8, MC = 128, KC = 256, NC = 2048;

  static void micro(int kc, const float* pa, const float* pb, float* c, int ldc, float alpha,
                    float beta, int mr, int nr) {
    float acc[MR][NR] = {};
    for (int k = 0; k < kc; k++, pa += MR, pb += NR)
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] += pa[i] * pb[j];
    for (int i = 0; i < mr; i++) {
      float* ci = c + static_cast<long>(i) * ldc;
      for (int j = 0; j < nr; j++)
        ci[j] = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
    }
  }

  static void epilogue_row(float* c, float* pre, const float* bias, int n, bool gelu) {
    epilogue_row_scalar(c, pre, bias, n, gelu);
  }
};

const KernelInfo kInfo = {"portable",         PortableKernel::MR, PortableKernel::NR,
                          PortableKernel::MC, PortableKernel::KC, PortableKernel::NC,
                          &run_block<PortableKernel>};

}  // namespace

const KernelInfo* kernel_portable() { return &kInfo; }

}  // namespace gemm_detail
}  // namespace lshlab
