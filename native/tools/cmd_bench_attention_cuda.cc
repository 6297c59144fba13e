/*
 * cmd_bench_attention_cuda.cc: `lshlab-native bench-attention --device cuda --scaling [--json]
 * [--variants exact,exact-bf16,yoso,yoso-e,...] [--min-n 512] [--max-n 262144] [--quick]`: the attention
 * scaling sweep on a CUDA device (issue 11). Batch 4, 8 heads, head size 64 (--batch --heads
 * --head-dim), n = 512, 1024, ... doubling to --max-n. Per variant configuration:
 *   1. validate at the smallest n against the CPU variant (make_attention<float>, same inputs, same
 *      seed/step/site): rel err of ctx (forward) and of dqkv (backward), ||got-ref|| / ||ref||;
 *   2. per n: forward, and forward+backward, timed with CUDA events (cuda_harness.h median_ms:
 *      warm-ups, then the median of the reps);
 *   3. stop the configuration when the next n would exceed the device memory (80% of it) or a
 *      time cap (--max-call-ms per fwd+bwd call, --variant-budget-s per configuration; both
 *      estimated by a power law from the last two sizes), and say so in that size's line.
 * peak_bytes: the bytes of the device buffers the calls need, all allocated here (qkv, ctx,
 * dctx, dqkv, the variant's saved state and workspace); where the ABI has mem_get_info, also
 * meminfo_delta_bytes, the drop in cudaMemGetInfo's free bytes from before those allocations to
 * after the timed calls (catches anything the library allocates itself; rounded to pages).
 * Variants (cuda_attention_runs.h) are found by ABI field presence: a library without a
 * variant's entries gets a line saying so. exact-bf16 (the bf16 tensor-core kernels) is validated
 * against the CPU's exact on bf16-rounded inputs and fails its line above its bound (1e-2).
 * Without a usable device: one line saying why, exit 0. Output: one line (JSON with --json) per
 * (configuration, n), fields bench, device, gpu, variant, params, n, B, H, D, fwd_ms, fwdbwd_ms,
 * peak_bytes, rel_err, reproduce (or skipped / error instead of the times).
 */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "attention/attention.h"
#include "commands.h"
#include "cuda_attention_runs.h"
#include "core/threadpool.h"
#include "cuda_harness.h"
#include "io/json.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;
using namespace lshlab_cuda_runs;

namespace {

// Uniform in [-1, 1) from a counter hash (splitmix64): element i is the same whether drawn on the
// host or uploaded in chunks, so the smallest size's host copy matches the device's.
float rnd(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return float(double((z ^ (z >> 31)) >> 40) / double(1ull << 23) - 1.0);
}
void fill_random(const Api& a, float* dev, size_t n, uint64_t seed, std::vector<float>* host) {
  std::vector<float> chunk;
  for (size_t off = 0; off < n; off += size_t(1) << 24) {
    chunk.resize(std::min(n - off, size_t(1) << 24));
    const size_t per = (chunk.size() + 63) / 64;  // 64 tasks over the pool's threads
    ThreadPool::global().parallel_for(64, [&](int t) {
      for (size_t i = size_t(t) * per; i < std::min(chunk.size(), size_t(t + 1) * per); i++) chunk[i] = rnd(seed, off + i);
    });
    ok(a, a.memcpy_h2d(dev + off, chunk.data(), chunk.size() * sizeof(float)), "upload");
    if (host) host->insert(host->end(), chunk.begin(), chunk.end());
  }
}

std::string params_str(const AttentionParams& p) {
  std::string s;
  for (const auto& kv : p) s += ":" + kv.first + "=" + kv.second;
  return s;
}
Json params_json(const AttentionParams& p) {
  Json j = Json::object();
  for (const auto& kv : p) j.set(kv.first, kv.second);
  return j;
}
// Power-law estimate at n from the last two (n, v) points (exponent clamped to [1, 2.2]).
double extrapolate(const std::vector<std::pair<double, double>>& h, double n) {
  if (h.empty()) return 0;
  double e = 2;
  if (h.size() >= 2 && h[h.size() - 2].second > 0)
    e = std::log(h.back().second / h[h.size() - 2].second) / std::log(h.back().first / h[h.size() - 2].first);
  return h.back().second * std::pow(n / h.back().first, std::min(2.2, std::max(1.0, e)));
}

}  // namespace

