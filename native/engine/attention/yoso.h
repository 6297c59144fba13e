/*
 * yoso.h: YOSO attention (Zeng et al., ICML 2021): a SimHash collision kernel instead of softmax.
 *   q, k <- q/|q|, k/|k| per token and head;  f(x) = (1 - arccos(clamp(x, -1, 1))/pi)^tau
 *   yoso-e (expectation): X_i = sum_j f(q_i.k_j) v_j, dense O(T^2 D)
 *   yoso   (LSH):         X_i = (1/m) sum_h Table_h[code_h(q_i)], Table_h[c] = sum_{code_h(k_j)=c} v_j,
 *                         code_h = tau sign bits of random projections; E[yoso] = yoso-e; O(T m (tau D + D))
 *   ctx = X / |X| per token and head (no softmax, no 1/sqrt(D), no attention dropout: call.dropout
 *   is ignored, as in HF, which creates a dropout and never uses it). Padded keys contribute
 *   nothing; padded queries output 0.
 * Backward (param backward):
 *   surrogate (default, HF/v1): f'(x) replaced by (tau/2) f(x), bounded; for yoso estimated by the
 *                               same collisions (per bucket: the colliding pairs, or two D x D
 *                               matrices when the bucket is big; see yoso_lsh.cc). dV comes from
 *                               the same bucket walk.
 *   exact (v2): the derivative of the scaled kernel f(s x), s = 0.98. yoso-e then also uses f(s x)
 *               in its forward, so its gradient is the true one (gradient-checked); yoso's forward is
 *               sampling and cannot be scaled, so its backward is an unbiased estimate of yoso-e
 *               exact's (importance weight s f'(s x) / f(x) per colliding pair, cost = collisions).
 * YOSO-C (conv_window = w, odd; 0 = off): HF's depthwise nn.Conv2d(H, H, (w, 1), padding
 *   (w // 2, 0), groups=H, bias=False) over V * mask laid out (B,H,T,D), added to the normalised
 *   output: ctx = X / |X| + conv(V * mask). One length-w kernel per head, shared by the D channels.
 *   The weights are variant-owned parameters (attention.h): "attention.self.conv.weight", shape
 *   (H, 1, w, 1), init U(-1/sqrt(w), 1/sqrt(w)) (PyTorch's kaiming_uniform_(a = sqrt(5)) for
 *   fan_in = w). Padded query rows get the conv term too (HF does not mask the conv output).
 *   Backward: dV += conv^T(dctx) on unpadded keys; dW[h,k] += sum_{b,t} dctx[b,t,h].(V*mask)[b,t+k-w/2,h]
 *   (exact for every backward mode: the conv path is linear and hash-free).
 * Not here: the fast Hadamard hash (we use Gaussian projections, one set per (b, h, hash), as
 * v1's hashing()); causal masking.
 */
#pragma once
#include <cstdint>
#include <string>

#include "attention/attention.h"
#include "core/common.h"

namespace lshlab {

struct YosoOptions {
  bool lsh = false;        // yoso (sampling) vs yoso-e (expectation)
  int tau = 9;             // hash bits per code (HF hash_code_len), 1..30
  int num_hash = 64;       // hash functions m (HF num_hash), 1..1024
  bool exact_backward = false;
  int conv_window = 0;     // YOSO-C kernel length (odd); 0 = off
};
// Parses and validates "tau", "num_hash", "backward", "conv_window"; throws naming the parameter.
YosoOptions parse_yoso_options(const char* variant, const AttentionParams& params);

template <typename T>
class YosoAttention : public Attention<T> {
 public:
  explicit YosoAttention(const YosoOptions& o) : o_(o) {}
  const char* name() const override { return o_.lsh ? "yoso" : "yoso-e"; }
  void forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call) override;
  void backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                const AttentionCall& call) override;
  // yoso: "hyperplanes" (B,H,num_hash,tau,D) of the last forward. yoso-e: nothing (no draws).
  std::vector<std::pair<std::string, std::vector<double>>> debug_state() const override;
  // conv_window > 0: one tensor "attention.self.conv.weight" (H,1,w,1); else none.
  std::vector<AttentionParamSpec> parameter_specs(int H, int D) const override;
  void bind_parameters(const std::vector<T*>& data, const std::vector<T*>& grad) override;

 private:
  YosoOptions o_;
  T* conv_w_ = nullptr;        // (H, w) conv weights (bound), and their gradient
  T* conv_g_ = nullptr;
  int B_ = 0, T_ = 0, H_ = 0, D_ = 0;
  Buffer<T> qn_, kn_;          // (B,H,T,D) unit-normalised Q and K
  Buffer<T> qnrm_, knrm_;      // (B,H,T) max(|q|, eps) and max(|k|, eps)
  Buffer<T> y_, ynrm_;         // (B,H,T,D) normalised output; (B,H,T) max(|X|, eps)
  Buffer<T> e_, fp_;           // yoso-e: (B,H,T,T) masked f(s x); exact: masked s f'(s x)
  Buffer<T> planes_;           // yoso: (B,H,m,tau,D)
  Buffer<int32_t> qcode_, kcode_;  // yoso: (B,H,m,T)
  Buffer<T> scratch_;          // backward: per (b,h) (T,T) (yoso-e) or (T,D) raw-gradient slices
};

