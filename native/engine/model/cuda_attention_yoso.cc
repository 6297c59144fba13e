/*
 * cuda_attention_yoso.cc: yoso and yoso-e on CUDA behind the variant seam
 * (model/cuda_attention_variant.h): which yoso_* entry runs, the per-layer state the backward
 * needs (codes, hyperplanes, the output norms), and counters equal to YosoAttention's.
 * YOSO-C (conv_window > 0) adds the depthwise conv of V * mask (yoso_conv.cu) with the weights
 * the CUDA model binds from its flat buffers.
 * Stage times (device events, model/cuda_attention_variant.h): the yoso_forward entry normalises,
 * hashes, sorts and cumulates in one call: up to the library's mark (hash codes ready) is
 * time_hash_s, the rest (the per-chunk bucket sorts, sums and gathers) time_scores_s; yoso-e's
 * entry (no hashing) is time_scores_s alone; YOSO-C's conv is time_values_s; the backward
 * entries (the conv's too) are time_backward_s; time_softmax_s stays 0.
 * flops_backward is the CPU's count (yoso.cc, yoso_lsh.cc) of the same gradient: per (b, h),
 * 12 T D through the three normalisations; yoso-e 8 T^2 D + 2 T^2 for W, dQn, dKn, dV; yoso
 * 2 T m D + T D for dV's bucket sums, plus per colliding (query, key, hash) triple 6 D
 * (surrogate: g.v and the two updates) or 8 D (exact: and q.k), from the forward's collisions;
 * YOSO-C 4 T W D. The kernels recompute some of it (E and W per tile in yoso-e; g.v in both the
 * dQn and the dKn walk in yoso), which is not counted, as exact_tiled counts its recomputed
 * probabilities but the CPU's yoso keeps E. A surrogate bucket with 3 nq nk > 4 (nq + nk) D
 * takes the D x D route on both sides (4 (nq + nk) D^2, fewer than its pairs' 6 nq nk D), and
 * which buckets do is not read back: the count is the CPU's exactly when no bucket can be that
 * big (every batch row has at most 8 D / 3 unpadded tokens), else an upper bound.
 */
#include "attention/yoso.h"
#include "model/bert_cuda_attention.h"

namespace lshlab {
namespace {

class CudaYoso final : public CudaAttentionVariant {
 public:
  CudaYoso(const lshlab_cuda_api_v1* a, const BertConfig& cfg)
      : CudaAttentionVariant(a), a_(a),
        yo_(parse_yoso_options(cfg.attention.c_str(), cfg.attention_params)),
        H_(cfg.num_attention_heads), D_(cfg.hidden_size / cfg.num_attention_heads) {
    for (auto* d : {&ynrm_, &planes_, &pre_}) d->bind(a);
    qcode_.bind(a); kcode_.bind(a); collisions_.bind(a); conv_work_.bind(a);
  }

  // yoso has no attention dropout (as HF): `dropout` is ignored.
  void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
               const lshlab_cuda_dropout*, uint64_t seed, uint32_t step, uint32_t site,
               DeviceArray<unsigned char>& ws) override {
    const size_t bht = size_t(B) * H_ * T;
    ynrm_.resize(bht);
    if (!yo_.lsh) {
      ws.resize((3 * size_t(D_) + 2) * bht * sizeof(float));
      times_.start(CudaStageTimes::kScores);
      ok(a_->yoso_e_forward(ctx, ynrm_.data(), reinterpret_cast<float*>(ws.data()), qkv, mask, B, T,
                            H_, D_, yo_.tau, yo_.exact_backward), "yoso_e_forward");
      times_.stop(CudaStageTimes::kScores);
      conv_forward(ctx, qkv, mask, B, T);
      return;
    }
    const size_t m = size_t(yo_.num_hash);
    size_t bytes = 0;
    ok(a_->yoso_workspace_size(&bytes, B, T, H_, D_, yo_.tau, yo_.num_hash), "yoso_workspace_size");
    ws.resize(bytes);
    qcode_.resize(size_t(B) * H_ * m * T); kcode_.resize(size_t(B) * H_ * m * T);
    planes_.resize(size_t(B) * H_ * m * yo_.tau * D_);
    collisions_.resize(size_t(H_));
    times_.start(CudaStageTimes::kScores);
    if (B > 0 && T > 0) times_.mark_hash();
    ok(a_->yoso_forward(ctx, ynrm_.data(), qcode_.data(), kcode_.data(), planes_.data(),
                        collisions_.data(), ws.data(), qkv, mask, B, T, H_, D_, yo_.tau,
                        yo_.num_hash, seed, step, site), "yoso_forward");
    times_.stop(CudaStageTimes::kScores);
    conv_forward(ctx, qkv, mask, B, T);
  }

  void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                const int32_t* mask, int B, int T, const lshlab_cuda_dropout*,
                DeviceArray<unsigned char>& ws) override {
    if (yo_.conv_window) ctx = pre_.data();  // the normalised output before the conv was added
    times_.start(CudaStageTimes::kBackward);
    if (!yo_.lsh) {
      ok(a_->yoso_e_backward(dqkv, reinterpret_cast<float*>(ws.data()), dctx, qkv, ctx,
                             ynrm_.data(), mask, B, T, H_, D_, yo_.tau, yo_.exact_backward),
         "yoso_e_backward");
    } else {
      ok(a_->yoso_backward(dqkv, ws.data(), dctx, qkv, ctx, ynrm_.data(), qcode_.data(),
                           kcode_.data(), mask, B, T, H_, D_, yo_.tau, yo_.num_hash,
                           yo_.exact_backward), "yoso_backward");
    }
    if (const int W = yo_.conv_window) {  // after the overwrite of dqkv: the conv adds to dV
      conv_work_.resize(size_t(B) * H_ * LSHLAB_CUDA_YOSO_CONV_CHUNKS * W);
      ok(a_->yoso_conv_backward(dqkv, conv_g_, conv_work_.data(), dctx, qkv, mask, conv_w_, B, T,
                                H_, D_, W), "yoso_conv_backward");
    }
    times_.stop(CudaStageTimes::kBackward);
  }

