/*
 * cmd_bench_attention.cc: `lshlab-native bench-attention`, the driver's twin of `lshlab bench
 * attention` (same flags, same JSON keys). Parses flags, calls the harness in
 * engine/attention/bench.h, prints text or JSON (--json) and writes CSV (--csv FILE). Modes:
 *   --paper-table1 | --sweep | --scaling [--max-seq N] [--variants a,b] | --collisions
 *   single run (default): --variant V --seq N [--batch --heads --head-dim] [--backward] [--iters]
 * Variant parameters: --param name=value (repeatable) or the shorthands in kParamFlags.
 * Bad flags or values: message naming the flag, exit 2.
 */
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "attention/bench.h"
#include "attention/params.h"
#include "commands.h"
#include "core/cpu_info.h"
#include "core/threadpool.h"

using namespace lshlab;

namespace {

// Shorthand flag -> variant parameter (the variant validates the value).
const std::pair<const char*, const char*> kParamFlags[] = {
    {"--bands", "bands"},         {"--table-size", "table_size"}, {"--num-hashes", "num_hashes"},
    {"--fill", "fill"},           {"--symmetric", "symmetric"},   {"--combine", "combine"},
    {"--reseed", "reseed"},       {"--tau", "tau"},               {"--num-hash", "num_hash"},
    {"--conv-window", "conv_window"}, {"--num-buckets", "num_buckets"},
    {"--chunk-length", "chunk_length"}, {"--yoso-backward", "backward"}};

// Scalar members of a row as CSV cells; nested objects are flattened as "k=v;k=v".
std::string cell(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) {
    std::string s = v.as_string();
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
  }
  if (v.is_object()) {
    std::string s;
    for (const auto& m : v.members()) s += (s.empty() ? "" : ";") + m.first + "=" + cell(m.second);
    return s;
  }
  if (v.is_array()) return "";
  return v.dump();
}

void write_csv(const std::string& path, const std::vector<Json>& rows) {
  std::vector<std::string> cols;
  for (const Json& r : rows)
    for (const auto& m : r.members())
      if (!m.second.is_array() && std::find(cols.begin(), cols.end(), m.first) == cols.end() &&
          m.first != "detail")
        cols.push_back(m.first);
  std::ofstream f(path);
  if (!f) throw Error("--csv: cannot write '" + path + "'");
  for (size_t i = 0; i < cols.size(); i++) f << (i ? "," : "") << cols[i];
  f << "\n";
  for (const Json& r : rows) {
    for (size_t i = 0; i < cols.size(); i++) f << (i ? "," : "") << (r.has(cols[i]) ? cell(r[cols[i]]) : "");
    f << "\n";
  }
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find(',', a);
    if (b == std::string::npos) b = s.size();
    if (b > a) out.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

}  // namespace

