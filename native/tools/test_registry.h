/*
 * test_registry.h: a dozen lines of unit-test harness for the native test suite (no framework
 * to install on GPU machines). LSHLAB_TEST(name) { ... } registers a test; LSHLAB_EXPECT(cond)
 * records a failure with file and line and keeps going; LSHLAB_SKIP(reason) ends a test as skipped
 * (e.g. no CUDA device), with the reason listed before the summary line
 * `N passed, N failed, N skipped`. `lshlab-native test [prefix]` runs them.
 */
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace lshlab_test {

struct TestCase {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}
inline int& failures() {  // failures in the test currently running
  static int f = 0;
  return f;
}
inline std::string& skip_reason() {  // set by LSHLAB_SKIP in the test currently running
  static std::string r;
  return r;
}
struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, fn}); }
};

}  // namespace lshlab_test

#define LSHLAB_TEST_CAT2(a, b) a##b
#define LSHLAB_TEST_CAT(a, b) LSHLAB_TEST_CAT2(a, b)
#define LSHLAB_TEST(name)                                                                   \
  static void LSHLAB_TEST_CAT(lshlab_test_fn_, __LINE__)();                                 \
  static ::lshlab_test::Registrar LSHLAB_TEST_CAT(lshlab_test_reg_, __LINE__)(              \
      name, LSHLAB_TEST_CAT(lshlab_test_fn_, __LINE__));                                    \
  static void LSHLAB_TEST_CAT(lshlab_test_fn_, __LINE__)()
#define LSHLAB_EXPECT(cond)                                                                 \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "    %s:%d: expectation failed: %s\n", __FILE__, __LINE__, #cond); \
      ::lshlab_test::failures()++;                                                          \
    }                                                                                       \
  } while (0)
// Ends the current test as skipped, with a reason for the summary (a test that already recorded
// a failure still counts as failed).
#define LSHLAB_SKIP(reason)                                                                 \
  do {                                                                                      \
    ::lshlab_test::skip_reason() = (reason);                                                \
    return;                                                                                 \
  } while (0)
