/*
 * test_cuda_graph.cc: the training step as a CUDA graph (model/bert_cuda_graph.cc, issue 10).
 * Ten steps with graphs (TrainConfig::cuda_graphs, the default) equal ten eager steps bit for bit
 * (losses, norms, hits, final weights: the same kernels with the same arguments) and the CPU
 * Trainer within the cuda/train tolerance; dropout on; every batch with a different number of
 * masked rows, one past the padded capacity (a new key: eager, then a new capture); a batch
 * shape that changes and comes back (its graph is replayed). Under the host emulation a recorded
 * launch keeps its arguments by value, as a real graph does, so a kernel that took the step, the
 * learning rate or a loss scale by value would replay the capture's value and fail here.
 * Skipped with the loader's reason when CUDA is unavailable.
 */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cuda_harness.h"
#include "cuda_train_fixture.h"
#include "model/bert.h"
#include "train/trainer.h"
#include "test_registry.h"

using namespace lshlab;
using lshlab_cuda_fixture::HostBatch;
using lshlab_cuda_fixture::make_batch;

namespace {

// The batch plan: (B, every) per step. Masked rows vary every step (~7, 10, 6, 7, 15, 29, 10
// of 29 tokens): the padded capacity (granule 8 rows here) grows at step 1 (to 16) and step 5
// (every token masked: 32), each a new key; steps 7-8 change the batch shape, step 9 returns to
// step 6's key, whose graph replays. Masked-LM: e e G G G e G e G G (e eager, G graph);
// classification and QA (fixed head shapes): e G G G G G G e G G.
struct Plan { int B, every; };
const Plan kPlan[10] = {{3, 4}, {3, 3}, {3, 5}, {3, 4}, {3, 2}, {3, 1}, {3, 3}, {2, 3}, {2, 4}, {3, 3}};

bool bits_equal(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Ten steps three ways: CPU, CUDA eager, CUDA graphs. `graph_steps`: how many graph steps the
// graph Trainer must report (0: the variant stays eager).
bool graph_matches(Task task, const std::string& attention, const std::map<std::string, std::string>& params,
                   const std::string& precision, int min_graph_steps, int max_graph_steps) {
  BertConfig cfg = lshlab_cuda_fixture::tiny_config(task);
  cfg.attention = attention;
  cfg.attention_params = params;
  TrainConfig tc;
  tc.lr = 3e-3;
  tc.warmup_steps = 3;  // the learning rate changes every step: AdamW's constants must follow
  tc.total_steps = 10;
  tc.seed = 11;
  Trainer cpu(cfg, tc);
  tc.cuda_device = 0;
  tc.precision = precision;
  tc.cuda_graphs = false;
  Trainer eager(cfg, tc);
  tc.cuda_graphs = true;
  Trainer graph(cfg, tc);
  const std::string what = std::string(task_name(task)) + " " + attention + " " + precision;
  const double tol = precision == "fp32" ? 1e-4 : 5e-2;
  bool ok = true;
  int graph_steps = 0;
  std::string flags;
  for (int s = 0; s < 10; s++) {
    const HostBatch h = make_batch(cfg, s, kPlan[s].B, kPlan[s].every);
    const StepStats c = cpu.train_step(h.view()), e = eager.train_step(h.view()), g = graph.train_step(h.view());
    graph_steps += g.cuda_graph ? 1 : 0;
    flags += g.cuda_graph ? 'G' : 'e';
    if (e.cuda_graph) { std::fprintf(stderr, "    %s step %d: graphs off, yet a graph ran\n", what.c_str(), s); ok = false; }
    if (!bits_equal(g.loss, e.loss) || !bits_equal(g.grad_norm, e.grad_norm) || g.correct != e.correct ||
        g.predictions != e.predictions || g.step != e.step) {
      std::fprintf(stderr, "    %s step %d (%s): graph loss %.17g norm %.17g, eager %.17g %.17g\n", what.c_str(), s,
                   g.cuda_graph ? "graph" : "eager", g.loss, g.grad_norm, e.loss, e.grad_norm);
      ok = false;
    }
    const double el = std::fabs(g.loss - c.loss) / std::max(1e-12, std::fabs(c.loss));
    const double en = std::fabs(g.grad_norm - c.grad_norm) / std::max(1e-12, std::fabs(c.grad_norm));
    if (!(el <= tol && en <= tol) || g.predictions != c.predictions) {
      std::fprintf(stderr, "    %s step %d: vs CPU loss %.8g / %.8g, norm %.8g / %.8g\n", what.c_str(), s, g.loss,
                   c.loss, g.grad_norm, c.grad_norm);
      ok = false;
    }
    if (!(g.device_s > 0) || (g.cuda_graph && (g.forward_s != 0 || g.backward_s != 0))) {
      std::fprintf(stderr, "    %s step %d: device_s %g forward %g backward %g\n", what.c_str(), s, g.device_s,
                   g.forward_s, g.backward_s);
      ok = false;
    }
  }
  if (graph_steps < min_graph_steps || graph_steps > max_graph_steps) {
    std::fprintf(stderr, "    %s: %d graph steps (%s), want %d..%d\n", what.c_str(), graph_steps, flags.c_str(),
                 min_graph_steps, max_graph_steps);
    ok = false;
  }
  const auto& pe = eager.model().params().data;
  const auto& pg = graph.model().params().data;
  if (pe.size() != pg.size() || std::memcmp(pe.data(), pg.data(), pe.size() * sizeof(float)) != 0) {
    std::fprintf(stderr, "    %s: final weights differ between graph and eager steps\n", what.c_str());
    ok = false;
  }
  const auto& pc = cpu.model().params().data;
  const double e = lshlab_cuda_harness::rel_error(std::vector<float>(pg.data(), pg.data() + pg.size()),
                                                  std::vector<double>(pc.data(), pc.data() + pc.size()));
  if (!(e <= tol)) {
    std::fprintf(stderr, "    %s: weights vs CPU differ by %.3g\n", what.c_str(), e);
    ok = false;
  }
  std::fprintf(stderr, "    %s: steps %s (e = eager, G = graph)\n", what.c_str(), flags.c_str());
  return ok;
}

}  // namespace

#define CUDA_GRAPH_TEST_REQUIRES() \
  if (!cuda_api()) LSHLAB_SKIP("CUDA unavailable: " + cuda_status().reason)

LSHLAB_TEST("cuda/graph masked-LM: 10 graph steps equal eager bit for bit and the CPU") {
  CUDA_GRAPH_TEST_REQUIRES();
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "exact", {}, "fp32", 6, 6));
}

