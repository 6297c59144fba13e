/*
 * test_cuda_bert_lsh_zero.cc: fill=zero on BERT-LSH's sorted CUDA path (bert_lsh_sorted_zero.cu:
 * the zero logits through per-head column sums, O(entries + T D)). Each case runs with the path
 * forced both ways (LSHLAB_CUDA_BERT_LSH_PATH=sorted, =dense); each run passes
 * test_cuda_bert_lsh.cc's check_case (draws, codes and counts equal, ctx 1e-5 and dqkv 1e-4
 * relative to BertLshAttention<double>), and sorted vs dense agree to float rounding (ctx and
 * dqkv 1e-6) with equal counts. Cases: symmetric transposed-fill and none, one hash and
 * num_hashes 3 with combine=and, padding (one sequence all padding), one bucket holding every
 * row (rows whose keys are all entries: no zero logit), inputs scaled up so logits reach about
 * 100 (the row max shift), D 40 and 128, T = 1, and the CPU's pair and blocked paths. With
 * attention dropout fill=zero keeps the dense kernels (as the CPU): forcing sorted still matches.
 * The sorted path repeats bit for bit. Skipped, with the loader's reason, without CUDA.
 */
#include <cstdio>
#include <vector>

#include "cuda_harness.h"
#include "test_cuda_bert_lsh.h"
#include "test_registry.h"

using namespace lshlab_cuda_harness;
using namespace cuda_bert_lsh_test;

namespace {

// fill=zero, no dropout: {B, T, H, D, bands, table, nh, masked, symn, andc, reseed, pad, drop,
// cpu min tokens, scale}.
Case zero_case(int B, int T, int D, int bands, int table, int nh, bool symn, bool pad,
               int min_tokens, float scale = 1.f) {
  return {B, T, 2, D, bands, table, nh, false, symn, nh > 1, false, pad, false, min_tokens, scale};
}

// Both paths on case c: each against the CPU, then against each other.
bool both_paths(const Api& a, const Case& c) {
  const EmulatedSmem sm90("232448");  // D 128's sorted tiles (test_cuda_bert_lsh.h)
  GpuOut sorted, dense;
  set_path("sorted");
  const bool s_ok = check_case(a, c, &sorted);
  set_path("dense");
  const bool d_ok = check_case(a, c, &dense);
  set_path(nullptr);
  const double e_ctx = rel_error(sorted.ctx, to_double(dense.ctx)),
               e_dqkv = rel_error(sorted.dqkv, to_double(dense.dqkv));
  const bool same = e_ctx <= 1e-6 && e_dqkv <= 1e-6 && sorted.counts == dense.counts;
  std::fprintf(stderr, "    %s sorted vs dense: rel err ctx %.2g dqkv %.2g, counts %s\n",
               same ? "ok  " : "FAIL", e_ctx, e_dqkv, sorted.counts == dense.counts ? "equal" : "DIFFER");
  return s_ok && d_ok && same;
}

}  // namespace

LSHLAB_TEST("cuda/bert_lsh zero: sorted and dense paths match the CPU (symmetric, hashes, padding)") {
  CUDA_TEST_API(a);
  for (int symn = 0; symn < 2; symn++) {
    LSHLAB_EXPECT(both_paths(a, zero_case(3, 37, 24, 3, 7, 1, symn == 1, true, symn ? 8 : 96)));
    LSHLAB_EXPECT(both_paths(a, zero_case(3, 45, 24, 2, 5, 3, symn == 1, true, symn ? 96 : 8)));
  }
  LSHLAB_EXPECT(both_paths(a, zero_case(1, 70, 40, 2, 64, 1, false, false, 8)));  // D 40, 3 tiles
  LSHLAB_EXPECT(both_paths(a, zero_case(1, 33, 128, 3, 16, 1, true, false, 96)));  // D 128
  LSHLAB_EXPECT(both_paths(a, zero_case(1, 1, 8, 2, 64, 1, false, false, 96)));    // T = 1
  LSHLAB_EXPECT(both_paths(a, zero_case(1, 1, 8, 2, 64, 1, true, false, 96)));
}

LSHLAB_TEST("cuda/bert_lsh zero: one bucket of every row and large logits") {
  CUDA_TEST_API(a);
  for (int symn = 0; symn < 2; symn++) {
    // table 1: every row in one bucket; under none every key of a row is an entry (no zero logit)
    LSHLAB_EXPECT(both_paths(a, zero_case(3, 40, 16, 2, 1, 1, symn == 1, true, 96)));
    LSHLAB_EXPECT(both_paths(a, zero_case(1, 40, 16, 2, 1, 3, symn == 1, false, 8, 12.f)));
    // logits in the hundreds: exp would overflow without the row max
    LSHLAB_EXPECT(both_paths(a, zero_case(3, 37, 16, 2, 7, 1, symn == 1, true, 96, 12.f)));
  }
}

LSHLAB_TEST("cuda/bert_lsh zero: dropout keeps the dense kernels; the sorted path repeats") {
  CUDA_TEST_API(a);
  Case c = zero_case(3, 37, 24, 3, 7, 1, false, true, 96);
  c.drop = true;
  set_path("sorted");  // not taken with dropout: still the CPU's results
  LSHLAB_EXPECT(check_case(a, c));
  c.drop = false;
  const Inputs in = make_inputs(c, 5);
  const GpuOut one = run_gpu(a, c, in), two = run_gpu(a, c, in);
  set_path(nullptr);
  LSHLAB_EXPECT(one.ctx == two.ctx && one.dqkv == two.dqkv && one.stats == two.stats);
  LSHLAB_EXPECT(one.codes == two.codes && one.counts == two.counts);
}
