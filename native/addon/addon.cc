/*
 * addon.cc: module init of lshlab.node, the per-environment Addon state and its cleanup hook, and
 * the small synchronous exports (info, setThreads, mlmMask). The Trainer class lives in
 * trainer_object.cc, the promise-returning workers in workers.cc.
 */
#include <thread>

#include "addon.h"
#include "attention/attention.h"
#include "core/common.h"
#include "core/cpu_info.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"

#ifndef LSHLAB_ENGINE_VERSION
#define LSHLAB_ENGINE_VERSION "0.0.0"
#endif

namespace lshlab_addon {

Addon& addon(Napi::Env env) {
  Addon* a = env.GetInstanceData<Addon>();
  if (!a) throw Napi::Error::New(env, "lshlab addon state missing (module not initialised)");
  return *a;
}

std::mutex& engine_mutex() {
  static std::mutex mu;  // process-wide: ThreadPool::global() is process-wide
  return mu;
}

void check_open(Napi::Env env) {
  if (addon(env).closing) throw Napi::Error::New(env, "lshlab: environment is shutting down");
}

Napi::Object cuda_info_object(Napi::Env env);  // cuda_info.cc

namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const lshlab::CpuInfo& ci = lshlab::cpu_info();
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("model", ci.model);
    cpu.Set("logicalCores", ci.logical_cores);
    cpu.Set("avx2", ci.avx2);
    cpu.Set("fma", ci.fma);
    cpu.Set("avx512f", ci.avx512f);

    Napi::Object cuda = cuda_info_object(env);  // cuda_info.cc

    Napi::Object out = Napi::Object::New(env);
    out.Set("engineVersion", LSHLAB_ENGINE_VERSION);
    out.Set("cpu", cpu);
    out.Set("threads", lshlab::ThreadPool::global().num_threads());
    out.Set("gemmKernel", lshlab::gemm_kernel_name());
    out.Set("cuda", cuda);
    Napi::Array variants = Napi::Array::New(env);
    uint32_t nv = 0;
    for (const char* const* v = lshlab::attention_variant_names(); *v; v++) variants.Set(nv++, *v);
    out.Set("attentionVariants", variants);
    return out;
  });
}

// setThreads(n): n >= 1, or 0 for "all hardware threads". Refused while engine work is running
// (the pool is rebuilt, and a running parallel_for must not lose its workers).
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    throw Napi::TypeError::New(env, "setThreads(n): n must be a number");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 1024) || d != static_cast<double>(static_cast<int>(d)))
    throw Napi::RangeError::New(env, "setThreads(n): n must be an integer in 0..1024 (0 = all cores)");
  std::unique_lock<std::mutex> lock(engine_mutex(), std::try_to_lock);
  if (!lock.owns_lock())
    throw Napi::Error::New(env, "setThreads: engine work is running; call it when idle");
  guard(env, [&] { lshlab::ThreadPool::set_global_threads(static_cast<int>(d)); });
  return Napi::Number::New(env, lshlab::ThreadPool::global().num_threads());
}

