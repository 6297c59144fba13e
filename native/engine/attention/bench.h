/*
 * bench.h: the attention benchmark harness behind `lshlab bench attention` (CLI, addon and
 * `lshlab-native bench-attention`). It drives any registered variant through make_attention<float>
 * by name, so it knows nothing about how a variant hashes; everything it reports comes from the
 * wall clock, the variant's AttentionCounters and the process' memory accounting.
 *
 * Modes (one function each):
 *   run_attention_bench       one configuration: time, per-stage time, FLOPs, dot products,
 *                             collision density, peak memory, error against exact (and yoso-e)
 *   run_paper_table1          BERT-LSH paper Table 1 (seq 10, batch 1, 2 heads, D 64), incl. the
 *                             paper's own KFLOP accounting (bench_paper.cc)
 *   run_attention_sweep       bert-lsh bands x table_size x num_hashes grid (paper Figure 1)
 *   run_attention_scaling     every variant at n = 128 .. max_seq, forward and forward+backward,
 *                             skipping cells whose estimated time or memory is too large
 *   run_collision_curves      empirical collision probability vs angle next to the theory curves
 *                             (bench_collisions.cc; needs the variants' collision functions)
 *
 * Not here: argument parsing and printing (native/tools/cmd_bench_attention.cc, the addon, the CLI).
 * Results are also given as lshlab::Json (snake_case keys, the CLI's JSON) so the three front ends
 * print the same fields.
 */
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "io/json.h"

namespace lshlab {

struct AttentionBenchConfig {
  std::string variant = "exact";
  AttentionParams params;
  int B = 1, T = 128, H = 2, D = 64;
  bool backward = false;  // time forward+backward instead of forward only
  int iters = 10;         // timed calls; each uses its own call.step so hashes are redrawn
  int warmup = 2;         // untimed calls first (allocations, page faults, caches)
  int dot_iters = 0;      // calls whose dot products/density are averaged; 0 = the timed calls
  uint64_t seed = 42;
  bool quality = true;    // relative error against exact (and yoso-e for yoso); costs an exact call
  int quality_calls = 3;  // calls (different steps) the error is averaged over
};

struct AttentionBenchResult {
  std::string variant;
  AttentionParams params;
  int B = 0, T = 0, H = 0, D = 0;
  bool backward = false;
  int iters = 0, warmup = 0, dot_iters = 0, threads = 0;
  double time_s_mean = 0, time_s_min = 0, time_s_std = 0;  // whole call (fwd or fwd+bwd)
  // Per-stage means from the counters.
  double time_hash_s = 0, time_scores_s = 0, time_softmax_s = 0, time_values_s = 0,
         time_backward_s = 0;
  double flops_hash = 0, flops_scores = 0, flops_softmax = 0, flops_values = 0, flops_backward = 0;
  double kflops_total = 0;  // every stage counted, backward included when run
  double dot_products_mean = 0, dot_products_std = 0, pairs = 0, collision_density_mean = 0;
  // Memory: see bench.cc (peak RSS growth over the variant's calls, and heap retained after them).
  double peak_memory_bytes = -1, retained_heap_bytes = -1;
  std::string memory_method;
  // Quality; NaN when not computed. For yoso the primary reference is yoso-e.
  double rel_error_vs_exact = 0, rel_error_vs_yoso_e = 0, grad_rel_error_vs_exact = 0;
  std::string quality_note;
};

AttentionBenchResult run_attention_bench(const AttentionBenchConfig& cfg);
Json to_json(const AttentionBenchResult& r);

// ---- paper Table 1 (bench_paper.cc) ----------------------------------------------------------
struct PaperTable1Row {
  AttentionBenchResult bench;  // whole-call measurement (forward, 1000 calls)
  double kflops_paper = 0;     // the paper's profiler accounting, see bench_paper.cc
  double time_s_mean = 0;      // the stage the paper timed (QK^T, or hash+collide+dots)
  double time_total_s_mean = 0;
  double dot_products_mean = 0;  // over dot_iters (100) executions
};
struct PaperTable1Result {
  PaperTable1Row exact, bert_lsh;
  int time_iters = 0, dot_iters = 0;
};
PaperTable1Result run_paper_table1(uint64_t seed, int time_iters = 1000, int dot_iters = 100);
Json to_json(const PaperTable1Result& r);

// The paper's KFLOPs (Table 1, Figure 1): profiler FLOPs of one op type summed over BERT-tiny's 2
// layers, divided by 2000. Exact: the QK^T bmm; bert-lsh: the hash-projection mm only.
double paper_kflops_exact(int B, int H, int T, int D);
double paper_kflops_bert_lsh(int B, int H, int T, int D, int bands, int num_hashes);

using BenchProgress = std::function<void(const std::string&)>;

// ---- sweep (bench_paper.cc) -------------------------------------------------------------------
struct SweepConfig {
  std::vector<int> bands = {2, 4, 8}, table_sizes = {64, 256}, num_hashes = {1, 2, 3, 4};
  int B = 1, T = 10, H = 2, D = 64;
  int dot_iters = 100;
  uint64_t seed = 42;
};
Json run_attention_sweep(const SweepConfig& cfg, const BenchProgress& progress = nullptr);

// ---- scaling (bench_scaling.cc) ---------------------------------------------------------------
struct ScalingConfig {
  std::vector<std::string> variants;  // empty: every registered variant
  AttentionParams params;  // given to each variant, minus what it does not accept
  int min_seq = 128, max_seq = 16384;
  int B = 1, H = 2, D = 64;
  double budget_s = 270;        // whole mode; cells past it are skipped
  double cell_budget_s = 3;     // timed work per cell at most; iterations adapt to it
  double max_call_s = 20;       // skip a cell whose single call is estimated to take longer
  double max_memory_gb = 0;     // 0: half of MemAvailable, at most 8 GiB
  uint64_t seed = 42;
};
Json run_attention_scaling(const ScalingConfig& cfg, const BenchProgress& progress = nullptr);

// ---- collisions (bench_collisions.cc) ---------------------------------------------------------
struct CollisionConfig {
  int D = 64;
  int angles = 16;      // angles 0, pi/angles, ..., pi
  int trials = 2000;    // vector pairs (and hash draws) per angle
  int bands = 2, table_size = 64, num_hashes = 1;
  bool combine_and = false;
  int tau = 8;
  uint64_t seed = 42;
};
Json run_collision_curves(const CollisionConfig& cfg);
// Pairs at an exact angle: y = cos(a) x + sin(a) u with x, u orthonormal (Philox normals, then
// Gram-Schmidt). Exposed for the tests.
void make_pair_at_angle(double angle, int D, uint64_t seed, uint64_t index, double* x, double* y);

// ---- helpers shared by the modes (bench.cc) ---------------------------------------------------
// Random float32 standard normals from Philox (stream RandomTokens, `tag` keeps inputs apart).
void fill_normal(float* out, size_t n, uint64_t seed, uint32_t tag);
// The subset of `params` that `variant` accepts (unknown names dropped, as the variant reports
// them); lets one set of flags serve several variants (--scaling, yoso-e next to yoso).
AttentionParams params_accepted_by(const std::string& variant, AttentionParams params);
// Bytes of memory the OS reports available now (MemAvailable), 0 if unknown.
double available_memory_bytes();

}  // namespace lshlab
