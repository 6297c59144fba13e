/*
 * cuda_attention_reformer.cc: reformer attention on CUDA behind the variant seam
 * (model/cuda_attention_variant.h): the reformer_* entries of the CUDA ABI (native/cuda/
 * reformer_*.cu), the per-layer state the backward needs (slot maps, per-slot lse, round
 * weights and outputs, key scales) and counters equal to ReformerAttention's.
 * Why the counters are host arithmetic: every count the CPU variant makes is a function of the
 * shape and the mask. Per (b,h), sorted chunk g of round r holds clamp(n_b - i c, 0, c) unpadded
 * query slots (i = g's chunk within the round; the padding bucket sorts last, so each round
 * starts with its n_b unpadded tokens), and a window's unpadded keys are the sum over its
 * chunks; in standard mode the one chunk holds n_b. flops_backward is reformer_backward.cc's
 * formula of the same quantities.
 * Stage times (device events, model/cuda_attention_variant.h): the reformer_forward entry draws
 * the rotations, hashes, sorts and attends the chunks in one call; up to the library's mark (the
 * slots sorted; in standard mode only the key scales) is time_hash_s, the rest time_scores_s;
 * the backward entry is time_backward_s; time_softmax_s and time_values_s stay 0.
 * Shapes: qkv (B,T,3C), ctx (B,T,C), mask (B,T) or null; device pointers except host_mask.
 */
#include <algorithm>
#include <vector>

#include "attention/reformer.h"
#include "model/bert_cuda_attention.h"

namespace lshlab {
namespace {

// The CPU's plan (attention/reformer.cc) of the counted quantities.
struct CountPlan {
  bool standard;
  int R, nb, c, Tp, G, bef, aft, W;
  CountPlan(const ReformerParams& p, int T) {
    standard = T <= p.chunk_length;
    if (standard) {
      R = 1; nb = 0; c = T; Tp = T; G = 1; bef = aft = 0;
    } else {
      R = p.num_hashes; c = p.chunk_length; Tp = (T + c - 1) / c * c;
      const int nc = Tp / c;
      nb = p.num_buckets;
      if (nb == 0)
        for (nb = 1; nb * 2 <= 2 * nc;) nb *= 2;
      G = R * nc; bef = p.num_chunks_before; aft = p.num_chunks_after;
    }
    W = (1 + bef + aft) * c;
  }
};

class CudaReformer final : public CudaAttentionVariant {
 public:
  CudaReformer(const lshlab_cuda_api_v1* a, const BertConfig& cfg)
      : CudaAttentionVariant(a), a_(a), rp_(ReformerParams::parse(cfg.attention_params)),
        H_(cfg.num_attention_heads), D_(cfg.hidden_size / cfg.num_attention_heads) {
    p_ = lshlab_cuda_reformer_params{rp_.num_hashes, rp_.num_buckets, rp_.chunk_length,
                                     rp_.num_chunks_before, rp_.num_chunks_after};
    state_.bind(a);
  }

  void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
               const lshlab_cuda_dropout* dropout, uint64_t seed, uint32_t step, uint32_t site,
               DeviceArray<unsigned char>& ws) override {
    size_t st = 0, wb = 0;
    ok(a_->reformer_sizes(&st, &wb, B, T, H_, D_, &p_), "reformer_sizes");
    state_.resize(st);
    ws.resize(wb);
    times_.start(CudaStageTimes::kScores);
    if (B > 0 && T > 0) times_.mark_hash();
    ok(a_->reformer_forward(ctx, state_.data(), nullptr, nullptr, ws.data(), qkv, mask, B, T, H_,
                            D_, &p_, seed, step, site, dropout),
       "reformer_forward");
    times_.stop(CudaStageTimes::kScores);
  }

  void backward(float* dqkv, const float* dctx, const float* qkv, const float*, const int32_t* mask,
                int B, int T, const lshlab_cuda_dropout* dropout,
                DeviceArray<unsigned char>& ws) override {
    size_t st = 0, wb = 0;
    ok(a_->reformer_sizes(&st, &wb, B, T, H_, D_, &p_), "reformer_sizes");
    ws.resize(wb);
    times_.start(CudaStageTimes::kBackward);
    ok(a_->reformer_backward(dqkv, ws.data(), dctx, qkv, state_.data(), mask, B, T, H_, D_, &p_,
                             dropout),
       "reformer_backward");
    times_.stop(CudaStageTimes::kBackward);
  }

  // Sizes, the plan (standard or hashed mode, chunks, buckets) and every launch follow the shape
  // and options; the rotations are drawn from the device step constants where the library does
  // (cuda_hash_draws_device); the counters are host arithmetic of the shape and mask.
  bool capturable() const override { return cuda_hash_draws_device(a_); }

  void counters(AttentionCounters& k, const int32_t* mask, int B, int T, bool backward) const override {
    const CountPlan s(rp_, T);
    const int H = H_, D = D_;
    const double BH = double(B) * H;
    k.reset(H);
    k.set_unpadded_pairs(mask, B, T, H);
    std::vector<int> cv(size_t(s.G));
    double d = 0;
    for (int b = 0; b < B; b++) {
      int n = T;
      if (mask) n = int(std::count_if(mask + int64_t(b) * T, mask + int64_t(b + 1) * T,
                                      [](int32_t m) { return m != 0; }));
      const int per_round = s.G / s.R;
      for (int g = 0; g < s.G; g++) cv[size_t(g)] = std::clamp(n - (g % per_round) * s.c, 0, s.c);
      for (int g = 0; g < s.G; g++) {
        int64_t keys = 0;
        for (int x = -s.bef; x <= s.aft; x++) keys += cv[size_t(((g + x) % s.G + s.G) % s.G)];
        d += double(cv[size_t(g)]) * double(keys);
      }
    }
    for (int h = 0; h < H; h++) k.head_dot_products[size_t(h)] = d;  // the same for every head
    k.sum_heads();
    const double dots = BH * s.G * s.c * s.W;
    k.flops_hash = s.standard ? 0 : 2.0 * BH * T * D * s.R * (s.nb / 2);
    k.flops_scores = 2.0 * dots * D;
    k.flops_softmax = 5.0 * dots;
    k.flops_values = 2.0 * dots * D + (s.R > 1 ? 2.0 * BH * T * s.R * D : 0.0);
    if (backward) k.flops_backward = dots * (8.0 * D + 4.0) + 10.0 * BH * T * s.R * D;
    times_.read(k, backward);
  }

 private:
  const lshlab_cuda_api_v1* a_;
  ReformerParams rp_;
  lshlab_cuda_reformer_params p_{};
  int H_, D_;
  DeviceArray<unsigned char> state_;  // order, undo, lse, weights, key scales, outputs
  void ok(int rc, const char* what) const { cuda_ok(*a_, rc, what); }
};

}  // namespace

std::string cuda_reformer_unsupported(const BertConfig& cfg) {
  try {
    (void)ReformerParams::parse(cfg.attention_params);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::unique_ptr<CudaAttentionVariant> make_cuda_reformer(const lshlab_cuda_api_v1* a,
                                                         const BertConfig& cfg) {
  return std::make_unique<CudaReformer>(a, cfg);
}

}  // namespace lshlab
