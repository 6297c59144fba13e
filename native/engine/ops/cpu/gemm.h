/*
 * gemm.h: general matrix multiply, the engine's hot path.
 *
 *   C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C, then the epilogue, row-major.
 *   op(A) = A (M,K) with leading dim lda, or A^T where A is stored (K,M).
 *   op(B) = B (K,N) with leading dim ldb, or B^T where B is stored (N,K)  (a Linear weight (out,in)).
 * Epilogue (applied after alpha/beta, per element of C): + bias[n], then optionally GELU(erf); when
 * pre_gelu is given, the value before GELU is stored there (ldc layout) for the backward pass.
 *
 * gemm<float>  -> packed, blocked, vectorised kernel (AVX2/FMA or AVX-512 chosen at run time, a
 *                 portable fallback otherwise), multi-threaded on ThreadPool::global().
 * gemm<double> -> the plain reference loop (gradient checks only; not fast on purpose).
 * gemm_reference<T> -> the triple loop every optimised path is validated against.
 * Allocation: the float kernel uses per-thread packing buffers allocated once and reused.
 */
#pragma once
#include <cstdint>
#include <string>

namespace lshlab {

template <typename T>
struct GemmEpilogue {
  const T* bias = nullptr;  // (N) added to every row, or null
  bool gelu = false;        // apply erf-GELU after the bias
  T* pre_gelu = nullptr;    // if gelu: receives the pre-activation (M,N) with leading dim ldc
};

template <typename T>
void gemm(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc, const GemmEpilogue<T>* ep = nullptr);

template <typename T>
void gemm_reference(bool transA, bool transB, int M, int N, int K, T alpha, const T* A, int lda,
                    const T* B, int ldb, T beta, T* C, int ldc, const GemmEpilogue<T>* ep = nullptr);

// Which float kernel the run-time dispatch picked: "avx512", "avx2" or "portable".
const char* gemm_kernel_name();
// Force a kernel ("avx512" | "avx2" | "portable" | "" for auto) for tests and benchmarks.
// Throws lshlab::Error if the CPU lacks it.
void gemm_force_kernel(const std::string& name);

}  // namespace lshlab