LSHLAB_TEST("cuda/graph classification and qa: 10 graph steps equal eager bit for bit and the CPU") {
  CUDA_GRAPH_TEST_REQUIRES();
  LSHLAB_EXPECT(graph_matches(Task::SequenceClassification, "exact", {}, "fp32", 8, 8));
  LSHLAB_EXPECT(graph_matches(Task::QuestionAnswering, "exact", {}, "fp32", 8, 8));
}

LSHLAB_TEST("cuda/graph bf16 and tf32: graph steps equal eager bit for bit") {
  CUDA_GRAPH_TEST_REQUIRES();
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "exact", {}, "bf16", 6, 6));
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "exact", {}, "tf32", 6, 6));
}

LSHLAB_TEST("cuda/graph yoso-e and YOSO-C: graph steps equal eager bit for bit and the CPU") {
  CUDA_GRAPH_TEST_REQUIRES();
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "yoso-e", {{"tau", "8"}, {"conv_window", "3"}}, "fp32", 6, 6));
}

// The hashing variants draw new hash functions every step (seed, step, site): a replay that
// froze the capture's step would hash with its planes and differ from the eager steps here.
LSHLAB_TEST("cuda/graph yoso (LSH), both backward forms: graph steps equal eager bit for bit and the CPU") {
  CUDA_GRAPH_TEST_REQUIRES();
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "yoso", {{"tau", "4"}, {"num_hash", "4"}}, "fp32", 6, 6));
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "yoso", {{"tau", "4"}, {"num_hash", "3"}, {"backward", "exact"}},
                              "fp32", 6, 6));
}

// Forces bert-lsh's path (bert_lsh_sort.cu use_sorted reads it per call) for one scope.
struct BertLshPath {
  explicit BertLshPath(const char* p) { setenv("LSHLAB_CUDA_BERT_LSH_PATH", p, 1); }
  ~BertLshPath() { unsetenv("LSHLAB_CUDA_BERT_LSH_PATH"); }
};

LSHLAB_TEST("cuda/graph bert-lsh (per-call reseed; dense and sorted paths): graph steps equal eager and the CPU") {
  CUDA_GRAPH_TEST_REQUIRES();
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "bert-lsh", {}, "fp32", 6, 6));  // fill=zero + dropout: dense
  const BertLshPath sorted("sorted");  // fill=masked, one hash: disjoint buckets, the sorted kernels
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "bert-lsh", {{"fill", "masked"}, {"bands", "3"}}, "fp32", 6, 6));
}

LSHLAB_TEST("cuda/graph reformer (hashed chunks): graph steps equal eager bit for bit and the CPU") {
  CUDA_GRAPH_TEST_REQUIRES();
  LSHLAB_EXPECT(graph_matches(Task::MaskedLM, "reformer", {{"num_hashes", "2"}, {"chunk_length", "4"}}, "fp32", 6, 6));
}
