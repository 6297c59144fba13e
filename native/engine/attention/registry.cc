/*
 * registry.cc: attention variants by name. The one place that knows which variants exist; the
 * model asks it for an instance per layer.
 */
#include "attention/attention.h"
#include "attention/bert_lsh.h"
#include "attention/exact.h"
#include "attention/yoso.h"
#include "attention/reformer.h"
#include "core/common.h"
#include "core/philox.h"

namespace lshlab {

template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, const AttentionParams& params) {
  if (name == "exact") {
    if (!params.empty())
      throw Error("attention 'exact' takes no parameters (got '" + params.begin()->first + "')");
    return std::make_unique<ExactAttention<T>>();
  }
  if (name == "yoso" || name == "yoso-e")
    return std::make_unique<YosoAttention<T>>(parse_yoso_options(name.c_str(), params));
  if (name == "bert-lsh") return std::make_unique<BertLshAttention<T>>(bert_lsh_parse(params));
  if (name == "reformer") return std::make_unique<ReformerAttention<T>>(ReformerParams::parse(params));
  throw Error("unknown attention variant '" + name + "' (this build implements: exact, bert-lsh, reformer, yoso-e, yoso)");
}

template std::unique_ptr<Attention<float>> make_attention<float>(const std::string&,
                                                                 const AttentionParams&);
template std::unique_ptr<Attention<double>> make_attention<double>(const std::string&,
                                                                   const AttentionParams&);

std::vector<AttentionParamSpec> attention_parameter_specs(const std::string& name,
                                                          const AttentionParams& params, int H, int D) {
  return make_attention<double>(name, params)->parameter_specs(H, D);
}

template <typename T>
void StandaloneAttentionParams<T>::attach(Attention<T>& a, int H, int D, uint64_t seed) {
  specs = a.parameter_specs(H, D);
  data.assign(specs.size(), {});
  grad.assign(specs.size(), {});
  std::vector<T*> dp, gp;
  for (size_t i = 0; i < specs.size(); i++) {
    size_t n = 1;
    for (int64_t d : specs[i].shape) n *= size_t(d);
    data[i].assign(n, T(0));
    grad[i].assign(n, T(0));
    const double b = specs[i].init_uniform_bound;
    if (b > 0)
      for (size_t e = 0; e < n; e++)
        data[i][e] = T(b * (2.0 * philox_uniform(seed, uint32_t(Stream::Init), 0, (uint64_t(i) << 36) + e) - 1.0));
    dp.push_back(data[i].data());
    gp.push_back(grad[i].data());
  }
  a.bind_parameters(dp, gp);
}

template struct StandaloneAttentionParams<float>;
template struct StandaloneAttentionParams<double>;

const char* const* attention_variant_names() {
  static const char* const names[] = {"exact", "bert-lsh", "reformer", "yoso-e", "yoso", nullptr};
  return names;
}

}  // namespace lshlab
