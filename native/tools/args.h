/*
 * args.h: the driver's tiny flag parser: --name value pairs and boolean --flags, with errors that
 * name the flag. Only for native/tools; the Node CLI has its own.
 */
#pragma once
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

struct DriverArgs {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;

  // value_names: flags that take a value; flag_names: boolean flags. Throws on anything else.
  DriverArgs(int argc, char** argv, const std::set<std::string>& value_names,
             const std::set<std::string>& flag_names) {
    for (int i = 0; i < argc; i++) {
      std::string a = argv[i];
      if (value_names.count(a)) {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        values[a] = argv[++i];
      } else if (flag_names.count(a)) {
        flags.insert(a);
      } else {
        throw std::invalid_argument("unknown option '" + a + "'");
      }
    }
  }
  bool has(const std::string& k) const { return values.count(k) || flags.count(k); }
  long long integer(const std::string& k, long long def, long long lo, long long hi) const {
    auto it = values.find(k);
    if (it == values.end()) return def;
    char* end = nullptr;
    long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end != 0 || v < lo || v > hi)
      throw std::invalid_argument(k + " must be an integer in [" + std::to_string(lo) + ", " +
                                  std::to_string(hi) + "] (got '" + it->second + "')");
    return v;
  }
  std::string str(const std::string& k, const std::string& def) const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
};
