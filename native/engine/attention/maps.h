/*
 * maps.h: attention maps, the engine side of the Attention explorer. For one attention call a
 * variant has just run (float, inference), the dense (T,T) matrix of weights it effectively
 * applied, replayed from the same hash draws (same Philox streams, seeds, steps and sites as its
 * forward), such that for every unpadded query i: ctx[i] = sum_j W[i,j] v_j. That identity is
 * checked against the variant's own output (replay_error; tests require < 1e-5), which is what
 * makes a heatmap of W an honest picture of what the variant did.
 *
 * Effective weights W per variant (one (b, h); i query, j key, n = T, padded keys weigh 0):
 *   exact     softmax(q_i.k_j / sqrt(D)).
 *   bert-lsh  Algorithm 1 replayed (bert_lsh.h): BertLshFamily::draw at (seed, step or reseed,
 *             site, b, h), buckets of Q and K rows, collisions (or / and), logits q_i.k_j on the
 *             support (transposed fill: triu(C) and its transpose; none: C), elsewhere 0
 *             (fill=zero) or excluded (fill=masked, diagonal fallback for an empty row); / sqrt(D);
 *             softmax. computed = the support.
 *   yoso-e    E_ij = f(s qn_i.kn_j), f(x) = (1 - acos(x)/pi)^tau (s = 0.98 with backward=exact);
 *             the variant outputs X / |X| with X = E V, so W = E / |X_i|. computed = all pairs.
 *   yoso      the realised collisions: E_ij = (1/m) #{hash h: code_h(q_i) = code_h(k_j)}, codes
 *             from yoso_planes / yoso_hash on the same unit rows; W = E / |X_i|. computed = pairs
 *             that collided under at least one hash.
 *   yoso-c    (conv_window w > 0): + the depthwise conv taps W[i, i+k-w/2] += w_h[k] on unpadded
 *             keys (linear in V, so it belongs to W; it can make W negative).
 *   reformer  per round r, the forward's buckets (debug_state "buckets"), the stable sort by
 *             (bucket, position), chunks of c sorted slots over the concatenated rounds, window of
 *             chunks g-bef .. g+aft (mod G), logits q.k_norm with self -> -1e5, padding -> -1e9,
 *             softmax per slot; rounds weighted by exp(lse_r - logsumexp_r lse_r). W[t, j] sums
 *             key j's window entries over rounds (duplicates included). computed = attended.
 * The exact reference P is the dense softmax the variant approximates: softmax(Q K^T / sqrt(D))
 * for exact, bert-lsh and yoso*; for reformer its own full shared-QK attention (normalised keys,
 * self masked: what it computes when T <= chunk_length), because reformer ignores the K slice.
 * Errors, over unpadded query rows:
 *   output_rel_error = |ctx - P V|_F / |P V|_F   (ctx: the variant's actual output)
 *   tv: row i's total-variation distance 0.5 sum_j |P_ij - |W_ij| / sum_j |W_ij||; mean and max
 *       over rows (scale-free: yoso's rows are not distributions; this compares where weight goes)
 *   replay_error = max |W V - ctx| / max |ctx|
 *   support = computed pairs / unpadded pairs
 */
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attention/attention.h"

namespace lshlab {

// One (b, h) of an attention call: row t of Q, K, V at qkv + (b*T + t)*3C + {0, C, 2C} + h*D.
struct AttentionHead {
  const float* qkv = nullptr;     // (B,T,3C) as given to the variant
  const int32_t* mask = nullptr;  // (B,T) or null (all tokens)
  AttentionCall call;             // the call the variant ran (B, T, H, D, seed, step, site)
  int b = 0, h = 0;
};

struct EffectiveAttention {
  std::vector<double> weights;    // (T,T) W: ctx[i] = sum_j W[i,j] v_j for unpadded i
  std::vector<uint8_t> computed;  // (T,T) 1 = pair the variant scored / collided / attended
};

struct AttentionMapErrors {
  double output_rel_error = 0, mean_tv = 0, max_tv = 0, replay_error = 0, support = 0;
};

// W for the head's last forward by `attn` (made by make_attention<float>(variant, params)).
// conv_w: YOSO-C weights (H, w) of this layer, or null. Throws for a training call (dropout
// masks are not replayed) or an unknown variant.
EffectiveAttention attention_effective_forward(const Attention<float>& attn,
                                               const std::string& variant,
                                               const AttentionParams& params,
                                               const AttentionHead& x, const float* conv_w);

// P (T,T): the dense softmax attention variant `variant` approximates (see above).
std::vector<double> attention_exact_forward(const std::string& variant, const AttentionHead& x);

// Errors between P and W given the variant's output ctx (B,T,C).
AttentionMapErrors attention_map_errors(const std::vector<double>& P, const EffectiveAttention& W,
                                        const AttentionHead& x, const float* ctx);

}  // namespace lshlab
