/*
 * attention_maps.h: per layer and head attention maps of a trained model for one input, for the
 * Attention explorer. Loads a checkpoint directory (config.json + model.safetensors, as
 * Trainer::save writes it), runs the encoder forward in inference mode (no dropout; hash draws at
 * the given seed and step, by default those of Trainer::evaluate: seed 0, step 0), and for each
 * layer and head returns the exact softmax matrix from that layer's Q and K next to the variant's
 * effective matrix as the variant computed it in that forward, with the errors and the density
 * (definitions in attention/maps.h). Sequences are limited to kAttentionMapsMaxTokens.
 */
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "model/bert_config.h"

namespace lshlab {

constexpr int kAttentionMapsMaxTokens = 128;

struct AttentionMapsRequest {
  std::vector<int32_t> input_ids;       // (T), 1 <= T <= kAttentionMapsMaxTokens
  std::vector<int32_t> attention_mask;  // (T) or empty (all tokens)
  std::vector<int32_t> token_type_ids;  // (T) or empty (all zero)
  int layer = -1;                       // one layer, or -1 = every layer
  uint64_t seed = 0;                    // hash draws (Philox seed and step of the forward)
  uint32_t step = 0;
};

struct HeadMaps {
  std::vector<float> exact;       // (T,T) dense softmax P
  std::vector<float> variant;     // (T,T) effective W: W V = the variant's output
  std::vector<uint8_t> computed;  // (T,T) pairs the variant scored / collided / attended
  double output_rel_error = 0, mean_tv = 0, max_tv = 0, replay_error = 0, support = 0;
  double density = 0;             // counters: dot products / unpadded pairs
  double collisions = 0;          // counters: LSH collisions / unpadded pairs (yoso: per hash sum)
};

struct LayerMaps {
  int layer = 0;
  std::vector<HeadMaps> heads;  // (H)
};

struct AttentionMaps {
  std::string variant;
  AttentionParams params;
  std::string task;
  int T = 0, num_layers = 0, num_heads = 0;
  std::vector<LayerMaps> layers;  // the requested layer, or all
};

// Reads dir/config.json and dir/model.safetensors; throws lshlab::Error naming the problem
// (missing file, sequence too long, token id outside the vocabulary, layer out of range).
AttentionMaps attention_maps_forward(const std::string& checkpoint_dir, const AttentionMapsRequest& req);

template <typename T>
class BertModel;
// The same on a model already in memory (tests); runs its forward.
AttentionMaps attention_maps_forward(BertModel<float>& model, const AttentionMapsRequest& req);

}  // namespace lshlab
