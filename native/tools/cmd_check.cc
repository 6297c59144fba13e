/*
 * cmd_check.cc: `lshlab-native check [prefix]`: runs the float64 gradient checks and prints a table.
 */
#include <cstdio>
#include <string>

#include "check/gradcheck.h"
#include "commands.h"

int cmd_check(int argc, char** argv) {
  std::string only = argc > 0 ? argv[0] : "";
  auto results = lshlab::run_gradchecks(only);
  int failed = 0;
  std::printf("%-40s %14s %10s %8s %8s  %s\n", "check", "max rel error", "tolerance", "checked",
              "skipped", "result");
  for (const auto& r : results) {
    std::printf("%-40s %14.3e %10.0e %8d %8d  %s\n", r.name.c_str(), r.max_rel_error, r.tolerance,
                r.checked, r.skipped, r.passed ? "PASS" : "FAIL");
    failed += !r.passed;
  }
  std::printf("%d passed, %d failed\n", int(results.size()) - failed, failed);
  return failed == 0 && !results.empty() ? 0 : 1;
}
