/*
 * attention.h: the seam every attention variant plugs into. A variant owns its forward, its
 * backward, its counters and (optionally) its learnable parameters; the model hands it Q, K, V and
 * the padding mask and gets the context back. One instance per encoder layer, so it can keep what
 * its backward needs.
 *
 * Layout: qkv is (B,T,3C) as produced by the fused QKV projection: Q in columns [0,C), K in
 * [C,2C), V in [2C,3C); head h uses columns h*D .. h*D+D-1 of each. ctx is (B,T,C) with head h in
 * columns h*D.. (the layout HF's context_layer has after merging heads).
 *
 * Variant-owned parameters (e.g. YOSO-C's depthwise conv): parameter_specs(H, D) declares them
 * (HF name suffix under "bert.encoder.layer.{i}.", HF shape, init); the model allocates them in
 * its flat parameter layout (so AdamW, clipping, zeroing and safetensors checkpoints cover them),
 * initialises them and calls bind_parameters() with pointers into its value and gradient buffers.
 * forward() reads the values; backward() ADDS d loss / d param into the gradients (the model
 * zeroes them between steps), unlike dqkv, which it overwrites. Outside a model (tests,
 * benchmarks, dump-attention) StandaloneAttentionParams owns and binds them.
 *
 * Counters (AttentionCounters, per call, per head and summed over heads). Over UNPADDED pairs:
 *   pairs         (query, key) pairs that exist: H * sum_b n_b^2, n_b = unpadded tokens of row b.
 *   dot_products  query-key dot products q_i.k_j computed with both i and j unpadded (products a
 *                 kernel spends on padding are not counted; every variant could skip them):
 *                   exact     = pairs (density 1)
 *                   bert-lsh  colliding pairs it scores: i <= j under symmetric=transposed-fill (one
 *                             product serves A[i,j] and A[j,i]), all (i,j) under symmetric=none,
 *                             plus fill=masked's diagonal fallbacks; the blocked path counts the
 *                             same pairs (its gemms multiply more, see flops_*)
 *                   yoso-e    = pairs (the dense Qn Kn^T)
 *                   yoso      0 in forward (no query-key product is formed: values are summed by
 *                             bucket); backward=exact adds one product per collision
 *                   reformer  window entries of the chunks attended (query slot and key unpadded,
 *                             self pairs included); num_hashes rounds attend a pair once per round,
 *                             so density can exceed 1 with several rounds
 *   collisions    LSH bucket matches, the quantity that scales with the kernel's sparsity:
 *                   yoso      (query, key, hash function) triples with equal codes, i, j unpadded,
 *                             counted in the forward (the backward walks the same ones again)
 *                   bert-lsh  the colliding pairs it scores (dot_products less fill=masked's
 *                             diagonal fallbacks)
 *                   exact, yoso-e, reformer: 0 (reformer attends chunks of the sorted order, not
 *                             buckets)
 *   density = dot_products / pairs. Per head h (vectors of size H, summed over the batch):
 *   head_pairs, head_dot_products, head_collisions; they sum to the totals exactly.
 * Counting is O(buckets / chunks / pairs already enumerated): no extra pass over T x T.
 */
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lshlab {

// Per-call work and time of an attention variant, by stage (definitions in the header comment).
// FLOPs count a multiply-add as 2. Stage times are wall time of the call's phases.
struct AttentionCounters {
  double flops_hash = 0, flops_scores = 0, flops_softmax = 0, flops_values = 0, flops_backward = 0;
  double dot_products = 0;       // query-key dot products computed between unpadded tokens
  double pairs = 0;              // unpadded query-key pairs that exist (H * sum_b n_b^2)
  double collisions = 0;         // LSH bucket matches (yoso: (query, key, hash) triples)
  double time_hash_s = 0, time_scores_s = 0, time_softmax_s = 0, time_values_s = 0,
         time_backward_s = 0;
  std::vector<double> head_dot_products, head_pairs, head_collisions;  // (H) each
  double collision_density() const { return pairs > 0 ? dot_products / pairs : 0; }
  double head_density(int h) const {
    return head_pairs[size_t(h)] > 0 ? head_dot_products[size_t(h)] / head_pairs[size_t(h)] : 0;
  }
  double flops_forward() const { return flops_hash + flops_scores + flops_softmax + flops_values; }
  // Zeroes everything and sizes the per-head vectors to H (keeping their capacity).
  void reset(int H = 0) {
    flops_hash = flops_scores = flops_softmax = flops_values = flops_backward = 0;
    dot_products = pairs = collisions = 0;
    time_hash_s = time_scores_s = time_softmax_s = time_values_s = time_backward_s = 0;
    head_dot_products.assign(size_t(H), 0.0);
    head_pairs.assign(size_t(H), 0.0);
    head_collisions.assign(size_t(H), 0.0);
  }
  // Totals from the per-head vectors.
  void sum_heads() {
    dot_products = pairs = collisions = 0;
    for (size_t h = 0; h < head_pairs.size(); h++) {
      dot_products += head_dot_products[h];
      pairs += head_pairs[h];
      collisions += head_collisions[h];
    }
  }
  // head_pairs[h] = sum_b n_b^2 for every head (mask (B,T) or null = all T tokens).
  void set_unpadded_pairs(const int32_t* mask, int B, int T, int H) {
    double p = 0;
    for (int b = 0; b < B; b++) {
      double n = T;
      if (mask) { n = 0; for (int t = 0; t < T; t++) n += mask[int64_t(b) * T + t] != 0; }
      p += n * n;
    }
    head_pairs.assign(size_t(H), p);
  }
  // Adds o into this (per-head vectors elementwise; sizes must agree or this must be empty).
  void add(const AttentionCounters& o) {
    flops_hash += o.flops_hash; flops_scores += o.flops_scores; flops_softmax += o.flops_softmax;
    flops_values += o.flops_values; flops_backward += o.flops_backward;
    dot_products += o.dot_products; pairs += o.pairs; collisions += o.collisions;
    time_hash_s += o.time_hash_s; time_scores_s += o.time_scores_s;
    time_softmax_s += o.time_softmax_s; time_values_s += o.time_values_s;
    time_backward_s += o.time_backward_s;
    auto acc = [](std::vector<double>& a, const std::vector<double>& b) {
      if (a.empty()) a.assign(b.size(), 0.0);
      for (size_t i = 0; i < a.size() && i < b.size(); i++) a[i] += b[i];
    };
    acc(head_dot_products, o.head_dot_products);
    acc(head_pairs, o.head_pairs);
    acc(head_collisions, o.head_collisions);
  }
};

// A learnable parameter a variant owns, per layer.
struct AttentionParamSpec {
  std::string name;             // HF suffix after "bert.encoder.layer.{i}.", e.g. "attention.self.conv.weight"
  std::vector<int64_t> shape;   // HF shape, e.g. (H, 1, w, 1)
  double init_uniform_bound = 0;  // initialised U(-b, b) from Philox stream Init (0: zeros)
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
  // Learnable parameters of this variant for H heads of size D (none by default), and binding of
  // their storage: data[i], grad[i] point to parameter_specs()[i]'s values and gradient, which
  // stay valid until the next bind. Forward reads data; backward adds into grad.
  virtual std::vector<AttentionParamSpec> parameter_specs(int H, int D) const {
    (void)H; (void)D;
    return {};
  }
  virtual void bind_parameters(const std::vector<T*>& data, const std::vector<T*>& grad) {
    (void)data; (void)grad;
  }
  // The random draws of the last forward (hash planes, rotations...) as named float64 arrays,
  // so reference tests can hand the same draws to another implementation. Empty by default.
  virtual std::vector<std::pair<std::string, std::vector<double>>> debug_state() const { return {}; }

 protected:
  AttentionCounters counters_;
};

// Storage for a variant's parameters outside a model (tests, benchmarks, dump-attention):
// allocates parameter_specs(H, D), initialises them as the model does (U(-b, b) from Philox
// stream Init, element e of spec i at index (i << 36) + e) and binds them. grad starts at zero.
template <typename T>
struct StandaloneAttentionParams {
  std::vector<AttentionParamSpec> specs;
  std::vector<std::vector<T>> data, grad;
  void attach(Attention<T>& a, int H, int D, uint64_t seed);
  void zero_grad() { for (auto& g : grad) std::fill(g.begin(), g.end(), T(0)); }
};

// Creates a variant by name; throws lshlab::Error naming an unknown variant or a bad parameter.
template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, const AttentionParams& params);

// The parameters variant `name` declares for H heads of size D (validates params like
// make_attention).
std::vector<AttentionParamSpec> attention_parameter_specs(const std::string& name,
                                                          const AttentionParams& params, int H, int D);

// Names of the variants this build implements.
const char* const* attention_variant_names();

}  // namespace lshlab
