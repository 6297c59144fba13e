/*
 * cuda_attention_runs.h: the CUDA attention variants of the backend ABI (cuda_abi.h) as a pair of
 * closures, forward and backward, over device buffers allocated here, for the scaling sweep
 * (cmd_bench_attention_cuda.cc). Each variant: its name (the CPU variant of make_attention), a
 * presence test on the ABI table (struct_size and a non-null entry, so a library built before
 * the entry existed, or one that leaves it NULL, is reported rather than called), a maker, the
 * configurations it runs by default, and its cost in n. Adding a variant = a maker and a row.
 * exact-bf16 is exact attention on the bf16 tensor-core kernels (--precision bf16), validated
 * against the CPU's exact on bf16-rounded inputs within its stated bound.
 * The calls use no mask, no dropout and the draws (seed 1234, step 5, site 7) that the CPU check
 * gives its variant. Host-side only (no CUDA header).
 */
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/bert_lsh.h"
#include "attention/reformer.h"
#include "attention/yoso.h"
#include "cuda_harness.h"

namespace lshlab_cuda_runs {

using lshlab_cuda_harness::Api;
using lshlab_cuda_harness::DeviceBuffer;
using lshlab_cuda_harness::ok;

// The ABI table has field f (a library built before f was appended has a smaller struct_size).
#define LSHLAB_ABI_HAS(a, f) ((a).struct_size >= offsetof(lshlab_cuda_api_v1, f) + sizeof((a).f) && (a).f)

struct Shape { int B, T, H, D; size_t tok() const { return size_t(B) * T; } size_t C() const { return size_t(H) * D; } };
struct Io { float *qkv, *ctx, *dctx, *dqkv; };
constexpr uint64_t kSeed = 1234;  // the draws' stream position, as bench-cuda and the CPU check
constexpr uint32_t kStep = 5, kSite = 7;

// One configuration at one shape: its forward and backward calls and the buffers they use.
struct Run {
  std::function<void()> fwd, bwd;
  std::vector<std::shared_ptr<void>> keep;
  double fwd_bytes = 0, bwd_bytes = 0;  // allocated for the forward; more for the backward only
  template <typename T> T* alloc(const Api& a, size_t n, bool bwd_only = false) {
    auto b = std::make_shared<DeviceBuffer<T>>(a, n);
    (bwd_only ? bwd_bytes : fwd_bytes) += double(b->bytes());
    keep.push_back(b);
    return b->get();
  }
};
using Maker = Run (*)(const Api&, const Io&, const Shape&, const lshlab::AttentionParams&);

inline Run make_exact(const Api& a, const Io& io, const Shape& s, const lshlab::AttentionParams&) {
  Run r;
  float* lse = r.alloc<float>(a, size_t(s.B) * s.H * s.T);
  float* delta = r.alloc<float>(a, size_t(s.B) * s.H * s.T, true);
  r.fwd = [=, &a] { ok(a, a.attention_forward(io.ctx, lse, io.qkv, nullptr, s.B, s.T, s.H, s.D, nullptr), "attention_forward"); };
  r.bwd = [=, &a] { ok(a, a.attention_backward(io.dqkv, delta, io.dctx, io.qkv, io.ctx, lse, nullptr, s.B, s.T, s.H, s.D, nullptr), "attention_backward"); };
  return r;
}

// The bf16 tensor-core kernels (attention_forward_bf16; --precision bf16): D 64 or 128.
inline Run make_exact_bf16(const Api& a, const Io& io, const Shape& s, const lshlab::AttentionParams&) {
  Run r;
  float* lse = r.alloc<float>(a, size_t(s.B) * s.H * s.T);
  float* delta = r.alloc<float>(a, size_t(s.B) * s.H * s.T, true);
  r.fwd = [=, &a] { ok(a, a.attention_forward_bf16(io.ctx, lse, io.qkv, nullptr, s.B, s.T, s.H, s.D, nullptr), "attention_forward_bf16"); };
  r.bwd = [=, &a] { ok(a, a.attention_backward_bf16(io.dqkv, delta, io.dctx, io.qkv, io.ctx, lse, nullptr, s.B, s.T, s.H, s.D, nullptr), "attention_backward_bf16"); };
  return r;
}

inline Run make_yoso(const Api& a, const Io& io, const Shape& s, const lshlab::AttentionParams& p) {
  const lshlab::YosoOptions o = lshlab::parse_yoso_options("yoso", p);
  const int tau = o.tau, m = o.num_hash, ex = o.exact_backward;
  const size_t BH = size_t(s.B) * s.H;
  size_t ws_bytes = 0;
  ok(a, a.yoso_workspace_size(&ws_bytes, s.B, s.T, s.H, s.D, tau, m), "yoso_workspace_size");
  Run r;
  auto* ws = r.alloc<unsigned char>(a, ws_bytes);
  float* y = r.alloc<float>(a, BH * s.T);
  float* planes = r.alloc<float>(a, BH * m * tau * s.D);
  int32_t* qc = r.alloc<int32_t>(a, BH * m * s.T);
  int32_t* kc = r.alloc<int32_t>(a, BH * m * s.T);
  r.fwd = [=, &a] { ok(a, a.yoso_forward(io.ctx, y, qc, kc, planes, nullptr, ws, io.qkv, nullptr, s.B, s.T, s.H, s.D, tau, m, kSeed, kStep, kSite), "yoso_forward"); };
  r.bwd = [=, &a] { ok(a, a.yoso_backward(io.dqkv, ws, io.dctx, io.qkv, io.ctx, y, qc, kc, nullptr, s.B, s.T, s.H, s.D, tau, m, ex), "yoso_backward"); };
  return r;
}

inline Run make_yoso_e(const Api& a, const Io& io, const Shape& s, const lshlab::AttentionParams& p) {
  const lshlab::YosoOptions o = lshlab::parse_yoso_options("yoso-e", p);
  const int tau = o.tau, ex = o.exact_backward;
  const size_t BHT = size_t(s.B) * s.H * s.T;
  Run r;
  float* ws = r.alloc<float>(a, (3 * size_t(s.D) + 2) * BHT);
  float* y = r.alloc<float>(a, BHT);
  r.fwd = [=, &a] { ok(a, a.yoso_e_forward(io.ctx, y, ws, io.qkv, nullptr, s.B, s.T, s.H, s.D, tau, ex), "yoso_e_forward"); };
  r.bwd = [=, &a] { ok(a, a.yoso_e_backward(io.dqkv, ws, io.dctx, io.qkv, io.ctx, y, nullptr, s.B, s.T, s.H, s.D, tau, ex), "yoso_e_backward"); };
  return r;
}

inline Run make_bert_lsh(const Api& a, const Io& io, const Shape& s, const lshlab::AttentionParams& p) {
  const lshlab::BertLshConfig c = lshlab::bert_lsh_parse(p);
  const lshlab_cuda_bert_lsh_params bp{c.bands, c.table_size, c.num_hashes, c.fill_masked,
                                       c.symmetric_none, c.combine_and, c.reseed_fixed};
  const size_t BHT = size_t(s.B) * s.H * s.T;
  size_t ws_bytes = 0;
  ok(a, a.bert_lsh_workspace_size(&ws_bytes, s.B, s.T, s.H, s.D, &bp), "bert_lsh_workspace_size");
  Run r;
  auto* ws = r.alloc<unsigned char>(a, ws_bytes);
  float* stats = r.alloc<float>(a, 2 * BHT);
  int32_t* codes = r.alloc<int32_t>(a, 2 * BHT * size_t(c.num_hashes));
  double* counts = r.alloc<double>(a, 2 * size_t(s.H));
  r.fwd = [=, &a] { ok(a, a.bert_lsh_forward(io.ctx, stats, codes, nullptr, nullptr, counts, ws, io.qkv, nullptr, s.B, s.T, s.H, s.D, &bp, kSeed, kStep, kSite, nullptr), "bert_lsh_forward"); };
  r.bwd = [=, &a] { ok(a, a.bert_lsh_backward(io.dqkv, ws, io.dctx, io.qkv, io.ctx, stats, codes, nullptr, s.B, s.T, s.H, s.D, &bp, nullptr), "bert_lsh_backward"); };
  return r;
}

inline Run make_reformer(const Api& a, const Io& io, const Shape& s, const lshlab::AttentionParams& p) {
  const lshlab::ReformerParams c = lshlab::ReformerParams::parse(p);
  const lshlab_cuda_reformer_params rp{c.num_hashes, c.num_buckets, c.chunk_length, c.num_chunks_before, c.num_chunks_after};
  size_t state_bytes = 0, ws_bytes = 0;
  ok(a, a.reformer_sizes(&state_bytes, &ws_bytes, s.B, s.T, s.H, s.D, &rp), "reformer_sizes");
  Run r;
  auto* state = r.alloc<unsigned char>(a, state_bytes);
  auto* ws = r.alloc<unsigned char>(a, ws_bytes);
  r.fwd = [=, &a] { ok(a, a.reformer_forward(io.ctx, state, nullptr, nullptr, ws, io.qkv, nullptr, s.B, s.T, s.H, s.D, &rp, kSeed, kStep, kSite, nullptr), "reformer_forward"); };
  r.bwd = [=, &a] { ok(a, a.reformer_backward(io.dqkv, ws, io.dctx, io.qkv, state, nullptr, s.B, s.T, s.H, s.D, &rp, nullptr), "reformer_backward"); };
  return r;
}

struct Variant {
  const char* name;
  bool (*present)(const Api&);                     // the library serves its ABI entries
  Maker make;
  std::vector<lshlab::AttentionParams> defaults;   // configurations run when named without parameters
  const char* cost;                                // time in n (B, H, D fixed)
  // Validation: the CPU variant (nullptr: name), whether it gets bf16-rounded qkv and dctx (the
  // bf16 kernels' inputs as they see them), and the rel_err bound of ctx and dqkv (0: reported
  // only, as for the variants computing in fp32, which sit at ~1e-7).
  const char* cpu = nullptr;
  bool bf16_inputs = false;
  double tol = 0;
};

inline const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"exact", [](const Api& a) { return bool(LSHLAB_ABI_HAS(a, attention_forward) && LSHLAB_ABI_HAS(a, attention_backward)); },
       make_exact, {{}}, "O(n^2)"},
      // bf16 rounds P and dS before their products (FlashAttention's numerics): ~1e-3 from the
      // float reference on the rounded inputs (test_cuda_attention_bf16.cc); bound 1e-2.
      {"exact-bf16", [](const Api& a) { return bool(LSHLAB_ABI_HAS(a, attention_forward_bf16) && LSHLAB_ABI_HAS(a, attention_backward_bf16)); },
       make_exact_bf16, {{}}, "O(n^2)", "exact", true, 1e-2},
      {"yoso", [](const Api& a) { return bool(LSHLAB_ABI_HAS(a, yoso_forward) && LSHLAB_ABI_HAS(a, yoso_backward)); }, make_yoso,
       {{{"tau", "9"}, {"num_hash", "64"}}, {{"tau", "8"}, {"num_hash", "32"}}}, "O(n m)"},  // CPU defaults; the paper's
      {"yoso-e", [](const Api& a) { return bool(LSHLAB_ABI_HAS(a, yoso_e_forward) && LSHLAB_ABI_HAS(a, yoso_e_backward)); },
       make_yoso_e, {{{"tau", "9"}}}, "O(n^2)"},
      {"bert-lsh", [](const Api& a) { return bool(LSHLAB_ABI_HAS(a, bert_lsh_forward) && LSHLAB_ABI_HAS(a, bert_lsh_backward)); },
       make_bert_lsh, {{}}, "O(n^2 / buckets)"},  // CPU defaults: bands 2, table_size 64, 1 hash
      {"reformer", [](const Api& a) { return bool(LSHLAB_ABI_HAS(a, reformer_forward) && LSHLAB_ABI_HAS(a, reformer_backward)); },
       make_reformer, {{}}, "O(n chunk)"},  // HF defaults: 1 hash, chunk 64, 1 chunk before
  };
  return v;
}

}  // namespace lshlab_cuda_runs