// The forward's counters (attention.h) for a shape, given the per-head collisions (yoso; ignored
// for yoso-e): pairs, dot products, flops by stage. YOSO-C's conv flops are the caller's. Shared
// by the CPU variant and the CUDA model, so both report the same quantities.
void yoso_forward_counters(AttentionCounters& k, const YosoOptions& o, const int32_t* mask, int B,
                           int T, int H, int D, const double* head_collisions);

// ---- building blocks, exposed for tests and benchmarks (one (b, h) slice each) ----------------
// f(s x) and its derivative s f'(s x), x clamped to [-1, 1].
double yoso_kernel(double x, int tau, double s);
double yoso_kernel_grad(double x, int tau, double s);
// planes (m,tau,D) <- philox_normal keyed by (seed, Stream::Attention, step, site, b, h, hash).
template <typename T>
void yoso_planes(T* planes, uint64_t seed, uint32_t step, uint32_t site, int b, int h, int m,
                 int tau, int D);
// codes (m,n) of the n rows of x (row stride ldx, unit or not: the sign hash is scale-invariant).
template <typename T>
void yoso_hash(int32_t* codes, const T* x, int ldx, int n, const T* planes, int m, int tau, int D);
// out (n,D) = (1/m) sum_h Table_h[qcode_h(i)] of val (row stride ldv) scattered by kcode;
// rows with qmask 0 get 0, rows with kmask 0 are not scattered (masks may be null = all ones).
// *collisions (if given) = the (query, key, hash) code matches among unmasked rows, counted from
// the bucket sizes (O(n) per hash).
template <typename T>
void yoso_cumulate(T* out, const int32_t* qcode, const int32_t* qmask, const int32_t* kcode,
                   const int32_t* kmask, const T* val, int ldv, int n, int D, int m, int tau,
                   double* collisions = nullptr);
// Raw LSH gradients of X_i = (1/m) sum_h sum_{j collides} v_j w.r.t. q and k, given g = dL/dX:
//   surrogate: dq_i = (1/m) sum_h sum_{j collides} (tau/2) (g_i.v_j) k_j, dk_j symmetric with q_i
//   exact:     weight s f'(s x_ij)/f(x_ij) instead of tau/2 (x_ij = q_i.k_j)
// dq, dk (n,D) overwritten; q, k, g have row stride D. Returns the FLOPs spent; *collisions
// (if given) = the (query, key, hash) collisions among unmasked tokens.
// dv (n,D), if given, is overwritten with the value gradient from the same buckets:
//   dv_j = (1/m) sum_h sum_{i collides} g_i (unmasked j; masked rows 0), i.e. what
//   yoso_cumulate(dv, kcode, mask, qcode, mask, g, D, ...) computes, without a second pass.
template <typename T>
double yoso_lsh_grad_qk(T* dq, T* dk, const T* g, const T* v, int ldv, const T* q, const T* k,
                        const int32_t* qcode, const int32_t* kcode, const int32_t* mask, int n,
                        int D, int m, int tau, bool exact, double* collisions = nullptr,
                        T* dv = nullptr);

// Float inner loops: "avx512" (pair loop of the surrogate backward; the rest stays AVX2),
// "avx2", "portable", or "" = the best this CPU runs (the default). Throws if the CPU lacks it.
void yoso_force_kernel(const std::string& name);
const char* yoso_kernel_name();

// For the collision benchmark: do x and y (D) share a tau-bit code under draw `draw` of seed?
bool yoso_collide(const double* x, const double* y, int D, int tau, uint64_t seed, uint64_t draw);
// (1 - angle/pi)^tau: the collision probability of two vectors at `angle` radians.
double yoso_collision_theory(double angle, int tau);

}  // namespace lshlab
