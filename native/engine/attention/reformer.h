/*
 * reformer.h: Reformer LSH attention (Kitaev et al. 2020) as transformers' LSHSelfAttention
 * computes it (eval mode), forward and exact backward given the fixed hash/sort, CPU.
 *
 * Per (batch b, head h):
 *   shared QK: x = Q slice of qkv (our BERT's query projection plays HF's `query_key`); the K
 *     slice is ignored and receives zero gradient. Queries = x, keys = x / sqrt(|x|^2 + D*1e-6)
 *     (HF's _len_and_dim_norm), values = V slice. Logits q.k, no extra 1/sqrt(D) (as HF).
 *   hash: per round r < num_hashes, bucket(t) = argmax([x R_r; -x R_r]) with R (D, nh, nb/2)
 *     ~ N(0,1) from Philox (seed, Stream::Attention, step; site, b, h). Padding tokens (mask 0,
 *     and the internal padding up to a multiple of chunk_length) go to an extra bucket nb.
 *   sort: per round by (bucket, position), stable; the rounds are concatenated (HF's offsets)
 *     into G = nh * Tp / c chunks of c = chunk_length sorted slots.
 *   attend: chunk g sees chunks g-before .. g+after mod G (HF's circular _look_adjacent over the
 *     concatenated rounds, duplicates kept). Key = self -> logit -1e5; key = padding -> -1e9
 *     (replacements as HF's torch.where, not additive). P = exp(S - lse), out = P' V (P' =
 *     dropout(P) when training).
 *   combine: unsort; ctx[t] = sum_r out_r[t] * exp(lse_r[t] - logsumexp_r lse_r[t]).
 *   T <= chunk_length: no hashing, plain full attention with the same masks (HF's
 *     do_standard_self_attention; num_hashes then has no effect).
 * Differences from HF (documented for the BERT integration): T need not be a multiple of
 * chunk_length (padded internally with masked slots); num_buckets "auto" is re-derived per call
 * from the padded length and never factorised; rotations are drawn per (b, h), not shared across
 * the batch; attention dropout (BertConfig.attention_probs_dropout_prob) is applied to P when
 * training, with our Philox masks. No causal/decoder mode, no caching, no factorised buckets.
 */
#pragma once
#include "attention/attention.h"
#include "core/common.h"

namespace lshlab {

struct ReformerParams {
  int num_hashes = 1;         // hashing rounds (HF default 1)
  int num_buckets = 0;        // even, >= 2; 0 = auto (HF's rule: 2*chunks rounded down to 2^k)
  int chunk_length = 64;      // HF lsh_attn_chunk_length
  int num_chunks_before = 1;  // HF lsh_num_chunks_before
  int num_chunks_after = 0;   // HF lsh_num_chunks_after
  // Throws lshlab::Error naming the bad parameter.
  static ReformerParams parse(const AttentionParams& p);
};

template <typename T>
class ReformerAttention : public Attention<T> {
 public:
  explicit ReformerAttention(const ReformerParams& p) : p_(p) {}
  const char* name() const override { return "reformer"; }
  void forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call) override;
  void backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                const AttentionCall& call) override;
  // "rotations" (B,H,D,num_hashes,nb/2) = HF's random_rotations (H,D,nh,nb/2) per batch row;
  // "num_buckets" {nb}; "buckets" (B,H,nh,T); "standard" {1 if T <= chunk_length}. Empty
  // rotations/buckets in standard mode.
  std::vector<std::pair<std::string, std::vector<double>>> debug_state() const override;

 private:
  // Shape plan of the last forward (see reformer.cc: plan()).
  struct Plan {
    int B = 0, n = 0, H = 0, D = 0;  // n = sequence length T
    int R = 1;         // rounds actually used (1 in standard mode)
    int nb = 0;        // buckets per round (0 in standard mode)
    int c = 0;         // chunk length actually used (T in standard mode)
    int Tp = 0;        // T padded to a multiple of c
    int G = 0;         // chunks over all rounds = R*Tp/c
    int bef = 0, aft = 0;
    int W = 0;         // window width in keys = (1+bef+aft)*c
    int Gx = 0;        // chunks incl. halo = G+bef+aft
    bool standard = false;
    bool drop = false;
    double p = 0;
    uint64_t seed = 0;  // the call's random stream position (rotations)
    uint32_t step = 0, site = 0;
  };
  void plan(const AttentionCall& c, const int32_t* mask);
  void hash_and_gather(int bh, const T* qkv);  // forward stage 1
  void chunk_scores(int task);                       // S for one (bh, chunk)
  void chunk_softmax(int task);                      // masks, lse, P, dropout
  void chunk_values(int task);                       // out = P' V
  void combine(int bh, T* ctx);                      // unsort and weight the rounds
  void bwd_prepare(int bh, const T* dctx);           // dO, delta, dlse in sorted order
  void bwd_chunk_scores(int task);                   // dS, dQ sorted
  void bwd_chunk_keys(int task);                     // dK, dV sorted (gather over windows)
  void bwd_scatter(int bh, T* dqkv, const T* qkv);   // unsort, key norm backward

  ReformerParams p_;
  Plan s_;
  // All buffers per (b,h) block of the given size; grown once per shape, then reused.
  Buffer<uint8_t> valid_;  // (B,Tp) 1 = real token
  Buffer<T> rot_;          // (B,H,D,R,nb/2)
  Buffer<T> rotated_;      // (B,H,T,R*nb/2) scratch for the hash
  Buffer<int32_t> bucket_; // (B,H,R,T)
  Buffer<int32_t> order_;  // (B,H,R*Tp) sorted slot -> position
  Buffer<int32_t> undo_;   // (B,H,R*Tp) (r, position) -> sorted slot
  Buffer<int32_t> count_;  // (B,H,nb+2) counting-sort scratch
  Buffer<int32_t> xpos_;   // (B,H,Gx*c) position of each halo key row
  Buffer<T> kscale_;       // (B,H,Tp) key normalisation factor s = 1/sqrt(|x|^2 + D eps)
  Buffer<T> qs_;           // (B,H,G*c,D) raw queries, sorted
  Buffer<T> kx_;           // (B,H,Gx*c,D) normalised keys, sorted, with halo chunks
  Buffer<T> vx_;           // (B,H,Gx*c,D) values, sorted, with halo chunks
  Buffer<T> probs_;        // (B,H,G*c,W) scores, then P
  Buffer<T> pdrop_;        // (B,H,G*c,W) P after dropout (training only)
  Buffer<uint8_t> keep_;   // (B,H,G*c,W) dropout keep mask
  Buffer<T> lse_;          // (B,H,G*c) per-slot logsumexp
  Buffer<T> outs_;         // (B,H,G*c,D) per-round outputs, sorted
  Buffer<T> wts_;          // (B,H,R,T) round weights exp(lse_r - LSE)
  Buffer<int32_t> cvalid_; // (B,H,G) unpadded query slots per sorted chunk (counters)
  // Backward.
  Buffer<T> dout_;         // (B,H,G*c,D) d out per slot
  Buffer<T> drow_;         // (B,H,G*c) dlse - delta per slot
  Buffer<T> ds_;           // (B,H,G*c,W) dS
  Buffer<T> dqs_, dks_, dvs_;  // (B,H,G*c,D) gradients in sorted order
};

}  // namespace lshlab
