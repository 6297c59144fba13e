/*
 * gradcheck.h: float64 central-difference gradient checks of every op and of the whole model on a
 * tiny config. Each check compares the analytic backward pass with the five-point central difference
 * (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h for a
 * random scalar projection of the output, and reports the relative error
 *   |analytic - numeric| / max(|analytic| + |numeric|, 1e-5)   (worst over checked entries).
 * Used by `lshlab check`, the native test suite and the C++ driver.
 */
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace lshlab {

struct GradCheckResult {
  std::string name;       // e.g. "layernorm", "attention/exact", "model/mlm"
  double max_rel_error = 0;
  double tolerance = 1e-6;
  int checked = 0;        // number of input entries compared
  int skipped = 0;        // entries at a hash-bucket step (hash-based attention only; see .cc)
  bool passed = false;
};

// Runs every check (about a second on one core). If `only` is non-empty, runs checks whose name
// starts with it.
std::vector<GradCheckResult> run_gradchecks(const std::string& only = "");

}  // namespace lshlab