int cmd_bench_attention(int argc, char** argv) {
  for (int i = 0; i + 1 < argc; i++)  // --device cuda: the GPU sweep (cmd_bench_attention_cuda.cc)
    if (std::string(argv[i]) == "--device" && std::string(argv[i + 1]) == "cuda") {
      try { return cmd_bench_attention_cuda(argc, argv); } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "error: bench-attention: %s\n", e.what());
        return 2;
      }
    }
  AttentionParams params;
  std::vector<char*> rest;
  std::set<std::string> values = {"--variant", "--seq", "--batch", "--heads", "--head-dim", "--iters",
                                  "--warmup", "--seed", "--csv", "--max-seq", "--min-seq", "--variants",
                                  "--budget", "--max-memory-gb", "--dot-iters", "--time-iters",
                                  "--angles", "--trials", "--quality-calls", "--device"};
  for (const auto& pf : kParamFlags) values.insert(pf.first);
  std::string mode = "single", csv;
  try {
    for (int i = 0; i < argc; i++) {  // --param repeats: taken out before DriverArgs sees the rest
      if (std::string(argv[i]) != "--param") { rest.push_back(argv[i]); continue; }
      if (i + 1 >= argc) throw std::invalid_argument("--param needs name=value");
      const std::string kv = argv[++i];
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--param needs name=value (got '" + kv + "')");
      params[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    DriverArgs a(int(rest.size()), rest.data(), values,
                 {"--paper-table1", "--sweep", "--scaling", "--collisions", "--backward", "--json", "--no-quality"});
    for (const auto& pf : kParamFlags)
      if (a.has(pf.first)) params[pf.second] = a.str(pf.first, "");
    int modes = 0;
    for (const char* m : {"--paper-table1", "--sweep", "--scaling", "--collisions"})
      if (a.has(m)) { mode = m + 2; modes++; }
    if (modes > 1) throw std::invalid_argument("--paper-table1, --sweep, --scaling and --collisions exclude each other");
    if (a.str("--device", "cpu") != "cpu") throw std::invalid_argument("--device must be cpu or cuda");
    csv = a.str("--csv", "");
    const bool json = a.has("--json");
    const uint64_t seed = uint64_t(a.integer("--seed", 42, 0, 1LL << 62));
    const std::string device = "cpu: " + cpu_info().model;
    const int threads = ThreadPool::global().num_threads();
    auto progress = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
    Json out;
    std::vector<Json> rows;
    if (mode == "paper-table1") {
      const int ti = int(a.integer("--time-iters", 1000, 1, 100000000));
      const int di = int(a.integer("--dot-iters", 100, 1, 100000000));
      out = to_json(run_paper_table1(seed, ti, di));
      for (const char* k : {"exact", "bert_lsh"}) {
        Json r = out[k];
        Json row = Json::object();
        row.set("variant", k);
        for (const auto& m : r.members()) row.set(m.first, m.second);
        rows.push_back(row);
      }
    } else if (mode == "sweep") {
      SweepConfig c;
      c.T = int(a.integer("--seq", 10, 1, 4096));
      c.B = int(a.integer("--batch", 1, 1, 64));
      c.H = int(a.integer("--heads", 2, 1, 64));
      c.D = int(a.integer("--head-dim", 64, 1, 1024));
      c.dot_iters = int(a.integer("--dot-iters", 100, 1, 1000000));
      c.seed = seed;
      out = run_attention_sweep(c, progress);
      rows = out["rows"].items();
    } else if (mode == "scaling") {
      ScalingConfig c;
      c.variants = split(a.str("--variants", ""));
      c.params = params;
      c.min_seq = int(a.integer("--min-seq", 128, 1, 1 << 20));
      c.max_seq = int(a.integer("--max-seq", 16384, c.min_seq, 1 << 20));
      c.B = int(a.integer("--batch", 1, 1, 64));
      c.H = int(a.integer("--heads", 2, 1, 64));
      c.D = int(a.integer("--head-dim", 64, 1, 1024));
      c.budget_s = double(a.integer("--budget", 270, 1, 86400));
      c.max_memory_gb = double(a.integer("--max-memory-gb", 0, 0, 4096));
      c.seed = seed;
      out = run_attention_scaling(c, progress);
      rows = out["rows"].items();
    } else if (mode == "collisions") {
      CollisionConfig c;
      c.D = int(a.integer("--head-dim", 64, 2, 4096));
      c.angles = int(a.integer("--angles", 16, 1, 1000));
      c.trials = int(a.integer("--trials", 2000, 1, 10000000));
      // The variants' own parsers validate these and name the parameter on error.
      auto pint = [&](const char* k, int def, int lo, int hi) {
        return int(param_int("bench-attention --collisions", params, k, def, lo, hi));
      };
      c.bands = pint("bands", 2, 1, 64);
      c.table_size = pint("table_size", 64, 1, 1 << 30);
      c.num_hashes = pint("num_hashes", 1, 1, 1024);
      c.combine_and = param_choice("bench-attention --collisions", params, "combine", {"or", "and"}, 0) == 1;
      c.tau = pint("tau", 8, 1, 30);
      c.seed = seed;
      out = run_collision_curves(c);
      for (const char* fam : {"bert_lsh", "yoso"}) {
        if (!out.has(fam) || !out[fam].is_object()) continue;
        for (const Json& r : out[fam]["rows"].items()) {
          Json row = Json::object();
          row.set("family", fam);
          for (const auto& m : r.members()) row.set(m.first, m.second);
          rows.push_back(row);
        }
      }
    } else {
      AttentionBenchConfig c;
      c.variant = a.str("--variant", "exact");
      c.params = params;
      c.T = int(a.integer("--seq", 128, 1, 1 << 20));
      c.B = int(a.integer("--batch", 1, 1, 4096));
      c.H = int(a.integer("--heads", 2, 1, 256));
      c.D = int(a.integer("--head-dim", 64, 1, 4096));
      c.iters = int(a.integer("--iters", 10, 1, 100000000));
      c.warmup = int(a.integer("--warmup", 2, 0, 100000000));
      c.dot_iters = int(a.integer("--dot-iters", 0, 0, 100000000));
      c.quality_calls = int(a.integer("--quality-calls", 3, 1, 1000));
      c.backward = a.has("--backward");
      c.quality = !a.has("--no-quality");
      c.seed = seed;
      out = to_json(run_attention_bench(c));
      rows.push_back(out);
    }
    out.set("mode", mode);
    out.set("threads", threads);
    out.set("device", device);
    if (!csv.empty()) write_csv(csv, rows);
    if (json) {
      std::printf("%s\n", out.dump_pretty().c_str());
    } else {
      for (const Json& r : rows) {
        std::string line;
        for (const auto& m : r.members())
          if (!m.second.is_object() && !m.second.is_array() && m.first != "memory_method" && m.first != "quality_note")
            line += (line.empty() ? "" : " ") + m.first + "=" + cell(m.second);
        std::printf("%s\n", line.c_str());
      }
      std::printf("device=%s threads=%d%s\n", device.c_str(), threads,
                  csv.empty() ? "" : (" csv=" + csv).c_str());
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: bench-attention: %s\n", e.what());
    return 2;
  } catch (const Error& e) {  // bad variant name or parameter value: a usage error too
    const std::string m = e.what();
    if (m.find("unknown") != std::string::npos || m.find(" must be ") != std::string::npos ||
        m.find("takes no parameters") != std::string::npos) {
      std::string flag = m.find("unknown attention variant") != std::string::npos
                             ? (mode == "scaling" ? "--variants" : "--variant") : "";
      for (const auto& pf : kParamFlags)  // name the shorthand flag that set the parameter
        if (flag.empty() && (m.find(std::string(" ") + pf.second + " must be") != std::string::npos ||
                             m.find("'" + std::string(pf.second) + "'") != std::string::npos))
          flag = pf.first;
      std::fprintf(stderr, "error: bench-attention: %s%s\n",
                   flag.empty() ? "" : ("invalid value for " + flag + ": ").c_str(), m.c_str());
      return 2;
    }
    throw;
  }
  return 0;
}
