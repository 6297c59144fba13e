/*
 * addon.h: shared pieces of the Node-API binding (node-addon-api, C++ exceptions on).
 *
 * The binding is thin: it converts JS values to engine structs (naming the offending field when a
 * value is wrong), runs anything longer than a few milliseconds in an AsyncWorker on libuv's pool,
 * and converts results back. No external buffers: every array handed to JS is allocated by V8 and
 * filled by copy; every array read from JS is copied into C++-owned memory before work leaves the
 * JS thread.
 *
 * Engine work is serialised process-wide by engine_mutex(): the engine's ThreadPool::global() runs
 * one parallel_for at a time, so two workers (two Trainers, or a benchmark and a step) must not
 * drive it concurrently.
 */
#pragma once
#include <napi.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "model/bert_config.h"
#include "train/trainer.h"

namespace lshlab_addon {

// Per-environment state (one per main thread / worker_thread that loads the addon).
struct Addon {
  Napi::FunctionReference trainer_ctor;
  bool closing = false;  // set by the environment's cleanup hook
};

Addon& addon(Napi::Env env);
std::mutex& engine_mutex();

// Throws a JS Error if the environment is shutting down.
void check_open(Napi::Env env);

// Runs fn and turns lshlab::Error / std::exception into a JS Error with the same message.
template <typename F>
auto guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// ---- conversions (convert.cc) -----------------------------------------------------------------

// Reads fields of a plain JS object, naming "<what>.<field>" in every error, and rejects fields
// it was not asked about (typos) once finish() is called.
class FieldReader {
 public:
  FieldReader(Napi::Env env, Napi::Value v, std::string what, bool optional_object = false);
  bool has(const char* key);
  int get_int(const char* key, int def, int64_t min, int64_t max);
  int64_t get_int64(const char* key, int64_t def, int64_t min);
  uint64_t get_uint64(const char* key, uint64_t def);
  double get_double(const char* key, double def, double min, double max);
  bool get_bool(const char* key, bool def);
  std::string get_string(const char* key, const std::string& def);
  // Required variants.
  int need_int(const char* key, int64_t min, int64_t max);
  void finish();
  const std::string& what() const { return what_; }
  Napi::Value raw(const char* key);

 private:
  std::string path(const char* key) const { return what_ + "." + key; }
  Napi::Env env_;
  Napi::Object obj_;
  bool present_ = false;
  std::string what_;
  std::vector<std::string> seen_;
};

// camelCase JS object <-> engine config. `base` supplies defaults for fields not given.
lshlab::BertConfig read_bert_config(Napi::Env env, Napi::Value v, const std::string& what,
                                    const lshlab::BertConfig& base = lshlab::BertConfig());
lshlab::TrainConfig read_train_config(Napi::Env env, Napi::Value v, const std::string& what);
Napi::Object bert_config_to_js(Napi::Env env, const lshlab::BertConfig& c);
Napi::Object train_config_to_js(Napi::Env env, const lshlab::TrainConfig& c);
// Runs c.validate() and rewrites the engine's snake_case field names to the JS camelCase ones.
void validate_bert_config(Napi::Env env, const lshlab::BertConfig& c, const std::string& what);
std::string camelize_fields(const std::string& msg);

// Per-layer attention counters -> the JS `attention` object of StepStats / EvalResult:
// {dotProducts, pairs, density, collisions, flops: {hash, scores, softmax, values, backward},
//  timeS: {...}, layers: [{dotProducts, pairs, density, collisions, flops, timeS,
//  headDensity, headDotProducts, headPairs, headCollisions}]}.
Napi::Object attention_stats_to_js(Napi::Env env, const std::vector<lshlab::AttentionCounters>& layers);

// A batch copied out of JS typed arrays into C++-owned vectors.
struct OwnedBatch {
  int B = 0, T = 0;
  std::vector<int32_t> input_ids, token_type_ids, attention_mask, labels, start_positions,
      end_positions;
  lshlab::Batch view() const;
};
// Validates shapes and id ranges against the model config (out-of-range ids would index past
// the embedding tables) and copies.
OwnedBatch read_batch(Napi::Env env, Napi::Value v, const lshlab::BertConfig& cfg,
                      const std::string& what);

// Copies an Int32Array argument; throws TypeError naming `what` if it is not one.
Napi::Int32Array need_int32_array(Napi::Env env, Napi::Value v, const std::string& what);

// ---- async plumbing (workers.cc) --------------------------------------------------------------

// An AsyncWorker that settles a Promise: `execute` runs on a libuv thread (holding the engine
// mutex when `lock_engine`), `resolve` builds the value on the JS thread, `done` runs on the JS
// thread whatever happened (to clear busy flags).
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name, std::function<void()> execute,
                std::function<Napi::Value(Napi::Env)> resolve, bool lock_engine = true,
                std::function<void()> done = nullptr);
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> execute_;
  std::function<Napi::Value(Napi::Env)> resolve_;
  std::function<void()> done_;
  bool lock_engine_;
};

// Queues the worker and returns its promise.
Napi::Value queue_promise(Napi::Env env, const char* name, std::function<void()> execute,
                          std::function<Napi::Value(Napi::Env)> resolve, bool lock_engine = true,
                          std::function<void()> done = nullptr);

Napi::Value RunChecks(const Napi::CallbackInfo& info);
Napi::Value BenchGemm(const Napi::CallbackInfo& info);
Napi::Value BenchTrain(const Napi::CallbackInfo& info);
Napi::Value BenchAttention(const Napi::CallbackInfo& info);  // bench_attention.cc
Napi::Value AttentionMaps(const Napi::CallbackInfo& info);    // attention_maps.cc

// ---- Trainer (trainer_object.cc) --------------------------------------------------------------
Napi::Function define_trainer_class(Napi::Env env);
// file_lock.cc: FileLock, the OS lock a host holds on each run it owns.
Napi::Function define_file_lock_class(Napi::Env env);

}  // namespace lshlab_addon
