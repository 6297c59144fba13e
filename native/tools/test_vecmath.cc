/*
 * test_vecmath.cc: the vectorised helpers behind cross-entropy (vec_index_of, vec_scale) on
 * every tail length, and cross_entropy_forward_backward's prediction and gradient: the first
 * maximum wins, the gradient matches a float64 softmax, and a NaN row (a diverged model) reads
 * nothing past its row and counts as a miss; dropout masks against the Philox stream; the
 * AVX-512 forms of vecmath and AdamW against the AVX2 and scalar ones.
 */
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/philox.h"
#include "core/cpu_info.h"
#include "ops/cpu/ops.h"
#include "ops/cpu/vecmath.h"
#include "train/adamw_kernel.h"
#include "test_registry.h"

using namespace lshlab;

LSHLAB_TEST("ops/vec_index_of_and_vec_scale_every_tail") {
  for (int n = 1; n <= 37; n++) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) x[size_t(i)] = float(i % 5);
    for (int v = 0; v < 6; v++) {
      int64_t want = n;
      for (int i = 0; i < n; i++) if (x[size_t(i)] == float(v)) { want = i; break; }
      LSHLAB_EXPECT(vec_index_of(x.data(), n, float(v)) == want);
    }
    LSHLAB_EXPECT(vec_index_of(x.data(), n, std::numeric_limits<float>::quiet_NaN()) == n);
    std::vector<float> y = x;
    vec_scale(y.data(), n, 0.5f);
    for (int i = 0; i < n; i++) LSHLAB_EXPECT(y[size_t(i)] == x[size_t(i)] * 0.5f);
  }
}

LSHLAB_TEST("ops/cross_entropy_first_maximum_gradient_and_nan_row") {
  const int N = 3, V = 21;
  // One spare row of sentinels after the last row: a search running past row 2 would find 9.
  std::vector<float> l(size_t(N + 1) * V, 9.f), d(size_t(N) * V, -1.f);
  for (int v = 0; v < V; v++) {
    l[size_t(v)] = std::sin(0.7f * float(v));
    l[size_t(V + v)] = float(v % 4);  // maximum 3 first at v = 3, repeated
    l[size_t(2 * V + v)] = std::numeric_limits<float>::quiet_NaN();
  }
  const int32_t targets[N] = {4, 3, 0};
  int64_t correct = -1, counted = -1;
  const double loss = cross_entropy_forward_backward<float>(d.data(), l.data(), targets, N, V, -100,
                                                            1.0, &correct, &counted);
  LSHLAB_EXPECT(counted == 3);
  LSHLAB_EXPECT(correct == 1);  // row 1: the first maximum (v = 3) is the target
  LSHLAB_EXPECT(std::isnan(loss));
  for (int n = 0; n < 2; n++) {
    double mx = -1e30, s = 0;
    for (int v = 0; v < V; v++) mx = std::max(mx, double(l[size_t(n * V + v)]));
    for (int v = 0; v < V; v++) s += std::exp(double(l[size_t(n * V + v)]) - mx);
    for (int v = 0; v < V; v++) {
      const double p = std::exp(double(l[size_t(n * V + v)]) - mx) / s;
      const double want = (p - (v == targets[n] ? 1.0 : 0.0)) / 3.0;
      LSHLAB_EXPECT(std::fabs(double(d[size_t(n * V + v)]) - want) < 1e-6);
    }
  }
}

// dropout_mask (8 Philox blocks per AVX2 step where the CPU has AVX2, scalar otherwise) against
// the stream's definition, element by element: keep[i] = (philox_u32(seed, Dropout, step,
// (site << 36) + i) >> 8) >= p 2^24; every tail length, p = 0 and 1, a seed with high bits.
LSHLAB_TEST("ops/dropout_mask_is_the_philox_stream_and_apply_scales") {
  const uint64_t seeds[2] = {42, 0xF00DFACE12345678ull};
  const double ps[4] = {0.0, 0.1, 0.5, 1.0};
  for (uint64_t seed : seeds)
    for (double p : ps)
      for (int64_t n : {1, 3, 31, 32, 33, 95, 4099}) {
        const uint32_t step = 7, site = 3;
        std::vector<uint8_t> keep(static_cast<size_t>(n) + 1, 2);
        dropout_mask(keep.data(), n, p, seed, step, site);
        const uint32_t threshold = uint32_t(p * 16777216.0);
        bool same = keep[static_cast<size_t>(n)] == 2;  // nothing written past n
        for (int64_t i = 0; i < n; i++) {
          const uint32_t u = philox_u32(seed, uint32_t(Stream::Dropout), step, (uint64_t(site) << 36) + uint64_t(i));
          same = same && keep[static_cast<size_t>(i)] == ((u >> 8) >= threshold ? 1 : 0);
        }
        LSHLAB_EXPECT(same);
      }
  const int64_t n = 37;
  std::vector<uint8_t> keep(static_cast<size_t>(n));
  dropout_mask(keep.data(), n, 0.5, 9, 1, 0);
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) x[static_cast<size_t>(i)] = float(i) - 10.5f;
  x[5] = std::numeric_limits<float>::quiet_NaN();
  dropout_forward<float>(y.data(), x.data(), keep.data(), 0.5, n);
  for (int64_t i = 0; i < n; i++) {
    const float want = keep[static_cast<size_t>(i)] ? x[static_cast<size_t>(i)] * 2.f : 0.f;
    const float got = y[static_cast<size_t>(i)];
    LSHLAB_EXPECT(std::isnan(want) ? std::isnan(got) : got == want && !std::signbit(got) == !std::signbit(want));
  }
}

