/*
 * cmd_dump_attention.cc: `lshlab-native dump-attention --variant V --out FILE [--param k=v ...]
 * [--batch B --seq T --heads H --head-dim D --seed S --step N --padded P]` runs one attention call
 * (forward and backward, no dropout) on random float64 inputs and writes a safetensors file with
 * what a reference implementation needs to replay it:
 *   qkv (B,T,3C) with C = H*D, mask (B,T) as I64, dctx (B,T,C), ctx (B,T,C), dqkv (B,T,3C),
 *   the variant's debug_state() arrays as "state.<name>" (F64, flat), and for each parameter the
 *   variant owns (e.g. YOSO-C's conv) "param.<name>" (its values, initialised as a model would
 *   from --seed, HF shape) and "grad.<name>" (d <ctx, dctx> / d param).
 * Metadata: variant, params (k=v;...), B, T, H, D.
 */
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "attention/attention.h"
#include "commands.h"
#include "io/safetensors.h"

using namespace lshlab;

int cmd_dump_attention(int argc, char** argv) {
  std::string variant, out;
  AttentionParams params;
  int B, T, H, D, padded;
  long long seed, step;
  try {
    // --param may repeat: collect those first, then parse the rest.
    std::vector<char*> rest;
    for (int i = 0; i < argc; i++) {
      if (std::string(argv[i]) == "--param") {
        if (i + 1 >= argc) throw std::invalid_argument("--param needs name=value");
        std::string kv = argv[++i];
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--param needs name=value (got '" + kv + "')");
        params[kv.substr(0, eq)] = kv.substr(eq + 1);
      } else {
        rest.push_back(argv[i]);
      }
    }
    DriverArgs a(int(rest.size()), rest.data(),
                 {"--variant", "--out", "--batch", "--seq", "--heads", "--head-dim", "--seed", "--step", "--padded"}, {});
    variant = a.str("--variant", "exact");
    out = a.str("--out", "");
    if (out.empty()) throw std::invalid_argument("--out FILE is required");
    B = int(a.integer("--batch", 2, 1, 64));
    T = int(a.integer("--seq", 16, 1, 16384));
    H = int(a.integer("--heads", 2, 1, 64));
    D = int(a.integer("--head-dim", 8, 1, 1024));
    padded = int(a.integer("--padded", 0, 0, T - 1));
    seed = a.integer("--seed", 1, 0, 1LL << 62);
    step = a.integer("--step", 0, 0, 1LL << 31);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: dump-attention: %s\n", e.what());
    return 2;
  }
  const int C = H * D;
  auto attn = make_attention<double>(variant, params);
  StandaloneAttentionParams<double> own;
  own.attach(*attn, H, D, uint64_t(seed));
  std::mt19937_64 rng{uint64_t(seed)};
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> qkv(size_t(B) * T * 3 * C), dctx(size_t(B) * T * C), ctx(dctx.size()), dqkv(qkv.size());
  for (auto& x : qkv) x = nd(rng);
  for (auto& x : dctx) x = nd(rng);
  std::vector<int32_t> mask(size_t(B) * T, 1);
  for (int t = T - padded; t < T; t++) mask[size_t(B - 1) * T + t] = 0;  // pad the last sequence
  AttentionCall call{B, T, H, D, false, 0.0, uint64_t(seed), uint32_t(step), 7};
  attn->forward(ctx.data(), qkv.data(), mask.data(), call);
  attn->backward(dqkv.data(), dctx.data(), qkv.data(), mask.data(), call);
  std::vector<int64_t> mask64(mask.begin(), mask.end());
  std::vector<TensorRef> t = {{"qkv", DType::F64, {B, T, 3 * C}, qkv.data()},
                              {"mask", DType::I64, {B, T}, mask64.data()},
                              {"dctx", DType::F64, {B, T, C}, dctx.data()},
                              {"ctx", DType::F64, {B, T, C}, ctx.data()},
                              {"dqkv", DType::F64, {B, T, 3 * C}, dqkv.data()}};
  auto state = attn->debug_state();
  std::vector<std::string> names;
  for (auto& s : state) names.push_back("state." + s.first);
  for (size_t i = 0; i < state.size(); i++)
    t.push_back({names[i], DType::F64, {int64_t(state[i].second.size())}, state[i].second.data()});
  std::vector<std::string> pnames;
  for (auto& sp : own.specs) { pnames.push_back("param." + sp.name); pnames.push_back("grad." + sp.name); }
  for (size_t i = 0; i < own.specs.size(); i++) {
    t.push_back({pnames[2 * i], DType::F64, own.specs[i].shape, own.data[i].data()});
    t.push_back({pnames[2 * i + 1], DType::F64, own.specs[i].shape, own.grad[i].data()});
  }
  std::string ps;
  for (auto& kv : params) ps += (ps.empty() ? "" : ";") + kv.first + "=" + kv.second;
  save_safetensors(out, t, {{"variant", variant}, {"params", ps}, {"B", std::to_string(B)},
                            {"T", std::to_string(T)}, {"H", std::to_string(H)}, {"D", std::to_string(D)}});
  std::printf("wrote %s attention reference to %s\n", variant.c_str(), out.c_str());
  return 0;
}
