/*
 * test_cuda_bert_lsh.h: what the BERT-LSH CUDA parity tests (test_cuda_bert_lsh.cc, and
 * test_cuda_bert_lsh_zero.cc for fill=zero's sorted path) share, defined in
 * test_cuda_bert_lsh.cc: a case (shape, options, padding, dropout, input scale), its screened
 * inputs, one GPU run (forward then backward through the ABI), the BertLshAttention<double>
 * reference, the path override and the per-case check (draws, codes, counts, ctx 1e-5, dqkv 1e-4).
 */
#pragma once
#include <cstdint>
#include <vector>

#include "attention/bert_lsh.h"
#include "cuda_harness.h"

namespace cuda_bert_lsh_test {

constexpr uint64_t kSeed = 91;
constexpr uint32_t kStep = 7, kSite = 2;
constexpr double kDrop = 0.2;

struct Case {
  int B, T, H, D, bands, table, nh;
  bool masked, symn, andc, reseed, pad, drop;
  int min_tokens;     // the CPU's bert_lsh_block_min_tokens for the reference
  float scale = 1.f;  // q, k, v uniform in [-scale, scale] (large: large logits)
};

// pad: sequence 2 all padding, the last 3 (b + 1) tokens and every t % 5 == 2 of the others.
struct Inputs { std::vector<float> qkv, dctx; std::vector<int32_t> mask; };
struct GpuOut {
  std::vector<float> ctx, dqkv, stats, planes;
  std::vector<int32_t> codes, coef;
  std::vector<double> counts;
};
struct CpuOut { std::vector<double> ctx, dqkv, planes, coef; lshlab::AttentionCounters k; };

lshlab::BertLshConfig config(const Case& c);
lshlab_cuda_bert_lsh_params params(const Case& c);
Inputs make_inputs(const Case& c, unsigned seed);
GpuOut run_gpu(const lshlab_cuda_harness::Api& a, const Case& c, const Inputs& in);
CpuOut run_cpu(const Case& c, const Inputs& in);
// Forces the kernels' path (nullptr: automatic).
void set_path(const char* p);
// Sets LSHLAB_EMU_SMEM_OPTIN (the host emulation's shared memory per block; a GPU ignores it)
// for its lifetime: the sorted path at D = 128 needs more than the emulation's default 99 KiB,
// which sm_86 / sm_89 GPUs have, and fits the 227 KiB of an sm_90 GPU.
struct EmulatedSmem {
  explicit EmulatedSmem(const char* bytes);
  ~EmulatedSmem();
};
// Every check of one case; prints one line (with the forced path). Returns whether all passed.
bool check_case(const lshlab_cuda_harness::Api& a, const Case& c, GpuOut* out = nullptr);

}  // namespace cuda_bert_lsh_test