int cmd_bench_attention_cuda(int argc, char** argv) {
  DriverArgs args(argc, argv, {"--device", "--variants", "--min-n", "--max-n", "--batch", "--heads", "--head-dim",
                               "--reps", "--warmup", "--max-call-ms", "--variant-budget-s"},
                  {"--scaling", "--json", "--quick"});
  if (!args.has("--scaling")) throw std::invalid_argument("--device cuda runs the --scaling sweep only");
  const bool json = args.has("--json"), quick = args.has("--quick");
  const int min_n = int(args.integer("--min-n", 512, 8, 1 << 22)), max_n = int(args.integer("--max-n", 262144, min_n, 1 << 22));
  const int B = int(args.integer("--batch", 4, 1, 4096)), H = int(args.integer("--heads", 8, 1, 255)),
            D = int(args.integer("--head-dim", 64, 1, 128));
  const int reps0 = int(args.integer("--reps", quick ? 5 : 10, 1, 1000)), warm0 = int(args.integer("--warmup", quick ? 2 : 3, 0, 100));
  const double max_call_ms = double(args.integer("--max-call-ms", quick ? 2000 : 5000, 1, 3600000));
  const double budget_s = double(args.integer("--variant-budget-s", quick ? 20 : 60, 1, 86400));
  // Configurations: "name" (its defaults) or "name:k=v:k=v".
  std::vector<std::pair<const Variant*, AttentionParams>> configs;
  std::string list = args.str("--variants", "");
  if (list.empty()) for (const Variant& v : variants()) list += std::string(list.empty() ? "" : ",") + v.name;
  for (size_t a0 = 0; a0 <= list.size();) {
    size_t b = std::min(list.find(',', a0), list.size());
    std::string spec = list.substr(a0, b - a0), name = spec.substr(0, spec.find(':'));
    a0 = b + 1;
    if (spec.empty()) continue;
    const Variant* v = nullptr;
    for (const Variant& x : variants()) if (name == x.name) v = &x;
    if (!v) throw std::invalid_argument("--variants: unknown variant '" + name + "' (exact, exact-bf16, yoso, yoso-e, bert-lsh, reformer)");
    AttentionParams p;
    for (size_t c = spec.find(':'); c != std::string::npos;) {
      size_t e = spec.find(':', c + 1), eq = spec.find('=', c);
      std::string kv = spec.substr(c + 1, (e == std::string::npos ? spec.size() : e) - c - 1);
      if (eq == std::string::npos || eq > e) throw std::invalid_argument("--variants: '" + kv + "' in '" + spec + "' needs k=v");
      p[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
      c = e;
    }
    if (spec.find(':') == std::string::npos) for (const auto& d : v->defaults) configs.push_back({v, d});
    else configs.push_back({v, p});
  }
  auto emit = [&](Json o) {
    if (json) { std::printf("%s\n", o.dump().c_str()); std::fflush(stdout); return; }
    std::string line;
    for (const auto& m : o.members())
      if (m.first != "bench" && m.first != "device" && m.first != "memory_method" && m.first != "reproduce")
        line += (line.empty() ? "" : " ") + m.first + "=" + (m.second.is_string() ? m.second.as_string() : m.second.dump());
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  const Api* ap = cuda_api();
  if (!ap) {
    Json o = Json::object();
    o.set("bench", "attention-scaling");
    o.set("skipped", "CUDA unavailable: " + cuda_status().reason);
    emit(o);
    return 0;
  }
  const Api& a = *ap;
  const CudaDevice& dev = cuda_status().devices.at(0);
  const double mem_cap = 0.8 * double(dev.memory_bytes);
  int errors = 0;
  for (const auto& cfg : configs) {
    const Variant& v = *cfg.first;
    const AttentionParams& p = cfg.second;
    auto row = [&](int n) {
      Json o = Json::object();
      o.set("bench", "attention-scaling"); o.set("device", "cuda"); o.set("gpu", dev.name);
      o.set("variant", v.name); o.set("params", params_json(p)); o.set("n", n);
      o.set("B", B); o.set("H", H); o.set("D", D);
      return o;
    };
    if (!v.present || !v.present(a)) {
      Json o = row(min_n);
      o.set("skipped", std::string("this CUDA library has no ") + v.name + " entries in its ABI (cuda_abi.h)");
      emit(o);
      continue;
    }
    std::vector<std::pair<double, double>> hist_t, hist_m;  // (n, fwd+bwd ms), (n, bytes)
    double spent_s = 0;
    std::string stop;
    for (long long nl = min_n; nl <= max_n; nl *= 2) {
      const int n = int(nl);
      Json o = row(n);
      if (!stop.empty()) { o.set("skipped", "stopped at a smaller n: " + stop.substr(9)); emit(o); continue; }
      const double est_ms = extrapolate(hist_t, n), est_b = extrapolate(hist_m, n);
      int reps = reps0, warm = warm0;
      const double left_ms = (budget_s - spent_s) * 1e3;
      if (est_b > mem_cap) stop = "stopped: needs ~" + std::to_string(int(est_b / (1 << 30))) + " GiB of device memory (cap 80% of " + std::to_string(int(dev.memory_bytes >> 30)) + " GiB)";
      else if (est_ms > max_call_ms) stop = "stopped: estimated " + std::to_string(int(est_ms)) + " ms per fwd+bwd call > --max-call-ms " + std::to_string(int(max_call_ms));
      else if (est_ms > 0) {  // fit the reps into what is left of the configuration's budget
        reps = std::min(reps, int(left_ms / (1.5 * est_ms)) - warm);
        if (reps < 3) { warm = std::min(warm, 1); reps = std::min(3, reps0); }
        if (1.5 * est_ms * (reps + warm) > left_ms) stop = "stopped: --variant-budget-s " + std::to_string(int(budget_s)) + " s would be exceeded (estimated " + std::to_string(int(est_ms)) + " ms per call)";
      }
      if (!stop.empty()) { o.set("skipped", stop); emit(o); continue; }
      auto t1 = std::chrono::steady_clock::now();
      try {
        const Shape s{B, n, H, D};
        size_t free0 = 0, free1 = 0, total = 0;
        const bool meminfo = LSHLAB_ABI_HAS(a, mem_get_info) && a.synchronize() == 0 && a.mem_get_info(&free0, &total) == 0;
        DeviceBuffer<float> qkv(a, s.tok() * 3 * s.C()), ctx(a, s.tok() * s.C()), dctx(a, s.tok() * s.C()), dqkv(a, s.tok() * 3 * s.C());
        const bool validate = n == min_n;
        std::vector<float> hq, hd;
        fill_random(a, qkv.get(), qkv.size(), 1, validate ? &hq : nullptr);
        fill_random(a, dctx.get(), dctx.size(), 2, validate ? &hd : nullptr);
        Run r = v.make(a, Io{qkv.get(), ctx.get(), dctx.get(), dqkv.get()}, s, p);
        if (validate) {  // the CPU variant on the same inputs and draws
          auto cpu = make_attention<float>(v.cpu ? v.cpu : v.name, p);
          if (v.bf16_inputs)  // the inputs as the bf16 kernels see them (round to nearest even)
            for (auto* h : {&hq, &hd})
              for (float& x : *h) {
                uint32_t u;
                std::memcpy(&u, &x, sizeof u);
                u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
                std::memcpy(&x, &u, sizeof x);
              }
          AttentionCall call;
          call.B = B; call.T = n; call.H = H; call.D = D; call.training = true;
          call.seed = kSeed; call.step = kStep; call.site = kSite;
          std::vector<float> c_ctx(s.tok() * s.C()), c_dqkv(hq.size());
          cpu->forward(c_ctx.data(), hq.data(), nullptr, call);
          cpu->backward(c_dqkv.data(), hd.data(), hq.data(), nullptr, call);
          ctx.poison(); dqkv.poison();  // NaN: an element the device did not write fails
          r.fwd(); r.bwd();
          const double e_ctx = rel_error(ctx.download(), to_double(c_ctx)), e_dqkv = rel_error(dqkv.download(), to_double(c_dqkv));
          o.set("rel_err", e_ctx);
          o.set("rel_err_dqkv", e_dqkv);
          if (v.tol > 0) {
            o.set("rel_err_bound", v.tol);
            if (!(e_ctx <= v.tol && e_dqkv <= v.tol)) throw std::runtime_error("validation failed: rel_err above its bound");
          }
        } else {
          o.set("rel_err", nullptr);
        }
        t1 = std::chrono::steady_clock::now();  // the budget counts timing, not the CPU check
        const double fwd_ms = median_ms(a, r.fwd, warm, reps);
        const double fb_ms = median_ms(a, [&] { r.fwd(); r.bwd(); }, warm, reps);
        const double io_fwd = double(qkv.bytes() + ctx.bytes()), io_bwd = double(dctx.bytes() + dqkv.bytes());
        o.set("fwd_ms", fwd_ms); o.set("fwdbwd_ms", fb_ms);
        o.set("peak_bytes", io_fwd + io_bwd + r.fwd_bytes + r.bwd_bytes);
        o.set("peak_bytes_fwd", io_fwd + r.fwd_bytes);
        if (meminfo && a.mem_get_info(&free1, &total) == 0) o.set("meminfo_delta_bytes", double(free0) - double(free1));
        o.set("memory_method", "peak_bytes: device buffers allocated for the calls (qkv, ctx, dctx, dqkv, saved state, workspace); "
                               "meminfo_delta_bytes: cudaMemGetInfo free before allocating minus after the timed calls");
        o.set("reps", reps); o.set("warmup", warm); o.set("cost", v.cost);
        hist_t.push_back({double(n), fb_ms});
        hist_m.push_back({double(n), io_fwd + io_bwd + r.fwd_bytes + r.bwd_bytes});
      } catch (const std::exception& e) {
        errors++;
        o.set("error", e.what());
        stop = std::string("stopped: failed at n=") + std::to_string(n);
      }
      spent_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      o.set("reproduce", "lshlab-native bench-attention --device cuda --scaling --json --variants " + std::string(v.name) + params_str(p) +
                             " --min-n " + std::to_string(n) + " --max-n " + std::to_string(n) + " --batch " + std::to_string(B) +
                             " --heads " + std::to_string(H) + " --head-dim " + std::to_string(D));
      emit(o);
    }
  }
  return errors == 0 ? 0 : 1;
}
