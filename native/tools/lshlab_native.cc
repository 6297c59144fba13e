/*
 * lshlab_native.cc: entry point of lshlab-native, the engine's stand-alone driver. Dispatches to
 * the subcommands in commands.h; knows nothing of Node.
 */
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "core/threadpool.h"
#include "test_registry.h"

static void usage() {
  std::fprintf(stderr,
               "usage: lshlab-native <command> [options]\n"
               "  test [prefix]               run the native unit tests (prefix cuda/: the CUDA parity tests)\n"
               "  info [--json]               engine build, CPU and CUDA status (devices, why unavailable)\n"
               "  bench-cuda [--json] [--quick]  time the CUDA kernels against the CPU ops\n"
               "  check [prefix]              run the float64 gradient checks\n"
               "  bench-gemm --m M --n N --k K [--openblas] [--json]\n"
               "  bench-train --seq T --batch B [--steps S] [--device cpu|cuda[:N]] [--model tiny|base]\n"
               "              [--precision fp32|tf32|bf16] [--cuda-graphs on|off] [--json]\n"
               "  bench-peak [--json] [--isa avx2|avx512]  measured peak fp32 FMA throughput (default: the GEMM's width)\n"
               "  dump-reference --task mlm|classification|qa --out DIR [--seed S]\n"
               "  optimizer-trace --spec FILE [--out FILE] | --layout TASK  the optimiser step as JSON (reference tests)\n"
               "  init-from --from SRC --task T --batch FILE --out DIR [--seed S] [--num-labels N]\n"
               "  dump-attention --variant V --out FILE [--param k=v ...] [--seq T ...]\n"
               "  bench-attention [--paper-table1|--sweep|--scaling|--collisions] [--variant V --seq T ...] [--json] [--csv FILE]\n"
               "  bench-attention --device cuda --scaling [--variants exact,yoso,yoso-e] [--max-n N] [--quick] [--json]\n"
               "global: --threads N (default: all cores)\n");
}

int cmd_test(int argc, char** argv) {
  std::string prefix = argc > 0 ? argv[0] : "";
  int passed = 0, failed = 0;
  std::vector<std::string> skipped;  // "name: reason"
  for (auto& t : lshlab_test::registry()) {
    if (!prefix.empty() && std::strncmp(t.name, prefix.c_str(), prefix.size()) != 0) continue;
    lshlab_test::failures() = 0;
    lshlab_test::skip_reason().clear();
    const auto start = std::chrono::steady_clock::now();
    try {
      t.fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "    uncaught exception: %s\n", e.what());
      lshlab_test::failures()++;
    }
    const bool ok = lshlab_test::failures() == 0;
    // The slow tests name themselves, so the suite's time (CI keeps to 25 minutes) can be kept.
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string time_note = took >= 1.0 ? " (" + std::to_string(int(took + 0.5)) + " s)" : "";
    if (ok && !lshlab_test::skip_reason().empty()) {
      std::printf("skip %s (%s)\n", t.name, lshlab_test::skip_reason().c_str());
      skipped.push_back(std::string(t.name) + ": " + lshlab_test::skip_reason());
    } else {
      std::printf("%s %s%s\n", ok ? "ok  " : "FAIL", t.name, time_note.c_str());
      (ok ? passed : failed)++;
    }
    std::fflush(stdout);
  }
  for (const auto& s : skipped) std::printf("skipped: %s\n", s.c_str());
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, int(skipped.size()));
  return failed == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc < 2) { usage(); return 2; }
  // Strip the global --threads option wherever it appears.
  int n = 0;
  char* args[256];
  for (int i = 2; i < argc && n < 255; i++) {
    if (std::strcmp(argv[i], "--threads") == 0) {
      if (i + 1 >= argc) { std::fprintf(stderr, "error: --threads needs a value\n"); return 2; }
      int t = std::atoi(argv[++i]);
      if (t < 1 || t > 1024) { std::fprintf(stderr, "error: --threads must be 1..1024\n"); return 2; }
      lshlab::ThreadPool::set_global_threads(t);
      continue;
    }
    args[n++] = argv[i];
  }
  args[n] = nullptr;
  const std::string cmd = argv[1];
  try {
    if (cmd == "test") return cmd_test(n, args);
    if (cmd == "test-cuda") {  // alias of `test cuda/`
      char prefix[] = "cuda/";
      char* a[] = {prefix, nullptr};
      return cmd_test(1, a);
    }
    if (cmd == "info") return cmd_info(n, args);
    if (cmd == "bench-cuda") return cmd_bench_cuda(n, args);
    if (cmd == "check") return cmd_check(n, args);
    if (cmd == "bench-gemm") return cmd_bench_gemm(n, args);
    if (cmd == "bench-train") return cmd_bench_train(n, args);
    if (cmd == "dump-reference") return cmd_dump_reference(n, args);
    if (cmd == "init-from") return cmd_init_from(n, args);
    if (cmd == "bench-peak") return cmd_bench_peak(n, args);
    if (cmd == "dump-attention") return cmd_dump_attention(n, args);
    if (cmd == "bench-attention") return cmd_bench_attention(n, args);
    if (cmd == "optimizer-trace") return cmd_optimizer_trace(n, args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "error: unknown command '%s'\n", cmd.c_str());
  usage();
  return 2;
}
