/*
 * registry.cc: attention variants by name. The one place that knows which variants exist; the
 * model asks it for an instance per layer.
 */
#include "attention/attention.h"
#include "attention/exact.h"
#include "core/common.h"

namespace lshlab {

template <typename T>
std::unique_ptr<Attention<T>> make_attention(const std::string& name, const AttentionParams& params) {
  if (name == "exact") {
    if (!params.empty())
      throw Error("attention 'exact' takes no parameters (got '" + params.begin()->first + "')");
    return std::make_unique<ExactAttention<T>>();
  }
  throw Error("unknown attention variant '" + name + "' (this build implements: exact)");
}

template std::unique_ptr<Attention<float>> make_attention<float>(const std::string&,
                                                                 const AttentionParams&);
template std::unique_ptr<Attention<double>> make_attention<double>(const std::string&,
                                                                   const AttentionParams&);

const char* const* attention_variant_names() {
  static const char* const names[] = {"exact", nullptr};
  return names;
}

}  // namespace lshlab
