/*
 * bench_attention.cc: benchAttention(options) -> Promise<object>, the addon side of `lshlab bench
 * attention`. Options are read (camelCase, typos rejected) and copied on the JS thread; the
 * harness (engine/attention/bench.h) runs on a libuv thread holding the engine mutex; its result,
 * an lshlab::Json, is turned into plain JS objects with the engine's snake_case keys unchanged
 * (they are what the CLI prints, and variant parameter names such as table_size must not be
 * renamed). Progress lines of the long modes go to options.onProgress(line) through a
 * thread-safe function, if given.
 */
#include <memory>
#include <string>

#include "addon.h"
#include "attention/bench.h"
#include "attention/params.h"
#include "io/json.h"

namespace lshlab_addon {

namespace {

Napi::Value json_to_js(Napi::Env env, const lshlab::Json& j) {
  using T = lshlab::Json::Type;
  switch (j.type()) {
    case T::Null: return env.Null();
    case T::Bool: return Napi::Boolean::New(env, j.as_bool());
    case T::Number: return Napi::Number::New(env, j.as_double());
    case T::String: return Napi::String::New(env, j.as_string());
    case T::Array: {
      Napi::Array a = Napi::Array::New(env, j.size());
      for (size_t i = 0; i < j.size(); i++) a.Set(uint32_t(i), json_to_js(env, j[i]));
      return a;
    }
    case T::Object: {
      Napi::Object o = Napi::Object::New(env);
      for (const auto& m : j.members()) o.Set(m.first, json_to_js(env, m.second));
      return o;
    }
  }
  return env.Undefined();
}

// {name: string | number | boolean} -> AttentionParams (numbers written as the user would type them).
lshlab::AttentionParams read_params(Napi::Env env, Napi::Value v) {
  lshlab::AttentionParams p;
  if (v.IsUndefined() || v.IsNull()) return p;
  if (!v.IsObject() || v.IsArray())
    throw Napi::TypeError::New(env, "benchAttention options.params must be an object of name: value");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    const std::string k = keys.Get(i).ToString().Utf8Value();
    Napi::Value x = o.Get(k);
    if (!x.IsString() && !x.IsNumber() && !x.IsBoolean())
      throw Napi::TypeError::New(env, "benchAttention options.params." + k + " must be a string or number");
    p[k] = x.ToString().Utf8Value();
  }
  return p;
}

}  // namespace

