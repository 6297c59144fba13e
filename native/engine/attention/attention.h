/*
 * attention.h: the seam every attention variant plugs into. A variant owns its forward, its
 * backward and its counters; the model only hands it Q, K, V and the padding mask and gets the
 * context back. One instance per encoder layer, so it can keep what its backward needs.
 *
 * Layout: qkv is (B,T,3C) as produced by the fused QKV projection: Q in columns [0,C), K in
 * [C,2C), V in [2C,3C); head h uses columns h*D .. h*D+D-1 of each. ctx is (B,T,C) with head h in
 * columns h*D.. (the layout HF's context_layer has after merging heads).
 * Variants implemented: exact (softmax). The LSH variants come in a later issue behind this API.
 */
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lshlab {

// Per-call work and time of an attention variant, by stage. FLOPs count a multiply-add as 2.
struct AttentionCounters {
  double flops_hash = 0, flops_scores = 0, flops_softmax = 0, flops_values = 0, flops_backward = 0;
  double dot_products = 0;       // query-key dot products actually computed
  double pairs = 0;              // query-key pairs that exist (B*H*T*T, unpadded)
  double time_hash_s = 0, time_scores_s = 0, time_softmax_s = 0, time_values_s = 0,
         time_backward_s = 0;
  double collision_density() const { return pairs > 0 ? dot_products / pairs : 0; }
  double flops_forward() const { return flops_hash + flops_scores + flops_softmax + flops_values; }
  void reset() { *this = AttentionCounters(); }
};

// Everything a call needs besides the tensors: shapes, dropout and the random stream position.
struct AttentionCall {
  int B = 0, T = 0, H = 0, D = 0;
  bool training = false;
  double dropout = 0;       // attention-probability dropout
  uint64_t seed = 0;
  uint32_t step = 0;
  uint32_t site = 0;        // unique per layer, for dropout and hash streams
};

// Variant parameters as given by the user ("bands" -> "2"); each variant validates its own.
using AttentionParams = std::map<std::string, std::string>;

template <typename T>
class Attention {
 public:
  virtual ~Attention() = default;
  virtual const char* name() const = 0;
  // ctx (B,T,C) <- attention(qkv (B,T,3C), mask (B,T) 1 = token, or null).
  virtual void forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call) = 0;
  // dqkv (B,T,3C) overwritten <- d loss / d qkv, given dctx (B,T,C) and the last forward's state.
  virtual void backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                        const AttentionCall& call) = 0;
  // Counters of the last forward (and backward, if run since).
  const AttentionCounters& counters() const { return counters_; }
  // The random draws of the last forward (hash planes, rotations...) as named float64 arrays,
  // so reference tests can hand the same draws to another implementation. Empty by default.
  virtual std::vector<std::pair<std::string, std::vector<double>>> debug_state() const { return {}; }

 protected:
  AttentionCounters counters_;
};

// Creates a variant by name; throws lshlab::Error naming an unknown variant or a bad parameter.
template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, const AttentionParams& params);

// Names of the variants this build implements.
const char* const* attention_variant_names();

}  // namespace lshlab
