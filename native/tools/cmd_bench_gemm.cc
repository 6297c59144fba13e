/*
 * cmd_bench_gemm.cc: `lshlab-native bench-gemm --m M --n N --k K [--ta] [--tb] [--iters N]
 * [--openblas] [--json]`: argument parsing and output for bench_gemm(). The timing itself lives
 * in ops/cpu/gemm_bench.cc; the global --threads option is handled by lshlab_native.cc.
 */
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "commands.h"
#include "ops/cpu/gemm_bench.h"

namespace {

bool parse_int(const char* s, long lo, long hi, int* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

// JSON string escaping for the library path (quotes, backslashes, control characters).
std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') { o += '\\'; o += ch; }
    else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += ch;
  }
  return o + "\"";
}

}  // namespace

int cmd_bench_gemm(int argc, char** argv) {
  lshlab::GemmBenchConfig cfg;
  bool json = false;
  for (int i = 0; i < argc; i++) {
    const std::string a = argv[i];
    int* target = nullptr;
    long lo = 1, hi = 1 << 20;
    if (a == "--m") target = &cfg.M;
    else if (a == "--n") target = &cfg.N;
    else if (a == "--k") target = &cfg.K;
    else if (a == "--iters") { target = &cfg.iters; lo = 0; hi = 100000000; }
    else if (a == "--ta") { cfg.transA = true; continue; }
    else if (a == "--tb") { cfg.transB = true; continue; }
    else if (a == "--openblas") { cfg.openblas = true; continue; }
    else if (a == "--json") { json = true; continue; }
    else {
      std::fprintf(stderr, "error: bench-gemm: unknown option '%s'\n", a.c_str());
      return 2;
    }
    if (i + 1 >= argc || !parse_int(argv[i + 1], lo, hi, target)) {
      std::fprintf(stderr, "error: bench-gemm: %s needs an integer in [%ld, %ld], got '%s'\n",
                   a.c_str(), lo, hi, i + 1 < argc ? argv[i + 1] : "");
      return 2;
    }
    i++;
  }
  const double elems = static_cast<double>(cfg.M) * cfg.K + static_cast<double>(cfg.K) * cfg.N +
                       static_cast<double>(cfg.M) * cfg.N;
  if (elems > 2.0e9) {
    std::fprintf(stderr, "error: bench-gemm: %d x %d x %d needs too much memory\n", cfg.M, cfg.N,
                 cfg.K);
    return 2;
  }

  const lshlab::GemmBenchResult r = lshlab::bench_gemm(cfg);
  if (json) {
    std::printf(
        "{\"m\":%d,\"n\":%d,\"k\":%d,\"ta\":%s,\"tb\":%s,\"iters\":%d,\"seconds_mean\":%.9g,"
        "\"gflops\":%.6g,\"kernel\":%s,\"threads\":%d,\"max_abs_error\":%.6g,"
        "\"openblas_available\":%s,\"openblas_gflops\":%.6g,\"openblas_library\":%s}\n",
        r.M, r.N, r.K, cfg.transA ? "true" : "false", cfg.transB ? "true" : "false", r.iters,
        r.seconds_mean, r.gflops, json_str(r.kernel).c_str(), r.threads, r.max_abs_error,
        r.openblas_available ? "true" : "false", r.openblas_gflops,
        json_str(r.openblas_library).c_str());
  } else {
    std::printf("gemm %c%c M=%d N=%d K=%d: %.1f GFLOPS (%.3f ms, %d iters, kernel %s, %d threads, "
                "max_abs_error %.3g)",
                cfg.transA ? 'T' : 'N', cfg.transB ? 'T' : 'N', r.M, r.N, r.K, r.gflops,
                r.seconds_mean * 1e3, r.iters, r.kernel.c_str(), r.threads, r.max_abs_error);
    if (cfg.openblas) {
      if (r.openblas_available)
        std::printf("; OpenBLAS %.1f GFLOPS (%s)", r.openblas_gflops, r.openblas_library.c_str());
      else
        std::printf("; OpenBLAS not found");
    }
    std::printf("\n");
  }
  return 0;
}