  // No host work between launches that depends on the step's data (sizes, the plan's chunks and
  // launches follow the shape): yoso-e (and its YOSO-C conv) has no draws; yoso (LSH) draws its
  // hyperplanes from the device step constants where the library does (cuda_hash_draws_device).
  // The collisions are read back in counters(), after the step.
  bool capturable() const override { return !yo_.lsh || cuda_hash_draws_device(a_); }

  void bind_parameters(const std::vector<float*>& data, const std::vector<float*>& grad) override {
    conv_w_ = data.empty() ? nullptr : data[0];
    conv_g_ = grad.empty() ? nullptr : grad[0];
  }

  void counters(AttentionCounters& k, const int32_t* mask, int B, int T, bool backward) const override {
    k.reset(H_);
    std::vector<double> coll(size_t(H_), 0.0);
    if (yo_.lsh) collisions_.download(coll.data(), coll.size());
    yoso_forward_counters(k, yo_, mask, B, T, H_, D_, coll.data());
    // YOSO-C's conv: 2 D flops per tap that lands on an unpadded key, as the CPU counts them.
    if (const int W = yo_.conv_window) {
      double taps = 0;
      for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
          for (int kk = 0; kk < W; kk++) {
            const int s = t + kk - W / 2;
            taps += (s >= 0 && s < T && (!mask || mask[int64_t(b) * T + s])) ? 1 : 0;
          }
      k.flops_values += 2.0 * taps * H_ * D_;
    }
    // The exact LSH backward forms one q.k per collision, as the CPU counts it.
    if (backward && yo_.lsh && yo_.exact_backward) {
      for (int h = 0; h < H_; h++) k.head_dot_products[size_t(h)] += coll[size_t(h)];
      k.sum_heads();
    }
    if (backward) k.flops_backward = backward_flops(B, T, coll);
    times_.read(k, backward);
  }

 private:
  const lshlab_cuda_api_v1* a_;
  YosoOptions yo_;
  int H_, D_;
  DeviceArray<float> ynrm_, planes_, pre_;
  DeviceArray<int32_t> qcode_, kcode_;
  DeviceArray<double> collisions_, conv_work_;
  float* conv_w_ = nullptr;  // (H, W) YOSO-C weights in the model's device buffers, and gradient
  float* conv_g_ = nullptr;
  // YOSO-C: keep X / |X| (the yoso backward's input) in pre_, then ctx += conv(V * mask).
  void conv_forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T) {
    if (const int W = yo_.conv_window) {
      if (!conv_w_) throw Error("yoso: conv_window needs its conv weights bound before forward");
      pre_.resize(size_t(B) * T * H_ * D_);
      times_.start(CudaStageTimes::kValues);
      ok(a_->memcpy_d2d(pre_.data(), ctx, pre_.size() * sizeof(float)), "memcpy_d2d");
      ok(a_->yoso_conv_forward(ctx, qkv, mask, conv_w_, B, T, H_, D_, W), "yoso_conv_forward");
      times_.stop(CudaStageTimes::kValues);
    }
  }
  void ok(int rc, const char* what) const { cuda_ok(*a_, rc, what); }
  // flops_backward as yoso.cc's backward counts it (see the header); coll: collisions per head.
  double backward_flops(int B, int T, const std::vector<double>& coll) const {
    const double BH = double(B) * H_, rows = BH * T, D = D_;
    double f = 12.0 * rows * D;  // g through ctx = X / |X|; dq, dk through the unit q, k
    if (yo_.lsh) {
      double c = 0;
      for (double x : coll) c += x;
      f += rows * (2.0 * yo_.num_hash * D + D) + (yo_.exact_backward ? 8.0 : 6.0) * D * c;
    } else {
      f += BH * T * T * (8.0 * D + 2.0);
    }
    return f + 4.0 * rows * yo_.conv_window * D;
  }
};

}  // namespace

// The head size is the caller's (bert_cuda_attention.cc); what remains here is the hash-plane
// stream's head count (plane_index in attention/yoso_lsh.cc: H < 256, as the CPU). The batch
// (B < 4096) is known only per call: yoso_forward refuses it with a message.
std::string cuda_yoso_unsupported(const BertConfig& cfg) {
  // throws on bad params
  const YosoOptions o = parse_yoso_options(cfg.attention.c_str(), cfg.attention_params);
  if (o.lsh && cfg.num_attention_heads >= 256)
    return "yoso's hash-plane stream takes fewer than 256 heads (" +
           std::to_string(cfg.num_attention_heads) + ")";
  return "";
}

std::unique_ptr<CudaAttentionVariant> make_cuda_yoso(const lshlab_cuda_api_v1* a, const BertConfig& cfg) {
  return std::make_unique<CudaYoso>(a, cfg);
}

}  // namespace lshlab
