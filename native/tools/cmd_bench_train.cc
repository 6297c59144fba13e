/*
 * cmd_bench_train.cc: `lshlab-native bench-train`: BERT MLM training steps on random tokens
 * (vocab 30522), the same workload as `lshlab bench train`, on the CPU or a CUDA device
 * (`--device cpu|cuda|cuda:N`; the way to run it on a GPU machine without Node). `--model base`
 * is BERT-base (hidden 768, 12 layers, 12 heads); the default is BERT-tiny.
 */
#include <cstdio>
#include <stdexcept>
#include <string>

#include "args.h"
#include "backend/cuda_loader.h"
#include "commands.h"
#include "core/cpu_info.h"
#include "train/trainer.h"

namespace {

// "cpu" -> -1, "cuda" -> 0, "cuda:N" -> N; throws naming the flag otherwise.
int parse_device(const std::string& d) {
  if (d == "cpu") return -1;
  if (d == "cuda") return 0;
  if (d.rfind("cuda:", 0) == 0 && d.size() > 5 && d.find_first_not_of("0123456789", 5) == std::string::npos)
    return std::stoi(d.substr(5));
  throw std::invalid_argument("--device must be cpu, cuda or cuda:N (got '" + d + "')");
}

}  // namespace

int cmd_bench_train(int argc, char** argv) {
  int B, T, steps, warmup, device;
  long long seed;
  bool json;
  std::string model;
  try {
    DriverArgs a(argc, argv, {"--seq", "--batch", "--steps", "--warmup", "--seed", "--device", "--model"},
                 {"--json"});
    T = int(a.integer("--seq", 128, 1, 512));
    B = int(a.integer("--batch", 32, 1, 4096));
    steps = int(a.integer("--steps", 10, 1, 1000000));
    warmup = int(a.integer("--warmup", 2, 0, 1000000));
    seed = a.integer("--seed", 42, 0, (1LL << 62));
    device = parse_device(a.str("--device", "cpu"));
    model = a.str("--model", "tiny");
    if (model != "tiny" && model != "base") throw std::invalid_argument("--model must be tiny or base");
    json = a.has("--json");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: bench-train: %s\n", e.what());
    return 2;
  }
  lshlab::BertConfig cfg;  // BERT-tiny defaults, vocab 30522
  if (model == "base") {
    cfg.hidden_size = 768;
    cfg.num_hidden_layers = 12;
    cfg.num_attention_heads = 12;
    cfg.intermediate_size = 3072;
  }
  lshlab::BenchTrainResult r;
  try {
    r = lshlab::bench_train(cfg, B, T, steps, warmup, uint64_t(seed), device);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: bench-train: %s\n", e.what());
    return 1;
  }
  const std::string device_name =
      device >= 0 ? lshlab::cuda_status().devices[size_t(device)].name : lshlab::cpu_info().model;
  const double samples_per_s = r.tokens_per_s / T;
  if (json) {
    std::printf("{\"model\": \"%s\", \"seq\": %d, \"batch\": %d, \"steps\": %d, \"seconds\": %.6f, "
                "\"tokens_per_s\": %.1f, \"samples_per_s\": %.1f, \"step_ms\": %.4f, "
                "\"flops_per_token\": %.1f, \"gflops\": %.3f, \"final_loss\": %.6f, \"threads\": %d, "
                "\"gemm_kernel\": \"%s\", \"peak_gflops\": %.2f, \"fraction_of_peak\": %.4f, "
                "\"device\": \"%s: %s\", \"precision\": \"fp32\"}\n",
                model.c_str(), T, B, r.steps, r.seconds, r.tokens_per_s, samples_per_s,
                1e3 * r.seconds / r.steps, r.flops_per_token, r.gflops, r.final_loss, r.threads,
                r.gemm_kernel.c_str(), r.peak_gflops,
                r.peak_gflops > 0 ? r.gflops / r.peak_gflops : 0.0, r.device.c_str(),
                device_name.c_str());
  } else {
    std::printf("bench train: %s, seq %d batch %d, %d steps in %.3f s: %.0f tokens/s (%.0f samples/s), "
                "%.2f GFLOP/s (%.3g FLOPs/token", model.c_str(), T, B, r.steps, r.seconds,
                r.tokens_per_s, samples_per_s, r.gflops, r.flops_per_token);
    if (r.peak_gflops > 0)
      std::printf("; %.0f%% of the measured %.1f GFLOP/s FMA peak", 100.0 * r.gflops / r.peak_gflops,
                  r.peak_gflops);
    std::printf("), loss %.4f, gemm %s, %s (%s)\n", r.final_loss, r.gemm_kernel.c_str(),
                r.device.c_str(), device_name.c_str());
    std::printf("  per step: forward %.1f ms, backward %.1f ms, optimizer %.1f ms\n", 1e3 * r.forward_s,
                1e3 * r.backward_s, 1e3 * r.optimizer_s);
  }
  return 0;
}
