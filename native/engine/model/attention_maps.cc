/*
 * attention_maps.cc: attention maps of a checkpoint for one input (see attention_maps.h): load,
 * one inference forward, then per layer and head the replay of attention/maps.h.
 */
#include "model/attention_maps.h"

#include "attention/maps.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "model/bert.h"

namespace lshlab {

AttentionMaps attention_maps_forward(BertModel<float>& model, const AttentionMapsRequest& req) {
  const BertConfig& cfg = model.config();
  const int n = int(req.input_ids.size());
  LSHLAB_CHECK(n >= 1, "attention maps: the input has no tokens");
  LSHLAB_CHECK(n <= kAttentionMapsMaxTokens,
               "attention maps: the input has " + std::to_string(n) + " tokens; at most " +
                   std::to_string(kAttentionMapsMaxTokens) + " are shown (shorten the text)");
  LSHLAB_CHECK(req.attention_mask.empty() || int(req.attention_mask.size()) == n,
               "attention maps: attention_mask must have one entry per token");
  LSHLAB_CHECK(req.token_type_ids.empty() || int(req.token_type_ids.size()) == n,
               "attention maps: token_type_ids must have one entry per token");
  LSHLAB_CHECK(req.layer >= -1 && req.layer < cfg.num_hidden_layers,
               "attention maps: layer " + std::to_string(req.layer) + " is outside [0, " +
                   std::to_string(cfg.num_hidden_layers) + ")");
  Batch batch;
  batch.B = 1;
  batch.T = n;
  batch.input_ids = req.input_ids.data();
  batch.attention_mask = req.attention_mask.empty() ? nullptr : req.attention_mask.data();
  batch.token_type_ids = req.token_type_ids.empty() ? nullptr : req.token_type_ids.data();
  ForwardOptions fo;  // training = false: no dropout
  fo.seed = req.seed;
  fo.step = req.step;
  model.forward(batch, fo);

  AttentionMaps out;
  out.variant = cfg.attention;
  out.params = cfg.attention_params;
  out.task = task_name(cfg.task);
  out.T = n;
  out.num_layers = cfg.num_hidden_layers;
  out.num_heads = cfg.num_attention_heads;
  const int H = cfg.num_attention_heads;
  for (int l = 0; l < cfg.num_hidden_layers; l++) {
    if (req.layer >= 0 && l != req.layer) continue;
    const float* conv_w = nullptr;  // YOSO-C's per-layer conv (H,1,w,1), if the variant has one
    if (const ParamInfo* pi = model.params().find("bert.encoder.layer." + std::to_string(l) +
                                                  ".attention.self.conv.weight"))
      conv_w = model.params().data.data() + pi->offset;
    const AttentionCounters& k = model.attention_counters(l);
    LayerMaps lm;
    lm.layer = l;
    for (int h = 0; h < H; h++) {
      AttentionHead x;
      x.qkv = model.layer_qkv(l);
      x.mask = model.attention_mask();
      x.call = model.attention_call(l);
      x.b = 0;
      x.h = h;
      const EffectiveAttention W = attention_effective_forward(model.attention(l), cfg.attention,
                                                               cfg.attention_params, x, conv_w);
      const std::vector<double> P = attention_exact_forward(cfg.attention, x);
      const AttentionMapErrors e = attention_map_errors(P, W, x, model.layer_ctx(l));
      HeadMaps hm;
      hm.exact.assign(P.begin(), P.end());
      hm.variant.assign(W.weights.begin(), W.weights.end());
      hm.computed = W.computed;
      hm.output_rel_error = e.output_rel_error;
      hm.mean_tv = e.mean_tv;
      hm.max_tv = e.max_tv;
      hm.replay_error = e.replay_error;
      hm.support = e.support;
      hm.density = k.head_density(h);
      hm.collisions = k.head_pairs[size_t(h)] > 0 ? k.head_collisions[size_t(h)] / k.head_pairs[size_t(h)] : 0;
      lm.heads.push_back(std::move(hm));
    }
    out.layers.push_back(std::move(lm));
  }
  return out;
}

AttentionMaps attention_maps_forward(const std::string& dir, const AttentionMapsRequest& req) {
  LSHLAB_CHECK(int(req.input_ids.size()) <= kAttentionMapsMaxTokens,
               "attention maps: the input has " + std::to_string(req.input_ids.size()) +
                   " tokens; at most " + std::to_string(kAttentionMapsMaxTokens) +
                   " are shown (shorten the text)");
  const std::string cpath = dir + "/config.json";
  const BertConfig cfg = bert_config_from_json(read_file_string(cpath), cpath);
  BertModel<float> model(cfg);
  load_checkpoint(dir, cfg, model.params(), nullptr, nullptr);
  return attention_maps_forward(model, req);
}

}  // namespace lshlab