// benchAttention({mode?, variant?, params?, batch?, seq?, heads?, headDim?, backward?, iters?,
//   warmup?, dotIters?, timeIters?, quality?, qualityCalls?, seed?, minSeq?, maxSeq?, variants?,
//   budgetS?, maxMemoryGb?, angles?, trials?, onProgress?}) -> Promise<object>
Napi::Value BenchAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FieldReader r(env, info.Length() > 0 ? info[0] : env.Undefined(), "benchAttention options", true);
  const std::string mode = r.get_string("mode", "single");
  if (mode != "single" && mode != "paper-table1" && mode != "sweep" && mode != "scaling" && mode != "collisions")
    throw Napi::RangeError::New(env, "benchAttention options.mode must be single | paper-table1 | sweep | "
                                     "scaling | collisions (got '" + mode + "')");
  lshlab::AttentionBenchConfig single;
  single.variant = r.get_string("variant", "exact");
  single.params = read_params(env, r.raw("params"));
  single.B = r.get_int("batch", 1, 1, 1 << 16);
  single.T = r.get_int("seq", mode == "sweep" ? 10 : 128, 1, 1 << 20);
  single.H = r.get_int("heads", 2, 1, 1 << 10);
  single.D = r.get_int("headDim", 64, mode == "collisions" ? 2 : 1, 1 << 12);
  single.backward = r.get_bool("backward", false);
  single.iters = r.get_int("iters", 10, 1, 1 << 28);
  single.warmup = r.get_int("warmup", 2, 0, 1 << 28);
  single.dot_iters = r.get_int("dotIters", mode == "single" ? 0 : 100, 0, 1 << 28);
  const int time_iters = r.get_int("timeIters", 1000, 1, 1 << 28);
  single.quality = r.get_bool("quality", true);
  single.quality_calls = r.get_int("qualityCalls", 3, 1, 1000);
  single.seed = r.get_uint64("seed", 42);
  lshlab::ScalingConfig sc;
  sc.min_seq = r.get_int("minSeq", 128, 1, 1 << 20);
  sc.max_seq = r.get_int("maxSeq", 16384, sc.min_seq, 1 << 20);
  if (r.has("variants")) {
    Napi::Value vs = r.raw("variants");
    if (!vs.IsArray()) throw Napi::TypeError::New(env, "benchAttention options.variants must be an array of names");
    Napi::Array a = vs.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) sc.variants.push_back(a.Get(i).ToString().Utf8Value());
  }
  sc.budget_s = r.get_double("budgetS", 270, 1, 86400);
  sc.max_memory_gb = r.get_double("maxMemoryGb", 0, 0, 4096);
  lshlab::CollisionConfig cc;
  cc.angles = r.get_int("angles", 16, 1, 1000);
  cc.trials = r.get_int("trials", 2000, 1, 10000000);
  std::shared_ptr<Napi::ThreadSafeFunction> tsfn;
  if (r.has("onProgress")) {
    Napi::Value f = r.raw("onProgress");
    if (!f.IsFunction()) throw Napi::TypeError::New(env, "benchAttention options.onProgress must be a function");
    tsfn = std::make_shared<Napi::ThreadSafeFunction>(
        Napi::ThreadSafeFunction::New(env, f.As<Napi::Function>(), "lshlab.benchAttention.progress", 0, 1));
  }
  r.finish();

  sc.B = single.B; sc.H = single.H; sc.D = single.D; sc.seed = single.seed; sc.params = single.params;
  lshlab::SweepConfig sw;
  sw.B = single.B; sw.T = single.T; sw.H = single.H; sw.D = single.D; sw.seed = single.seed;
  sw.dot_iters = single.dot_iters > 0 ? single.dot_iters : 100;
  cc.D = single.D; cc.seed = single.seed;
  // Collision settings come from the same params the variants take, validated the engine's way.
  if (mode == "collisions")
    guard(env, [&] {
      const char* who = "benchAttention options.params";
      cc.bands = int(lshlab::param_int(who, single.params, "bands", 2, 1, 64));
      cc.table_size = int(lshlab::param_int(who, single.params, "table_size", 64, 1, 1 << 30));
      cc.num_hashes = int(lshlab::param_int(who, single.params, "num_hashes", 1, 1, 1024));
      cc.combine_and = lshlab::param_choice(who, single.params, "combine", {"or", "and"}, 0) == 1;
      cc.tau = int(lshlab::param_int(who, single.params, "tau", 8, 1, 30));
    });

  auto out = std::make_shared<lshlab::Json>();
  lshlab::BenchProgress progress;
  if (tsfn)
    progress = [tsfn](const std::string& line) {
      tsfn->NonBlockingCall(new std::string(line), [](Napi::Env env, Napi::Function cb, std::string* s) {
        if (env != nullptr && cb != nullptr) cb.Call({Napi::String::New(env, *s)});
        delete s;
      });
    };
  return queue_promise(
      env, "lshlab.benchAttention",
      [out, mode, single, sc, sw, cc, time_iters, progress] {
        if (mode == "paper-table1")
          *out = lshlab::to_json(lshlab::run_paper_table1(single.seed, time_iters, single.dot_iters));
        else if (mode == "sweep")
          *out = lshlab::run_attention_sweep(sw, progress);
        else if (mode == "scaling")
          *out = lshlab::run_attention_scaling(sc, progress);
        else if (mode == "collisions")
          *out = lshlab::run_collision_curves(cc);
        else
          *out = lshlab::to_json(lshlab::run_attention_bench(single));
        out->set("mode", mode);
      },
      [out](Napi::Env env) -> Napi::Value { return json_to_js(env, *out); }, true,
      [tsfn] {
        if (tsfn) tsfn->Release();
      });
}

}  // namespace lshlab_addon
