/*
 * test_cuda_train.cc: the CUDA training step (model/bert_cuda.h) against the CPU Trainer: ten
 * steps of each task on the same batches and seed, dropout on, padding in the batch; per-step
 * loss and gradient norm and the final weights agree to 1e-4 relative (float32 on both sides,
 * in different orders); yoso, yoso-e and YOSO-C the same way (same hash draws; YOSO-C's conv
 * weights are in the compared weights). Each step's attention counters: the CPU's collisions,
 * pairs and dot products; the CPU's flops_backward (exact: exact_tiled's, the recomputing
 * backward the kernels run; bert-lsh counts its kernels' work, so only > 0); and the device's
 * stage times, > 0 and finite for each stage a variant times (cuda_attention_variant.h), 0 for
 * the others. Also: a checkpoint
 * written from the device loads on the CPU, evaluation agrees, and what the kernels do not serve
 * (a head size above the kernels' limit) is refused by name. Skipped with the loader's reason
 * when CUDA is unavailable; in the host emulation (native/cuda/emulation) these run everywhere.
 */
#include <cmath>
#include <cstdio>
#include <chrono>
#include <filesystem>
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
using lshlab_cuda_fixture::rel;

namespace {

constexpr double kTol = 1e-4;

bool same_steps(Task task, const std::string& attention = "exact",
                const std::map<std::string, std::string>& params = {}) {
  BertConfig cfg = lshlab_cuda_fixture::tiny_config(task);
  cfg.attention = attention;
  cfg.attention_params = params;
  TrainConfig tc;
  tc.lr = 3e-3;
  tc.warmup_steps = 2;
  tc.total_steps = 10;
  tc.seed = 7;
  Trainer cpu(cfg, tc);
  tc.cuda_device = 0;
  Trainer gpu(cfg, tc);
  bool ok = true;
  for (int s = 0; s < 10; s++) {
    const HostBatch h = make_batch(cfg, s);
    const StepStats a = cpu.train_step(h.view()), b = gpu.train_step(h.view());
    const double el = rel(b.loss, a.loss), en = rel(b.grad_norm, a.grad_norm);
    if (!(el <= kTol && en <= kTol) || a.correct != b.correct || a.predictions != b.predictions ||
        a.step != b.step) {
      std::fprintf(stderr, "    %s %s step %d: loss %.8g vs %.8g (%.2g), norm %.8g vs %.8g (%.2g), correct %lld vs %lld\n",
                   task_name(task), attention.c_str(), s, a.loss, b.loss, el, a.grad_norm, b.grad_norm, en,
                   (long long)a.correct, (long long)b.correct);
      ok = false;
    }
    // Same hash draws, same collisions; the same pairs and dot products as the CPU counts them.
    const AttentionCounters ca = sum_attention_counters(a.attention), cb = sum_attention_counters(b.attention);
    if (ca.collisions != cb.collisions || ca.pairs != cb.pairs || ca.dot_products != cb.dot_products) {
      std::fprintf(stderr, "    %s %s step %d: counters differ: collisions %.0f vs %.0f, pairs %.0f vs %.0f, dots %.0f vs %.0f\n",
                   task_name(task), attention.c_str(), s, ca.collisions, cb.collisions, ca.pairs, cb.pairs,
                   ca.dot_products, cb.dot_products);
      ok = false;
    }
    // flops_backward as the CPU counts the same backward.
    double want = ca.flops_backward;
    if (attention == "exact") {
      const int H = cfg.num_attention_heads, D = cfg.hidden_size / H;
      want = cfg.num_hidden_layers * double(h.B) * H * h.T * h.T * (10.0 * D + 4.0);
    }
    const bool flops_ok = attention == "bert-lsh"
                              ? cb.flops_backward > 0 && std::isfinite(cb.flops_backward)
                              : cb.flops_backward == want;
    if (!flops_ok) {
      std::fprintf(stderr, "    %s %s step %d: flops_backward %.0f, want %.0f\n", task_name(task),
                   attention.c_str(), s, cb.flops_backward, want);
      ok = false;
    }
    // Device time per stage, layer by layer: the fused forward entry and the backward always,
    // YOSO-C's conv as the values stage, the hashing variants' hash stage up to the library's
    // mark inside the forward entry; the softmax runs inside the forward entry. A step replayed
    // as a CUDA graph (model/bert_cuda_graph.cc) is timed as a whole only: every stage reads 0.
    const bool conv = params.count("conv_window") > 0;
    const bool hashes = attention == "yoso" || attention == "bert-lsh" || attention == "reformer";
    if (!(b.device_s > 0 && std::isfinite(b.device_s))) {
      std::fprintf(stderr, "    %s %s step %d: device_s %g\n", task_name(task), attention.c_str(), s, b.device_s);
      ok = false;
    }
    for (const AttentionCounters& k : b.attention) {
      auto timed = [](double t) { return t > 0 && std::isfinite(t); };
      if (b.cuda_graph) {
        if (k.time_hash_s != 0 || k.time_scores_s != 0 || k.time_values_s != 0 || k.time_backward_s != 0) {
          std::fprintf(stderr, "    %s %s step %d: a graph step reports stage times\n", task_name(task),
                       attention.c_str(), s);
          ok = false;
        }
        continue;
      }
      if (!timed(k.time_scores_s) || !timed(k.time_backward_s) ||
          (conv ? !timed(k.time_values_s) : k.time_values_s != 0) ||
          (hashes ? !timed(k.time_hash_s) : k.time_hash_s != 0) || k.time_softmax_s != 0) {
        std::fprintf(stderr,
                     "    %s %s step %d: stage times hash %g scores %g softmax %g values %g "
                     "backward %g\n",
                     task_name(task), attention.c_str(), s, k.time_hash_s, k.time_scores_s,
                     k.time_softmax_s, k.time_values_s, k.time_backward_s);
        ok = false;
      }
    }
  }
  const auto& pa = cpu.model().params().data;
  const auto& pb = gpu.model().params().data;  // downloaded from the device
  std::vector<float> got(pb.data(), pb.data() + pb.size());
  std::vector<double> ref(pa.data(), pa.data() + pa.size());
  const double e = lshlab_cuda_harness::rel_error(got, ref);
  if (!(e <= kTol)) {
    std::fprintf(stderr, "    %s: weights after 10 steps differ by %.3g\n", task_name(task), e);
    ok = false;
  }
  return ok;
}

}  // namespace

