/*
 * workers.cc: the promise plumbing (PromiseWorker) and the promise-returning free functions:
 * runChecks, benchGemm, benchTrain. Arguments are validated and copied on the JS thread; the work
 * runs on a libuv thread holding the engine mutex; results are converted on the JS thread.
 */
#include <memory>

#include "addon.h"
#include "check/gradcheck.h"
#include "ops/cpu/gemm_bench.h"

namespace lshlab_addon {

PromiseWorker::PromiseWorker(Napi::Env env, const char* name, std::function<void()> execute,
                             std::function<Napi::Value(Napi::Env)> resolve, bool lock_engine,
                             std::function<void()> done)
    : Napi::AsyncWorker(env, name),
      deferred_(Napi::Promise::Deferred::New(env)),
      execute_(std::move(execute)),
      resolve_(std::move(resolve)),
      done_(std::move(done)),
      lock_engine_(lock_engine) {}

void PromiseWorker::Execute() {
  try {
    if (lock_engine_) {
      std::lock_guard<std::mutex> lock(engine_mutex());
      execute_();
    } else {
      execute_();
    }
  } catch (const std::exception& e) {
    SetError(e.what());
  } catch (...) {
    SetError("unknown native error");
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  // `done` runs after the value is built (resolve may read the object that `done` releases) and
  // before any .then() callback (those run as microtasks after OnOK returns).
  Napi::Value value;
  std::string error;
  try {
    value = resolve_ ? resolve_(env) : env.Undefined();
  } catch (const Napi::Error& e) {
    error = e.Message();
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (done_) done_();
  if (error.empty())
    deferred_.Resolve(value);
  else
    deferred_.Reject(Napi::Error::New(env, error).Value());
}

void PromiseWorker::OnError(const Napi::Error& e) {
  if (done_) done_();
  deferred_.Reject(e.Value());
}

Napi::Value queue_promise(Napi::Env env, const char* name, std::function<void()> execute,
                          std::function<Napi::Value(Napi::Env)> resolve, bool lock_engine,
                          std::function<void()> done) {
  check_open(env);
  auto* w = new PromiseWorker(env, name, std::move(execute), std::move(resolve), lock_engine,
                              std::move(done));
  Napi::Promise p = w->promise();
  w->Queue();  // the worker deletes itself after OnOK/OnError
  return p;
}

// runChecks(prefix?) -> Promise<Array<{name, maxRelError, tolerance, checked, passed}>>
Napi::Value RunChecks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string prefix;
  if (info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull()) {
    if (!info[0].IsString()) throw Napi::TypeError::New(env, "runChecks(prefix): prefix must be a string");
    prefix = info[0].As<Napi::String>().Utf8Value();
  }
  auto results = std::make_shared<std::vector<lshlab::GradCheckResult>>();
  return queue_promise(
      env, "lshlab.runChecks", [results, prefix] { *results = lshlab::run_gradchecks(prefix); },
      [results](Napi::Env env) -> Napi::Value {
        Napi::Array arr = Napi::Array::New(env, results->size());
        for (size_t i = 0; i < results->size(); i++) {
          const auto& r = (*results)[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("name", r.name);
          o.Set("maxRelError", r.max_rel_error);
          o.Set("tolerance", r.tolerance);
          o.Set("checked", r.checked);
          o.Set("skipped", r.skipped);
          o.Set("passed", r.passed);
          arr.Set(static_cast<uint32_t>(i), o);
        }
        return arr;
      });
}

// benchGemm({m, n, k, transA?, transB?, iters?, openblas?}) -> Promise<GemmBenchResult>
Napi::Value BenchGemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FieldReader r(env, info.Length() > 0 ? info[0] : env.Undefined(), "benchGemm options");
  lshlab::GemmBenchConfig cfg;
  const int64_t big = 1 << 16;
  cfg.M = r.need_int("m", 1, big);
  cfg.N = r.need_int("n", 1, big);
  cfg.K = r.need_int("k", 1, big);
  cfg.transA = r.get_bool("transA", false);
  cfg.transB = r.get_bool("transB", false);
  cfg.iters = r.get_int("iters", 0, 0, 1 << 24);
  cfg.openblas = r.get_bool("openblas", false);
  r.finish();
  auto res = std::make_shared<lshlab::GemmBenchResult>();
  return queue_promise(
      env, "lshlab.benchGemm", [res, cfg] { *res = lshlab::bench_gemm(cfg); },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("m", res->M);
        o.Set("n", res->N);
        o.Set("k", res->K);
        o.Set("iters", res->iters);
        o.Set("secondsMean", res->seconds_mean);
        o.Set("gflops", res->gflops);
        o.Set("kernel", res->kernel);
        o.Set("threads", res->threads);
        o.Set("maxAbsError", res->max_abs_error);
        o.Set("openblasAvailable", res->openblas_available);
        o.Set("openblasGflops", res->openblas_gflops);
        o.Set("openblasLibrary", res->openblas_library);
        return o;
      });
}

// benchTrain({seq, batch, steps, warmup, seed, model?, cudaDevice?, precision?, cudaGraphs?})
//   -> Promise<BenchTrainResult>
Napi::Value BenchTrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FieldReader r(env, info.Length() > 0 ? info[0] : env.Undefined(), "benchTrain options");
  const int T = r.need_int("seq", 1, 1 << 20);
  const int B = r.need_int("batch", 1, 1 << 20);
  const int steps = r.get_int("steps", 10, 1, 1 << 24);
  const int warmup = r.get_int("warmup", 2, 0, 1 << 24);
  const uint64_t seed = r.get_uint64("seed", 42);
  const int cuda_device = r.get_int("cudaDevice", -1, -1, 1 << 10);
  const std::string precision = r.get_string("precision", "fp32");  // bench_train checks it
  const bool cuda_graphs = r.get_bool("cudaGraphs", true);
  lshlab::BertConfig cfg = read_bert_config(env, r.raw("model"), "benchTrain options.model");
  r.finish();
  if (T > cfg.max_position_embeddings)
    throw Napi::RangeError::New(env, "benchTrain options.seq (" + std::to_string(T) +
                                         ") exceeds model.maxPositionEmbeddings (" +
                                         std::to_string(cfg.max_position_embeddings) + ")");
  auto res = std::make_shared<lshlab::BenchTrainResult>();
  return queue_promise(
      env, "lshlab.benchTrain",
      [res, cfg, B, T, steps, warmup, seed, cuda_device, precision, cuda_graphs] {
        *res = lshlab::bench_train(cfg, B, T, steps, warmup, seed, cuda_device, precision, cuda_graphs);
      },
      [res](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("steps", res->steps);
        o.Set("seconds", res->seconds);
        o.Set("tokensPerS", res->tokens_per_s);
        o.Set("flopsPerToken", res->flops_per_token);
        o.Set("gflops", res->gflops);
        o.Set("finalLoss", res->final_loss);
        o.Set("threads", res->threads);
        o.Set("gemmKernel", res->gemm_kernel);
        o.Set("forwardS", res->forward_s);
        o.Set("backwardS", res->backward_s);
        o.Set("optimizerS", res->optimizer_s);
        o.Set("peakGflops", res->peak_gflops);
        o.Set("peakIsa", res->peak_isa);
        o.Set("device", res->device);
        o.Set("precision", res->precision);
        o.Set("peakMethod", res->peak_method);
        o.Set("peakFp32Gflops", res->peak_fp32_gflops);
        o.Set("peakTf32Gflops", res->peak_tf32_gflops);
        o.Set("peakBf16Gflops", res->peak_bf16_gflops);  // 0 unless the run is bf16 on CUDA
        o.Set("peakMemoryBytes", static_cast<double>(res->peak_memory_bytes));
        o.Set("cudaGraphs", res->cuda_graphs);
        o.Set("cudaGraphSteps", res->cuda_graph_steps);
        o.Set("deviceS", res->device_s);
        return o;
      });
}

}  // namespace lshlab_addon
