/*
 * cmd_bench_peak.cc: `lshlab-native bench-peak [--json] [--ms N] [--isa avx2|avx512]`: the measured
 * peak fp32 FMA throughput, by default with the widest FMA the GEMM kernel runs.
 */
#include <cstdio>
#include <stdexcept>
#include <string>

#include "args.h"
#include "commands.h"
#include "core/cpu_info.h"
#include "ops/cpu/peak.h"

int cmd_bench_peak(int argc, char** argv) {
  bool json;
  double seconds;
  std::string isa;
  try {
    DriverArgs a(argc, argv, {"--ms", "--isa"}, {"--json"});
    json = a.has("--json");
    seconds = double(a.integer("--ms", 500, 10, 60000)) / 1000.0;
    isa = a.str("--isa", "");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: bench-peak: %s\n", e.what());
    return 2;
  }
  lshlab::PeakResult r;
  try {
    r = lshlab::measure_peak_fma(0, seconds, isa);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  if (json)
    std::printf("{\"gflops\": %.2f, \"per_thread_gflops\": %.2f, \"threads\": %d, \"isa\": \"%s\", \"device\": \"cpu: %s\"}\n",
                r.gflops, r.per_thread, r.threads, r.isa.c_str(), lshlab::cpu_info().model.c_str());
  else
    std::printf("peak fp32 FMA: %.1f GFLOP/s on %d threads (%.1f per thread, %s, cpu %s)\n", r.gflops,
                r.threads, r.per_thread, r.isa.c_str(), lshlab::cpu_info().model.c_str());
  return 0;
}