#define CUDA_TRAIN_TEST_REQUIRES()                                                  \
  if (!cuda_api()) LSHLAB_SKIP("CUDA unavailable: " + cuda_status().reason)

LSHLAB_TEST("cuda/train masked-LM: 10 steps match the CPU Trainer") {
  CUDA_TRAIN_TEST_REQUIRES();
  LSHLAB_EXPECT(same_steps(Task::MaskedLM));
}

LSHLAB_TEST("cuda/train classification: 10 steps match the CPU Trainer") {
  CUDA_TRAIN_TEST_REQUIRES();
  LSHLAB_EXPECT(same_steps(Task::SequenceClassification));
}

LSHLAB_TEST("cuda/train qa: 10 steps match the CPU Trainer") {
  CUDA_TRAIN_TEST_REQUIRES();
  LSHLAB_EXPECT(same_steps(Task::QuestionAnswering));
}

LSHLAB_TEST("cuda/train yoso and yoso-e: 10 masked-LM steps match the CPU Trainer") {
  CUDA_TRAIN_TEST_REQUIRES();
  LSHLAB_EXPECT(same_steps(Task::MaskedLM, "yoso", {{"tau", "4"}, {"num_hash", "8"}}));
  LSHLAB_EXPECT(same_steps(Task::MaskedLM, "yoso", {{"tau", "3"}, {"num_hash", "4"}, {"backward", "exact"}}));
  LSHLAB_EXPECT(same_steps(Task::MaskedLM, "yoso-e", {{"tau", "8"}}));
}

LSHLAB_TEST("cuda/train YOSO-C (yoso with conv_window): 10 masked-LM steps match the CPU Trainer") {
  CUDA_TRAIN_TEST_REQUIRES();
  LSHLAB_EXPECT(same_steps(Task::MaskedLM, "yoso", {{"tau", "4"}, {"num_hash", "4"}, {"conv_window", "3"}}));
  LSHLAB_EXPECT(same_steps(Task::SequenceClassification, "yoso-e", {{"tau", "6"}, {"conv_window", "5"}}));
}

