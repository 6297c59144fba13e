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

const char* const* attention_variant_names() {
  static const char* const names[] = {"exact", "bert-lsh", "reformer", "yoso-e", "yoso", nullptr};
  return names;
}

}  // namespace lshlab
