/*
 * cmd_bench_train.cc: `lshlab-native bench-train`: BERT MLM training steps on random tokens
 * (vocab 30522), the same workload as `lshlab bench train`, on the CPU or a CUDA device
 * (`--device cpu|cuda|cuda:N`; the way to run it on a GPU machine without Node). `--model base`
 * is BERT-base (hidden 768, 12 layers, 12 heads); the default is BERT-tiny. `--precision tf32`
 * runs the GEMMs on TF32 tensor cores, `--precision bf16` with bf16 operands (CUDA only). On
 * CUDA the yardstick is cuBLASLt's measured square-GEMM peak on the same GPU, fp32 and TF32,
 * and bf16 for a bf16 run (backend/cuda_peak.h), and the device memory
 * the steps held is reported; on the CPU it is the measured FMA peak, as before. On CUDA the
 * step replays as a CUDA graph where it can (`--cuda-graphs on`, the default; off runs every
 * step eagerly, to measure what graphs buy): a graph step is timed only as a whole.
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
  std::string model, precision;
  bool cuda_graphs = true;
  try {
    DriverArgs a(argc, argv,
                 {"--seq", "--batch", "--steps", "--warmup", "--seed", "--device", "--model", "--precision",
                  "--cuda-graphs"},
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
    precision = a.str("--precision", "fp32");
    if (precision != "fp32" && precision != "tf32" && precision != "bf16")
      throw std::invalid_argument("--precision must be fp32, tf32 or bf16 (got '" + precision + "')");
    const std::string graphs = a.str("--cuda-graphs", "on");
    if (graphs != "on" && graphs != "off")
      throw std::invalid_argument("--cuda-graphs must be on or off (got '" + graphs + "')");
    cuda_graphs = graphs == "on";
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
    r = lshlab::bench_train(cfg, B, T, steps, warmup, uint64_t(seed), device, precision, cuda_graphs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: bench-train: %s\n", e.what());
    return 1;
  }
  const std::string device_name =
      device >= 0 ? lshlab::cuda_status().devices[size_t(device)].name : lshlab::cpu_info().model;
  const double samples_per_s = r.tokens_per_s / T;
  if (json) {
    // peak_* as the CPU reports them; on CUDA also both precisions' peaks and device memory.
    std::string cuda_fields;
    if (device >= 0) {
      char buf[480];
      std::snprintf(buf, sizeof buf, ", \"peak_fp32_gflops\": %.2f, \"peak_tf32_gflops\": %.2f, \"peak_bf16_gflops\": %.2f, "
                    "\"peak_memory_bytes\": %lld, \"cuda_graphs\": %s, \"cuda_graph_steps\": %d, "
                    "\"device_step_ms\": %.4f",
                    r.peak_fp32_gflops, r.peak_tf32_gflops, r.peak_bf16_gflops, (long long)r.peak_memory_bytes,
                    r.cuda_graphs ? "true" : "false", r.cuda_graph_steps, 1e3 * r.device_s);
      cuda_fields = buf;
    }
    std::printf("{\"model\": \"%s\", \"seq\": %d, \"batch\": %d, \"steps\": %d, \"seconds\": %.6f, "
                "\"tokens_per_s\": %.1f, \"samples_per_s\": %.1f, \"step_ms\": %.4f, "
                "\"flops_per_token\": %.1f, \"gflops\": %.3f, \"final_loss\": %.6f, \"threads\": %d, "
                "\"gemm_kernel\": \"%s\", \"peak_gflops\": %.2f, \"fraction_of_peak\": %.4f, "
                "\"peak_isa\": \"%s\", \"peak_method\": \"%s\"%s, "
                "\"device\": \"%s: %s\", \"precision\": \"%s\"}\n",
                model.c_str(), T, B, r.steps, r.seconds, r.tokens_per_s, samples_per_s,
                1e3 * r.seconds / r.steps, r.flops_per_token, r.gflops, r.final_loss, r.threads,
                r.gemm_kernel.c_str(), r.peak_gflops,
                r.peak_gflops > 0 ? r.gflops / r.peak_gflops : 0.0, r.peak_isa.c_str(),
                r.peak_method.c_str(), cuda_fields.c_str(), r.device.c_str(), device_name.c_str(),
                r.precision.c_str());
  } else {
    std::printf("bench train: %s, seq %d batch %d, %d steps in %.3f s: %.0f tokens/s (%.0f samples/s), "
                "%.2f GFLOP/s (%.3g FLOPs/token", model.c_str(), T, B, r.steps, r.seconds,
                r.tokens_per_s, samples_per_s, r.gflops, r.flops_per_token);
    if (r.peak_gflops > 0)
      std::printf("; %.0f%% of the measured %.1f GFLOP/s %s peak", 100.0 * r.gflops / r.peak_gflops,
                  r.peak_gflops, device >= 0 ? r.peak_isa.c_str() : "FMA");
    std::printf("), loss %.4f, gemm %s, %s (%s)\n", r.final_loss, r.gemm_kernel.c_str(),
                r.device.c_str(), device_name.c_str());
    if (r.cuda_graph_steps < r.steps)
      std::printf("  per step%s: forward %.1f ms, backward %.1f ms, optimizer %.1f ms\n",
                  r.cuda_graph_steps > 0 ? " (eager steps)" : "", 1e3 * r.forward_s, 1e3 * r.backward_s,
                  1e3 * r.optimizer_s);
    if (device >= 0)
      std::printf("  device time per step %.2f ms; %d of %d timed steps ran as a CUDA graph%s\n",
                  1e3 * r.device_s, r.cuda_graph_steps, r.steps,
                  r.cuda_graphs ? " (a graph is timed only as a whole)" : " (--cuda-graphs off)");
    if (device >= 0)
      std::printf("  precision %s; cuBLASLt peak fp32 %.1f GFLOP/s, tf32 %.1f GFLOP/s, bf16 %.1f GFLOP/s (0: not "
                  "measured, run not bf16); device memory held %.1f MiB\n",
                  r.precision.c_str(), r.peak_fp32_gflops, r.peak_tf32_gflops, r.peak_bf16_gflops,
                  double(r.peak_memory_bytes) / (1 << 20));
  }
  return 0;
}
