/*
 * trainer_object.cc: the JS class Trainer over lshlab::Trainer.
 *
 *   new Trainer(modelConfig, trainConfig)     validates (errors name the camelCase field)
 *   step(batch)              -> Promise<StepStats>   (with `attention`: per-layer, per-head counters)
 *   evaluate(batch, {returnLogits}) -> Promise<{loss, predictions, correct, attention, logits?}>
 *   save(dir) / load(dir)    -> Promise<void>
 *   initFrom(dir)            -> Promise<{dir, sourceStep, sourceTask, sourceAttention, loaded,
 *                               ignored, initialised, notes}>   (encoder weights, before step 1)
 *   numParameters, stepCount, config, trainConfig   (getters)
 *
 * One operation at a time per Trainer: a call made while another is in flight is rejected with a
 * clear error (the engine's Trainer is not thread-safe). While an operation runs, the worker holds
 * a reference to the JS object so it cannot be collected under it.
 */
#include <cstring>
#include <memory>

#include "addon.h"
#include "core/common.h"

namespace lshlab_addon {

namespace {

class TrainerObject : public Napi::ObjectWrap<TrainerObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Trainer",
        {
            InstanceMethod<&TrainerObject::Step>("step"),
            InstanceMethod<&TrainerObject::Evaluate>("evaluate"),
            InstanceMethod<&TrainerObject::Save>("save"),
            InstanceMethod<&TrainerObject::Load>("load"),
            InstanceMethod<&TrainerObject::InitFrom>("initFrom"),
            InstanceAccessor<&TrainerObject::NumParameters>("numParameters"),
            InstanceAccessor<&TrainerObject::StepCount>("stepCount"),
            InstanceAccessor<&TrainerObject::Config>("config"),
            InstanceAccessor<&TrainerObject::TrainConfigJs>("trainConfig"),
            InstanceAccessor<&TrainerObject::Busy>("busy"),
        });
  }

  explicit TrainerObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerObject>(info) {
    Napi::Env env = info.Env();
    if (!info.IsConstructCall()) throw Napi::TypeError::New(env, "Trainer must be called with new");
    cfg_ = read_bert_config(env, info.Length() > 0 ? info[0] : env.Undefined(), "modelConfig");
    tcfg_ = read_train_config(env, info.Length() > 1 ? info[1] : env.Undefined(), "trainConfig");
    // Weight initialisation may use the global thread pool: take the engine lock like any worker.
    std::lock_guard<std::mutex> lock(engine_mutex());
    try {
      trainer_ = std::make_shared<lshlab::Trainer>(cfg_, tcfg_);
      num_parameters_ = trainer_->num_parameters();
      step_count_ = trainer_->step();
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, "new Trainer: " + camelize_fields(e.what()));
    }
  }

 private:
  // Marks the trainer busy and returns a `done` callback that clears the flag and releases the
  // JS object reference taken for the duration of the operation.
  std::function<void()> begin(Napi::Env env, const char* op) {
    check_open(env);
    if (busy_)
      throw Napi::Error::New(env, std::string("Trainer.") + op + ": another operation (" + busy_op_ +
                                      ") is still running on this Trainer; await it first");
    busy_ = true;
    busy_op_ = op;
    auto self = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Value()));
    return [this, self]() {
      busy_ = false;
      busy_op_.clear();
      self->Reset();
    };
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto batch = std::make_shared<OwnedBatch>(
        read_batch(env, info.Length() > 0 ? info[0] : env.Undefined(), cfg_, "batch"));
    auto done = begin(env, "step");
    auto stats = std::make_shared<lshlab::StepStats>();
    std::shared_ptr<lshlab::Trainer> tr = trainer_;
    return queue_promise(
        env, "lshlab.Trainer.step",
        [tr, batch, stats] { *stats = tr->train_step(batch->view()); },
        [this, stats](Napi::Env env) -> Napi::Value {
          step_count_ = stats->step;
          Napi::Object o = Napi::Object::New(env);
          o.Set("step", static_cast<double>(stats->step));
          o.Set("loss", stats->loss);
          o.Set("gradNorm", stats->grad_norm);
          o.Set("lr", stats->lr);
          o.Set("seconds", stats->seconds);
          // A CUDA graph step is timed only as a whole (deviceS): no parts rather than zeros.
          if (!stats->cuda_graph) {
            o.Set("forwardS", stats->forward_s);
            o.Set("backwardS", stats->backward_s);
            o.Set("optimizerS", stats->optimizer_s);
          } else {
            o.Set("cudaGraph", true);
          }
          if (stats->device_s > 0) o.Set("deviceS", stats->device_s);
          o.Set("tokens", static_cast<double>(stats->tokens));
          o.Set("predictions", static_cast<double>(stats->predictions));
          o.Set("correct", static_cast<double>(stats->correct));
          o.Set("flops", stats->flops);
          o.Set("attention", attention_stats_to_js(env, stats->attention));
          return o;
        },
        true, done);
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto batch = std::make_shared<OwnedBatch>(
        read_batch(env, info.Length() > 0 ? info[0] : env.Undefined(), cfg_, "batch"));
    FieldReader r(env, info.Length() > 1 ? info[1] : env.Undefined(), "evaluate options", true);
    const bool want_logits = r.get_bool("returnLogits", false);
    r.finish();
    auto done = begin(env, "evaluate");
    auto stats = std::make_shared<lshlab::EvalStats>();
    auto logits = std::make_shared<std::vector<float>>();
    std::shared_ptr<lshlab::Trainer> tr = trainer_;
    return queue_promise(
        env, "lshlab.Trainer.evaluate",
        [tr, batch, stats, logits, want_logits] {
          *stats = tr->evaluate(batch->view(), want_logits ? logits.get() : nullptr);
        },
        [stats, logits, want_logits](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("loss", stats->loss);
          o.Set("predictions", static_cast<double>(stats->predictions));
          o.Set("correct", static_cast<double>(stats->correct));
          o.Set("attention", attention_stats_to_js(env, stats->attention));
          if (want_logits) {
            // V8-owned memory, filled by copy (no external buffers).
            Napi::Float32Array a = Napi::Float32Array::New(env, logits->size());
            if (!logits->empty())
              std::memcpy(a.Data(), logits->data(), logits->size() * sizeof(float));
            o.Set("logits", a);
          }
          return o;
        },
        true, done);
  }

  std::string need_dir(const Napi::CallbackInfo& info, const char* op) {
    if (info.Length() < 1 || !info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty())
      throw Napi::TypeError::New(info.Env(),
                                 std::string("Trainer.") + op + "(dir): dir must be a non-empty string");
    return info[0].As<Napi::String>().Utf8Value();
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string dir = need_dir(info, "save");
    auto done = begin(env, "save");
    std::shared_ptr<lshlab::Trainer> tr = trainer_;
    return queue_promise(
        env, "lshlab.Trainer.save", [tr, dir] { tr->save(dir); }, nullptr, true, done);
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string dir = need_dir(info, "load");
    auto done = begin(env, "load");
    std::shared_ptr<lshlab::Trainer> tr = trainer_;
    auto step = std::make_shared<int64_t>(0);
    auto cfg = std::make_shared<lshlab::BertConfig>();
    return queue_promise(
        env, "lshlab.Trainer.load",
        [tr, dir, step, cfg] {
          tr->load(dir);
          *step = tr->step();
          *cfg = tr->config();
        },
        [this, step, cfg](Napi::Env env) -> Napi::Value {
          step_count_ = *step;
          cfg_ = *cfg;
          return env.Undefined();
        },
        true, done);
  }

  Napi::Value InitFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string dir = need_dir(info, "initFrom");
    auto done = begin(env, "initFrom");
    std::shared_ptr<lshlab::Trainer> tr = trainer_;
    auto rep = std::make_shared<lshlab::InitFromReport>();
    return queue_promise(
        env, "lshlab.Trainer.initFrom", [tr, dir, rep] { *rep = tr->init_from(dir); },
        [rep](Napi::Env env) -> Napi::Value {
          auto strings = [&](const std::vector<std::string>& v) {
            Napi::Array a = Napi::Array::New(env, v.size());
            for (size_t i = 0; i < v.size(); i++) a.Set(uint32_t(i), v[i]);
            return a;
          };
          Napi::Object o = Napi::Object::New(env);
          o.Set("dir", rep->dir);
          if (rep->source_step >= 0) o.Set("sourceStep", static_cast<double>(rep->source_step));
          o.Set("sourceTask", rep->source_task);
          if (!rep->source_attention.empty()) o.Set("sourceAttention", rep->source_attention);
          o.Set("loaded", strings(rep->loaded));
          o.Set("ignored", strings(rep->ignored));
          o.Set("initialised", strings(rep->initialised));
          o.Set("notes", strings(rep->notes));
          return o;
        },
        true, done);
  }

  // Getters read values cached on the JS thread, never the engine object (which a worker may be
  // using at that moment).
  Napi::Value NumParameters(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(num_parameters_));
  }
  Napi::Value StepCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(step_count_));
  }
  Napi::Value Config(const Napi::CallbackInfo& info) { return bert_config_to_js(info.Env(), cfg_); }
  Napi::Value TrainConfigJs(const Napi::CallbackInfo& info) {
    return train_config_to_js(info.Env(), tcfg_);
  }
  Napi::Value Busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }

  // shared_ptr: a worker keeps the engine object alive even if this wrapper were finalised first.
  std::shared_ptr<lshlab::Trainer> trainer_;
  lshlab::BertConfig cfg_;
  lshlab::TrainConfig tcfg_;
  int64_t num_parameters_ = 0;
  int64_t step_count_ = 0;
  bool busy_ = false;
  std::string busy_op_;
};

}  // namespace

Napi::Function define_trainer_class(Napi::Env env) { return TrainerObject::Define(env); }

}  // namespace lshlab_addon
