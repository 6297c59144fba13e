/*
 * attention_maps.cc: attentionMaps(checkpointDir, {inputIds, attentionMask?, tokenTypeIds?,
 * layer?, seed?, step?}) -> Promise<object>, the addon side of the Attention explorer
 * (engine: model/attention_maps.h). Inputs are copied out of JS on the JS thread; loading the
 * checkpoint and the forward run in an AsyncWorker holding the engine mutex; the result is built
 * on the JS thread with V8-allocated Float32Array / Uint8Array copies (no external buffers):
 *   {variant, params, task, tokens: T, numLayers, numHeads,
 *    layers: [{layer, heads: [{exact: Float32Array (T*T), variant: Float32Array (T*T),
 *              computed: Uint8Array (T*T), outputRelError, meanTv, maxTv, replayError,
 *              support, density, collisions}]}]}
 */
#include <cstring>
#include <memory>
#include <string>

#include "addon.h"
#include "model/attention_maps.h"

namespace lshlab_addon {

namespace {

std::vector<int32_t> copy_ids(Napi::Env env, Napi::Value v, const std::string& what) {
  Napi::Int32Array a = need_int32_array(env, v, what);
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

template <typename A, typename T>
A typed_copy(Napi::Env env, const std::vector<T>& v) {
  A a = A::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(T));
  return a;
}

Napi::Object maps_to_js(Napi::Env env, const lshlab::AttentionMaps& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("variant", m.variant);
  Napi::Object params = Napi::Object::New(env);
  for (const auto& kv : m.params) params.Set(kv.first, kv.second);
  o.Set("params", params);
  o.Set("task", m.task);
  o.Set("tokens", m.T);
  o.Set("numLayers", m.num_layers);
  o.Set("numHeads", m.num_heads);
  Napi::Array layers = Napi::Array::New(env, m.layers.size());
  for (size_t l = 0; l < m.layers.size(); l++) {
    Napi::Object lo = Napi::Object::New(env);
    lo.Set("layer", m.layers[l].layer);
    Napi::Array heads = Napi::Array::New(env, m.layers[l].heads.size());
    for (size_t h = 0; h < m.layers[l].heads.size(); h++) {
      const lshlab::HeadMaps& hm = m.layers[l].heads[h];
      Napi::Object ho = Napi::Object::New(env);
      ho.Set("exact", typed_copy<Napi::Float32Array>(env, hm.exact));
      ho.Set("variant", typed_copy<Napi::Float32Array>(env, hm.variant));
      ho.Set("computed", typed_copy<Napi::Uint8Array>(env, hm.computed));
      ho.Set("outputRelError", hm.output_rel_error);
      ho.Set("meanTv", hm.mean_tv);
      ho.Set("maxTv", hm.max_tv);
      ho.Set("replayError", hm.replay_error);
      ho.Set("support", hm.support);
      ho.Set("density", hm.density);
      ho.Set("collisions", hm.collisions);
      heads.Set(uint32_t(h), ho);
    }
    lo.Set("heads", heads);
    layers.Set(uint32_t(l), lo);
  }
  o.Set("layers", layers);
  return o;
}

}  // namespace

Napi::Value AttentionMaps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check_open(env);
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "attentionMaps(checkpointDir, input): checkpointDir must be a string");
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  auto req = std::make_shared<lshlab::AttentionMapsRequest>();
  FieldReader r(env, info.Length() > 1 ? info[1] : env.Undefined(), "attentionMaps input");
  req->input_ids = copy_ids(env, r.raw("inputIds"), "attentionMaps input.inputIds");
  if (r.has("attentionMask"))
    req->attention_mask = copy_ids(env, r.raw("attentionMask"), "attentionMaps input.attentionMask");
  if (r.has("tokenTypeIds"))
    req->token_type_ids = copy_ids(env, r.raw("tokenTypeIds"), "attentionMaps input.tokenTypeIds");
  req->layer = r.get_int("layer", -1, -1, 1 << 16);
  req->seed = r.get_uint64("seed", 0);
  req->step = uint32_t(r.get_int("step", 0, 0, 2147483647));
  r.finish();
  if (req->input_ids.size() > size_t(lshlab::kAttentionMapsMaxTokens))
    throw Napi::RangeError::New(env, "attentionMaps: the input has " + std::to_string(req->input_ids.size()) +
                                         " tokens; at most " + std::to_string(lshlab::kAttentionMapsMaxTokens) +
                                         " are shown (shorten the text)");
  auto out = std::make_shared<lshlab::AttentionMaps>();
  return queue_promise(
      env, "lshlab.attentionMaps",
      [dir, req, out] { *out = lshlab::attention_maps_forward(dir, *req); },
      [out](Napi::Env e) -> Napi::Value { return maps_to_js(e, *out); });
}

}  // namespace lshlab_addon
