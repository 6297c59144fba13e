/*
 * cmd_bench_train.cc: `lshlab-native bench-train`: BERT-tiny MLM training steps on random tokens
 * (vocab 30522), the same workload as `lshlab bench train`.
 */
#include <cstdio>
#include <stdexcept>

#include "args.h"
#include "commands.h"
#include "core/cpu_info.h"
#include "train/trainer.h"

int cmd_bench_train(int argc, char** argv) {
  int B, T, steps, warmup;
  long long seed;
  bool json;
  try {
    DriverArgs a(argc, argv, {"--seq", "--batch", "--steps", "--warmup", "--seed"}, {"--json"});
    T = int(a.integer("--seq", 128, 1, 512));
    B = int(a.integer("--batch", 32, 1, 4096));
    steps = int(a.integer("--steps", 10, 1, 1000000));
    warmup = int(a.integer("--warmup", 2, 0, 1000000));
    seed = a.integer("--seed", 42, 0, (1LL << 62));
    json = a.has("--json");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: bench-train: %s\n", e.what());
    return 2;
  }
  lshlab::BertConfig cfg;  // BERT-tiny defaults, vocab 30522
  auto r = lshlab::bench_train(cfg, B, T, steps, warmup, uint64_t(seed));
  const auto& cpu = lshlab::cpu_info();
  if (json) {
    std::printf("{\"seq\": %d, \"batch\": %d, \"steps\": %d, \"seconds\": %.6f, \"tokens_per_s\": %.1f, "
                "\"flops_per_token\": %.1f, \"gflops\": %.3f, \"final_loss\": %.6f, \"threads\": %d, "
                "\"gemm_kernel\": \"%s\", \"peak_gflops\": %.2f, \"fraction_of_peak\": %.4f, \"device\": \"cpu: %s\"}\n",
                T, B, r.steps, r.seconds, r.tokens_per_s, r.flops_per_token, r.gflops, r.final_loss,
                r.threads, r.gemm_kernel.c_str(), r.peak_gflops, r.peak_gflops > 0 ? r.gflops / r.peak_gflops : 0.0,
                cpu.model.c_str());
  } else {
    std::printf("bench train: seq %d batch %d, %d steps in %.3f s: %.0f tokens/s, %.2f GFLOP/s "
                "(%.3g FLOPs/token; %.0f%% of the measured %.1f GFLOP/s FMA peak), loss %.4f, %d threads, "
                "gemm %s, cpu %s\n",
                T, B, r.steps, r.seconds, r.tokens_per_s, r.gflops, r.flops_per_token,
                r.peak_gflops > 0 ? 100.0 * r.gflops / r.peak_gflops : 0.0, r.peak_gflops, r.final_loss,
                r.threads, r.gemm_kernel.c_str(), cpu.model.c_str());
    std::printf("  per step: forward %.1f ms, backward %.1f ms, optimizer %.1f ms\n", 1e3 * r.forward_s,
                1e3 * r.backward_s, 1e3 * r.optimizer_s);
  }
  return 0;
}
