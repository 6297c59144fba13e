/*
 * cuda_attention_bert_lsh.cc: bert-lsh on CUDA behind the variant seam
 * (model/cuda_attention_variant.h): the bert_lsh_* entries of the ABI (native/cuda/bert_lsh_*.cu),
 * the per-layer state the backward needs (codes (2,B,H,nh,T), stats (2,B,H,T): row logsumexp
 * and fallback flags) and counters equal to BertLshAttention's: pairs, dot_products and
 * collisions per head come from the kernels' integer counts, flops_hash is the CPU's formula.
 * flops_scores / softmax / values count what the kernels do (2 D per scored pair; the online
 * softmax and P V over every key under fill=zero, over the entries under fill=masked), which the
 * CPU's two paths count differently. flops_backward likewise counts these kernels' work, which
 * neither CPU path's count describes (the CPU counts pairs with padded tokens too, and its
 * dense-dropout and blocked paths count their gemms' slots): per scored pair 8 D + 4 (the logit
 * recomputed from the forward's lse, dO.v, dq and dk, the softmax's few scalars) and per key the
 * forward attended 2 D (P' dO into dV: every (row, key) slot under fill=zero, the scored pairs
 * under fill=masked, as the forward's flops_values), so fill=masked with symmetric=none is
 * exact's 10 D + 4 per pair. As in the forward's counts, a transposed-fill pair is counted once,
 * though its mirrored entry also takes a dO.v and a dV update.
 * Stage times (device events, model/cuda_attention_variant.h): the bert_lsh_forward entry draws,
 * hashes, sorts (sorted path) and attends in one call; up to the library's mark (codes ready,
 * and sorted on the sorted path) is time_hash_s, the rest time_scores_s; the backward entry is
 * time_backward_s; time_softmax_s and time_values_s stay 0.
 * The kernels pick their path: dense tiles, or with disjoint buckets (one hash, or combine=and)
 * the bucket-sorted kernels, O(colliding pairs + T D) per head for fill=masked and for fill=zero
 * (its zero logits through per-head sums of V and of c_i dO_i; with attention dropout fill=zero
 * stays dense, as the CPU). Results agree to float rounding and the counters do not depend on
 * the path (flops_softmax / values keep the dense kernels' count for fill=zero).
 */
#include "attention/bert_lsh.h"
#include "model/bert_cuda_attention.h"

namespace lshlab {
namespace {

class CudaBertLsh final : public CudaAttentionVariant {
 public:
  CudaBertLsh(const lshlab_cuda_api_v1* a, const BertConfig& cfg)
      : CudaAttentionVariant(a), a_(a), cfg_(bert_lsh_parse(cfg.attention_params)),
        H_(cfg.num_attention_heads), D_(cfg.hidden_size / cfg.num_attention_heads) {
    p_.bands = cfg_.bands;
    p_.table_size = cfg_.table_size;
    p_.num_hashes = cfg_.num_hashes;
    p_.fill_masked = cfg_.fill_masked;
    p_.symmetric_none = cfg_.symmetric_none;
    p_.combine_and = cfg_.combine_and;
    p_.reseed_fixed = cfg_.reseed_fixed;
    stats_.bind(a); codes_.bind(a); counts_.bind(a);
  }

  void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
               const lshlab_cuda_dropout* dropout, uint64_t seed, uint32_t step, uint32_t site,
               DeviceArray<unsigned char>& ws) override {
    size_t bytes = 0;
    ok(a_->bert_lsh_workspace_size(&bytes, B, T, H_, D_, &p_), "bert_lsh_workspace_size");
    ws.resize(bytes);
    const size_t bht = size_t(B) * H_ * T;
    stats_.resize(2 * bht);
    codes_.resize(2 * bht * size_t(cfg_.num_hashes));
    counts_.resize(2 * size_t(H_));
    times_.start(CudaStageTimes::kScores);
    if (B > 0 && T > 0) times_.mark_hash();
    ok(a_->bert_lsh_forward(ctx, stats_.data(), codes_.data(), nullptr, nullptr, counts_.data(),
                            ws.data(), qkv, mask, B, T, H_, D_, &p_, seed, step, site, dropout),
       "bert_lsh_forward");
    times_.stop(CudaStageTimes::kScores);
  }

  void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                const int32_t* mask, int B, int T, const lshlab_cuda_dropout* dropout,
                DeviceArray<unsigned char>& ws) override {
    times_.start(CudaStageTimes::kBackward);
    ok(a_->bert_lsh_backward(dqkv, ws.data(), dctx, qkv, ctx, stats_.data(), codes_.data(), mask,
                             B, T, H_, D_, &p_, dropout),
       "bert_lsh_backward");
    times_.stop(CudaStageTimes::kBackward);
  }

  // Sizes, the dense or sorted path (bert_lsh_forward: from the options, T, D and whether there is
  // attention dropout) and every launch follow the shape and options, not the data; the planes
  // and coefficients are drawn from the device step constants where the library does
  // (cuda_hash_draws_device); the counts are read back in counters(), after the step.
  bool capturable() const override { return cuda_hash_draws_device(a_); }

  void counters(AttentionCounters& k, const int32_t* mask, int B, int T, bool backward) const override {
    k.reset(H_);
    std::vector<double> c(2 * size_t(H_), 0.0);
    counts_.download(c.data(), c.size());
    k.set_unpadded_pairs(mask, B, T, H_);
    double dots = 0;
    for (int h = 0; h < H_; h++) {
      k.head_dot_products[size_t(h)] = c[size_t(h)];
      k.head_collisions[size_t(h)] = c[size_t(h)] - c[size_t(H_ + h)];
      dots += c[size_t(h)];
    }
    k.sum_heads();
    const double rows = double(B) * H_ * T, keys = cfg_.fill_masked ? dots : rows * T;
    k.flops_hash = 2.0 * rows * 2 * D_ * cfg_.bands * cfg_.num_hashes;  // as bert_lsh.cc
    k.flops_scores = 2.0 * D_ * dots;
    k.flops_softmax = 5.0 * keys;
    k.flops_values = 2.0 * D_ * keys;
    if (backward) k.flops_backward = (8.0 * D_ + 4.0) * dots + 2.0 * D_ * keys;
    times_.read(k, backward);
  }

 private:
  const lshlab_cuda_api_v1* a_;
  BertLshConfig cfg_;
  lshlab_cuda_bert_lsh_params p_{};
  int H_, D_;
  DeviceArray<float> stats_;
  DeviceArray<int32_t> codes_;
  DeviceArray<double> counts_;
  void ok(int rc, const char* what) const { cuda_ok(*a_, rc, what); }
};

}  // namespace

std::string cuda_bert_lsh_unsupported(const BertConfig& cfg) {
  const BertLshConfig c = bert_lsh_parse(cfg.attention_params);  // throws on a bad parameter
  const int D = cfg.hidden_size / cfg.num_attention_heads;
  if (int64_t(c.num_hashes) * c.bands * D > (int64_t(1) << 18))
    return "bert-lsh: num_hashes * bands * head size must be <= 262144";
  return "";
}

std::unique_ptr<CudaAttentionVariant> make_cuda_bert_lsh(const lshlab_cuda_api_v1* a,
                                                         const BertConfig& cfg) {
  return std::make_unique<CudaBertLsh>(a, cfg);
}

}  // namespace lshlab
