/*
 * bench_train.cc: the `lshlab bench train` workload: MLM training steps of a BERT model on random
 * tokens (Philox stream RandomTokens), freshly masked every step, the first `warmup` steps not
 * timed. Reports measured tokens/s, the analytic FLOPs behind them and, on the CPU, the measured
 * FMA peak. With a CUDA device the steps run there (model/bert_cuda.h) at the run's GEMM
 * precision; step times are then the host's wall time per step, which includes the step's one
 * synchronisation, and the yardstick is cuBLASLt's square-GEMM peak on the same GPU per
 * precision (backend/cuda_peak.h), with the device memory the steps held.
 */
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "backend/cuda_loader.h"
#include "backend/cuda_peak.h"
#include "backend/device_buffer.h"
#include "core/common.h"
#include "core/philox.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/peak.h"
#include "train/trainer.h"

namespace lshlab {

BenchTrainResult bench_train(const BertConfig& cfg_in, int B, int T, int steps, int warmup,
                             uint64_t seed, int cuda_device, const std::string& precision,
                             bool cuda_graphs) {
  LSHLAB_CHECK(B > 0 && T > 0, "batch and seq must be positive");
  LSHLAB_CHECK(steps > 0, "steps must be positive");
  LSHLAB_CHECK(warmup >= 0, "warmup must be >= 0");
  BertConfig cfg = cfg_in;
  cfg.task = Task::MaskedLM;
  TrainConfig tc;
  tc.seed = seed;
  tc.cuda_device = cuda_device;
  tc.precision = precision;
  tc.cuda_graphs = cuda_graphs;
  // Device memory before the Trainer exists (the context is up by then), to subtract below.
  const lshlab_cuda_api_v1* api = nullptr;
  size_t free0 = 0, total0 = 0;
  if (cuda_device >= 0) {
    gemm_precision_mode(precision);  // a bad name fails here, before anything is allocated
    api = &cuda_require();
    cuda_ok(*api, api->set_device(cuda_device), "set_device");
    cuda_ok(*api, api->mem_get_info(&free0, &total0), "mem_get_info");
  }
  Trainer trainer(cfg, tc);
  // BERT's uncased vocabulary keeps [PAD]=0, [CLS]=101, [SEP]=102, [MASK]=103; small vocabularies
  // (tests) use 0..3.
  const bool big = cfg.vocab_size > 1000;
  const int32_t pad = 0, cls = big ? 101 : 1, sep = big ? 102 : 2, mask = big ? 103 : 3;
  const int32_t first = big ? 1000 : 4;
  std::vector<int32_t> ids(size_t(B) * T), labels(size_t(B) * T), am(size_t(B) * T, 1);
  const std::vector<int32_t> special = {pad, cls, sep, mask};
  BenchTrainResult r;
  double timed = 0, flops = 0;
  int eager_steps = 0;
  for (int s = 0; s < warmup + steps; s++) {
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++) {
        const uint64_t i = uint64_t(b) * T + t;
        const uint32_t u = philox_u32(seed, uint32_t(Stream::RandomTokens), uint32_t(s), i);
        ids[i] = t == 0 ? cls : t == T - 1 ? sep : first + int32_t(u % uint32_t(cfg.vocab_size - first));
      }
    mlm_mask(ids.data(), labels.data(), am.data(), B, T, cfg.vocab_size, mask, special, 0.15, seed,
             uint32_t(s));
    Batch batch;
    batch.B = B; batch.T = T;
    batch.input_ids = ids.data(); batch.attention_mask = am.data(); batch.labels = labels.data();
    StepStats st = trainer.train_step(batch);
    if (s >= warmup) {
      timed += st.seconds;
      flops += st.flops;
      r.device_s += st.device_s / steps;
      if (st.cuda_graph) {
        r.cuda_graph_steps++;
      } else {
        eager_steps++;
        r.forward_s += st.forward_s;
        r.backward_s += st.backward_s;
        r.optimizer_s += st.optimizer_s;
      }
    }
    r.final_loss = st.loss;
  }
  if (eager_steps > 0) {
    r.forward_s /= eager_steps;
    r.backward_s /= eager_steps;
    r.optimizer_s /= eager_steps;
  }
  r.steps = steps;
  r.seconds = timed;
  r.cuda_graphs = cuda_device >= 0 && cuda_graphs;
  r.tokens_per_s = double(B) * T * steps / timed;
  r.flops_per_token = flops / (double(B) * T * steps);
  r.gflops = flops / timed / 1e9;
  r.threads = ThreadPool::global().num_threads();
  r.device = trainer.device();
  r.precision = precision;
  if (cuda_device >= 0) {
    r.gemm_kernel = "cuBLASLt " + precision;
    size_t free1 = 0, total1 = 0;
    cuda_ok(*api, api->synchronize(), "synchronize");
    cuda_ok(*api, api->mem_get_info(&free1, &total1), "mem_get_info");
    const int64_t used0 = int64_t(total0 - free0), used1 = int64_t(total1 - free1);
    r.peak_memory_bytes = std::max<int64_t>(0, used1 - used0);
    // fp32 and TF32 always, so one run shows what TF32 would buy, and bf16 when the run is bf16
    // (its GEMM runs bf16 operands); the run's own is the yardstick.
    const CudaGemmPeak p32 = measure_cuda_gemm_peak(cuda_device, 0);
    const CudaGemmPeak ptf = measure_cuda_gemm_peak(cuda_device, 1);
    CudaGemmPeak pbf;
    if (precision == "bf16") pbf = measure_cuda_gemm_peak(cuda_device, 2);
    r.peak_fp32_gflops = p32.gflops;
    r.peak_tf32_gflops = ptf.gflops;
    r.peak_bf16_gflops = pbf.gflops;
    const CudaGemmPeak& own = precision == "bf16" ? pbf : precision == "tf32" ? ptf : p32;
    r.peak_gflops = own.gflops;
    r.peak_isa = "cuBLASLt " + own.precision;
    r.peak_method = own.method;
    return r;
  }
  r.gemm_kernel = gemm_kernel_name();
  // The yardstick, measured in the same process on the same threads, so the fraction of peak is
  // a ratio of two measurements rather than of a measurement and a datasheet figure.
  const PeakResult peak = measure_peak_fma(r.threads, 0.5);
  r.peak_gflops = peak.gflops;
  r.peak_isa = peak.isa;
  r.peak_method = peak.isa + " FMA loop, " + std::to_string(r.threads) +
                  " thread(s), measured after the timed steps";
  return r;
}

}  // namespace lshlab