// The AVX-512 and AVX2 forms of vecmath compute the same polynomials in the same order: equal
// bits per element (only exp_shift_sum's double sum is ordered differently), and GELU within
// 1e-6 of float64 erf.
LSHLAB_TEST("ops/vecmath_avx512_equals_avx2_per_element") {
  const CpuInfo& ci = cpu_info();
  if (!(ci.avx512f && ci.avx2 && ci.fma && vecmath_detail::have_avx512())) {
    LSHLAB_SKIP("this CPU (or build) has no AVX-512F: only the AVX2 and portable forms run here");
  }
  const int64_t n = 1000 + 13;  // a tail for both widths
  std::vector<float> x(static_cast<size_t>(n)), dout(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) {
    x[static_cast<size_t>(i)] = -12.f + 24.f * float(i) / float(n) + (i % 7 == 0 ? 0.37f : 0.f);
    dout[static_cast<size_t>(i)] = std::cos(0.1f * float(i));
  }
  std::vector<float> a(x.size()), b(x.size());
  vecmath_detail::gelu_forward_avx2(a.data(), x.data(), n);
  vecmath_detail::gelu_forward_avx512(b.data(), x.data(), n);
  LSHLAB_EXPECT(a == b);
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    const double v = x[static_cast<size_t>(i)];
    worst = std::max(worst, std::fabs(double(b[static_cast<size_t>(i)]) - 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))));
  }
  LSHLAB_EXPECT(worst < 1e-5);  // |x| up to 12: 1e-5 absolute is ~1 float ulp at the top
  vecmath_detail::gelu_backward_avx2(a.data(), dout.data(), x.data(), n);
  vecmath_detail::gelu_backward_avx512(b.data(), dout.data(), x.data(), n);
  LSHLAB_EXPECT(a == b);
  const double s2 = vecmath_detail::exp_shift_sum_avx2(a.data(), x.data(), n, 3.f);
  const double s5 = vecmath_detail::exp_shift_sum_avx512(b.data(), x.data(), n, 3.f);
  LSHLAB_EXPECT(a == b);
  LSHLAB_EXPECT(std::fabs(s2 - s5) <= 1e-12 * s2);
  LSHLAB_EXPECT(vecmath_detail::max_avx2(x.data(), n) == vecmath_detail::max_avx512(x.data(), n));
}

// AdamW 16 wide (adamw_avx512.cc) against the scalar loop: the same bits, tails included.
LSHLAB_TEST("train/adamw_avx512_equals_the_scalar_update") {
  if (!(cpu_info().avx512f && adamw_detail::have_avx512()))
    LSHLAB_SKIP("this CPU (or build) has no AVX-512F: AdamW runs the scalar loop only");
  const size_t n = 1000 + 7;
  std::vector<float> p(n), g(n), m(n), v(n);
  for (size_t i = 0; i < n; i++) {
    p[i] = std::sin(0.3f * float(i));
    g[i] = std::cos(0.7f * float(i)) * (i % 5 == 0 ? 1e-4f : 1.f);
    m[i] = 0.01f * std::sin(float(i));
    v[i] = 1e-4f * float(i % 13);
  }
  const adamw_detail::AdamWConsts k{0.7f, 0.9999f, 0.9f, 0.999f, 1e-3f, 1.2f, 1e-8f};
  std::vector<float> p2 = p, m2 = m, v2 = v;
  for (int rep = 0; rep < 3; rep++) {
    adamw_detail::update_scalar(p.data(), g.data(), m.data(), v.data(), n, k);
    adamw_detail::update_avx512(p2.data(), g.data(), m2.data(), v2.data(), n, k);
  }
  LSHLAB_EXPECT(p == p2 && m == m2 && v == v2);
}