LSHLAB_TEST("cuda/train bert-lsh: 10 steps match the CPU Trainer (fill, symmetric, combine)") {
  CUDA_TRAIN_TEST_REQUIRES();
  LSHLAB_EXPECT(same_steps(Task::MaskedLM, "bert-lsh", {}));
  LSHLAB_EXPECT(same_steps(Task::MaskedLM, "bert-lsh", {{"fill", "masked"}, {"bands", "3"}}));
  LSHLAB_EXPECT(same_steps(Task::SequenceClassification, "bert-lsh",
                           {{"num_hashes", "2"}, {"symmetric", "none"}, {"fill", "masked"}}));
  LSHLAB_EXPECT(same_steps(Task::QuestionAnswering, "bert-lsh", {{"num_hashes", "2"}, {"combine", "and"}}));
}

LSHLAB_TEST("cuda/train reformer: 10 steps match the CPU Trainer (rounds, chunks, standard mode)") {
  CUDA_TRAIN_TEST_REQUIRES();
  LSHLAB_EXPECT(same_steps(Task::MaskedLM, "reformer", {{"chunk_length", "4"}}));
  LSHLAB_EXPECT(same_steps(Task::SequenceClassification, "reformer",
                           {{"num_hashes", "2"}, {"chunk_length", "4"}, {"num_chunks_after", "1"}}));
  LSHLAB_EXPECT(same_steps(Task::QuestionAnswering, "reformer", {}));  // T <= 64: standard mode
}

LSHLAB_TEST("cuda/train checkpoint from the device resumes on the CPU; evaluation agrees") {
  CUDA_TRAIN_TEST_REQUIRES();
  const BertConfig cfg = lshlab_cuda_fixture::tiny_config(Task::MaskedLM);
  TrainConfig tc;
  tc.cuda_device = 0;
  Trainer gpu(cfg, tc);
  for (int s = 0; s < 3; s++) gpu.train_step(make_batch(cfg, s).view());
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("lshlab-cuda-ckpt-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()))).string();
  gpu.save(dir);
  tc.cuda_device = -1;
  Trainer cpu(cfg, tc);
  cpu.load(dir);
  std::filesystem::remove_all(dir);
  LSHLAB_EXPECT(cpu.step() == 3);
  const HostBatch h = make_batch(cfg, 5);
  std::vector<float> la, lb;
  const EvalStats a = cpu.evaluate(h.view(), &la), b = gpu.evaluate(h.view(), &lb);
  LSHLAB_EXPECT(rel(b.loss, a.loss) <= kTol);
  LSHLAB_EXPECT(lshlab_cuda_harness::rel_error(lb, std::vector<double>(la.begin(), la.end())) <= kTol);
  // Evaluation times its forward and reports no backward.
  for (const AttentionCounters& k : b.attention)
    LSHLAB_EXPECT(k.time_scores_s > 0 && k.time_backward_s == 0 && k.flops_backward == 0);
  // And the CPU's next step equals the device's next step.
  const HostBatch h6 = make_batch(cfg, 6);
  LSHLAB_EXPECT(rel(gpu.train_step(h6.view()).loss, cpu.train_step(h6.view()).loss) <= kTol);
}

LSHLAB_TEST("cuda/train refuses what the CUDA kernels do not serve, naming it") {
  // Head size 264 is above the kernels' 256: refused with the reason, by size.
  BertConfig cfg = lshlab_cuda_fixture::tiny_config(Task::MaskedLM);
  cfg.hidden_size = 264;
  cfg.num_attention_heads = 1;
  cfg.intermediate_size = 64;
  TrainConfig tc;
  tc.cuda_device = 0;
  bool threw = false;
  try {
    Trainer t(cfg, tc);
  } catch (const Error& e) {
    threw = std::string(e.what()).find("head size 264") != std::string::npos;
  }
  LSHLAB_EXPECT(threw);
}
