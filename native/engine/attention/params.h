/*
 * params.h: reading an attention variant's parameters from the user's name -> text map, with
 * errors that name the variant and the parameter ("bert-lsh: bands must be an integer in [1, 64]
 * (got '0')"). Every variant calls check_known() first so a misspelt parameter is an error, not a
 * silently ignored default.
 */
#pragma once
#include <cerrno>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "attention/attention.h"
#include "core/common.h"

namespace lshlab {

inline void check_known(const char* variant, const AttentionParams& p,
                        std::initializer_list<const char*> known) {
  for (const auto& kv : p) {
    bool ok = false;
    std::string list;
    for (const char* k : known) {
      ok = ok || kv.first == k;
      list += list.empty() ? k : std::string(", ") + k;
    }
    if (!ok)
      throw Error(std::string(variant) + ": unknown parameter '" + kv.first + "' (known: " +
                  (list.empty() ? "none" : list) + ")");
  }
}

inline long long param_int(const char* variant, const AttentionParams& p, const char* name,
                           long long def, long long lo, long long hi) {
  auto it = p.find(name);
  if (it == p.end()) return def;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != 0 || errno != 0 || v < lo || v > hi)
    throw Error(std::string(variant) + ": " + name + " must be an integer in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "] (got '" + it->second + "')");
  return v;
}

inline double param_double(const char* variant, const AttentionParams& p, const char* name,
                           double def, double lo, double hi) {
  auto it = p.find(name);
  if (it == p.end()) return def;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != 0 || errno != 0 || !(v >= lo && v <= hi))
    throw Error(std::string(variant) + ": " + name + " must be a number in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "] (got '" + it->second + "')");
  return v;
}

// One of a fixed set of words; returns its index in `choices`.
inline int param_choice(const char* variant, const AttentionParams& p, const char* name,
                        std::initializer_list<const char*> choices, int def) {
  auto it = p.find(name);
  if (it == p.end()) return def;
  int i = 0;
  std::string list;
  for (const char* c : choices) {
    if (it->second == c) return i;
    list += list.empty() ? c : std::string(" | ") + c;
    i++;
  }
  throw Error(std::string(variant) + ": " + name + " must be " + list + " (got '" + it->second + "')");
}

}  // namespace lshlab