// mlmMask(inputIds, labels, attentionMask|null, B, T, {vocabSize, maskId, specialIds, prob, seed,
// step}): BERT masking in place on inputIds, labels written. Synchronous (it is O(B*T)).
Napi::Value MlmMask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6)
    throw Napi::TypeError::New(
        env, "mlmMask(inputIds, labels, attentionMask, B, T, options): 6 arguments expected");
  Napi::Int32Array ids = need_int32_array(env, info[0], "mlmMask: inputIds");
  Napi::Int32Array labels = need_int32_array(env, info[1], "mlmMask: labels");
  if (!info[3].IsNumber() || !info[4].IsNumber())
    throw Napi::TypeError::New(env, "mlmMask: B and T must be numbers");
  double bd = info[3].As<Napi::Number>().DoubleValue(), td = info[4].As<Napi::Number>().DoubleValue();
  if (!(bd >= 1 && bd <= 1e6 && bd == static_cast<int>(bd)) ||
      !(td >= 1 && td <= 1e6 && td == static_cast<int>(td)))
    throw Napi::RangeError::New(env, "mlmMask: B and T must be positive integers");
  const int B = static_cast<int>(bd), T = static_cast<int>(td);
  const size_t n = static_cast<size_t>(B) * static_cast<size_t>(T);
  if (ids.ElementLength() != n)
    throw Napi::RangeError::New(env, "mlmMask: inputIds has " + std::to_string(ids.ElementLength()) +
                                         " elements, expected B*T = " + std::to_string(n));
  if (labels.ElementLength() != n)
    throw Napi::RangeError::New(env, "mlmMask: labels has " + std::to_string(labels.ElementLength()) +
                                         " elements, expected B*T = " + std::to_string(n));
  std::vector<int32_t> ones;
  const int32_t* mask = nullptr;
  if (info[2].IsNull() || info[2].IsUndefined()) {
    ones.assign(n, 1);
    mask = ones.data();
  } else {
    Napi::Int32Array m = need_int32_array(env, info[2], "mlmMask: attentionMask");
    if (m.ElementLength() != n)
      throw Napi::RangeError::New(env, "mlmMask: attentionMask has " +
                                           std::to_string(m.ElementLength()) +
                                           " elements, expected B*T = " + std::to_string(n));
    mask = m.Data();
  }

  FieldReader r(env, info[5], "mlmMask options");
  const int V = r.need_int("vocabSize", 1, 1 << 30);
  const int mask_id = r.need_int("maskId", 0, V - 1);
  std::vector<int32_t> special;
  if (r.has("specialIds")) {
    Napi::Value sv = r.raw("specialIds");
    if (sv.IsTypedArray() && sv.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      Napi::Int32Array a = sv.As<Napi::Int32Array>();
      special.assign(a.Data(), a.Data() + a.ElementLength());
    } else if (sv.IsArray()) {
      Napi::Array a = sv.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value e = a.Get(i);
        if (!e.IsNumber())
          throw Napi::TypeError::New(env, "mlmMask options.specialIds[" + std::to_string(i) +
                                              "] must be an integer");
        special.push_back(e.As<Napi::Number>().Int32Value());
      }
    } else {
      throw Napi::TypeError::New(env, "mlmMask options.specialIds must be an array of integers");
    }
  }
  const double prob = r.get_double("prob", 0.15, 0.0, 1.0);
  const uint64_t seed = r.get_uint64("seed", 42);
  const int64_t step = r.get_int64("step", 0, 0);
  if (step > 0xffffffffLL) throw Napi::RangeError::New(env, "mlmMask options.step must be < 2^32");
  r.finish();

  for (size_t i = 0; i < n; i++) {
    if (ids.Data()[i] < 0 || ids.Data()[i] >= V)
      throw Napi::RangeError::New(env, "mlmMask: inputIds[" + std::to_string(i) + "] = " +
                                           std::to_string(ids.Data()[i]) + " is outside [0, " +
                                           std::to_string(V) + ")");
  }
  guard(env, [&] {
    lshlab::mlm_mask(ids.Data(), labels.Data(), mask, B, T, V, mask_id, special, prob, seed,
                     static_cast<uint32_t>(step));
  });
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Addon* a = new Addon();
  env.SetInstanceData<Addon>(a);  // deleted by node-addon-api when the environment goes away
  env.AddCleanupHook([a]() { a->closing = true; });

  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("mlmMask", Napi::Function::New(env, MlmMask, "mlmMask"));
  exports.Set("runChecks", Napi::Function::New(env, RunChecks, "runChecks"));
  exports.Set("benchGemm", Napi::Function::New(env, BenchGemm, "benchGemm"));
  exports.Set("benchTrain", Napi::Function::New(env, BenchTrain, "benchTrain"));
  exports.Set("benchAttention", Napi::Function::New(env, BenchAttention, "benchAttention"));
  exports.Set("attentionMaps", Napi::Function::New(env, AttentionMaps, "attentionMaps"));
  Napi::Function trainer = define_trainer_class(env);
  a->trainer_ctor = Napi::Persistent(trainer);
  exports.Set("Trainer", trainer);
  exports.Set("FileLock", define_file_lock_class(env));
  return exports;
}

}  // namespace
}  // namespace lshlab_addon

static Napi::Object InitLshlab(Napi::Env env, Napi::Object exports) {
  return lshlab_addon::Init(env, exports);
}

NODE_API_MODULE(lshlab, InitLshlab)
