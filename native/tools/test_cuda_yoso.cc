/*
 * test_cuda_yoso.cc: CUDA parity tests of YOSO attention (native/cuda/yoso_*.cu) against the CPU
 * variant (attention/yoso.h) on the same inputs and the same draws (seed, step, site):
 *   planes      vs YosoAttention's "hyperplanes" rounded to float: bit for bit, or at most 1
 *               float ulp where the device's float64 log/cos round differently (counted)
 *   codes       vs yoso_hash<double> on the CPU's unit rows and planes: equal
 *   ctx, dqkv   vs YosoAttention<double> (relative L2 error <= 1e-5 for ctx, 1e-4 for dqkv) and
 *               YosoAttention<float> (the same bounds)
 *   collisions  vs the CPU counters' head_collisions: equal (integers)
 * and yoso-e (yoso_e.cu, dense) against YosoAttention<double/float> with lsh = false, both
 * backward modes (no draws, no screening needed),
 * with padding, odd T, D not a multiple of 32, dense (2^tau <= T) and positional bucket tables,
 * tau 1..16 (1 to 3 radix passes), big buckets (the CPU's matrix path), keys parallel to their
 * queries (at tau 16 nothing else collides), both backward modes, several hash and head chunks
 * (LSHLAB_CUDA_YOSO_HASH_CHUNK, LSHLAB_CUDA_YOSO_HEAD_CHUNK) and bitwise reproducibility; the
 * limits: head sizes 129..256 (8 row elements per lane, the hash kernel's plane passes, big
 * buckets whose slot spacing L passes a block's 256 threads, matrices in row parts), 130 and
 * 1024 hashes, B*H = 66,000 (> 65535: every grid is flat; in the host emulation only with
 * LSHLAB_CUDA_TEST_LARGE=1, its ~1.2 million blocks being slow there). What is too large to run (T = 2^20
 * with B*H = 32, where element offsets pass 2^31) is checked on the host: yoso_plan.cuh's plan,
 * launch sizes and offset helpers at those shapes.
 * Why inputs are screened: a code bit whose projection lies within float rounding of 0 may
 * differ between any two summation orders (CPU float vs double too), and one flipped bit moves a
 * whole bucket; rows with a projection within 1e-5 of 0 are redrawn so the codes are well defined.
 * Skipped, with the loader's reason, without a usable CUDA device.
 */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "../cuda/yoso_plan.cuh"
#include "attention/yoso.h"
#include "cuda_harness.h"
#include "test_registry.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

namespace {

constexpr uint64_t kSeed = 77;
constexpr uint32_t kStep = 5, kSite = 3;

struct Case { int B, T, H, D, tau, m; bool masked, exact, tied = false; };  // tied: k = 2 q

void set_env(const char* key, const char* value) {  // value nullptr: unset
#ifdef _WIN32
  _putenv_s(key, value ? value : "");
#else
  if (value) setenv(key, value, 1);
  else unsetenv(key);
#endif
}

// Unit row in float64 as yoso.cc's l2_rows<double>.
std::vector<double> unit(const float* x, int D) {
  double s = 0;
  for (int d = 0; d < D; d++) s += double(x[d]) * x[d];
  const double inv = 1.0 / std::max(std::sqrt(s), 1e-12);
  std::vector<double> u(D);
  for (int d = 0; d < D; d++) u[d] = x[d] * inv;
  return u;
}

struct Inputs {
  std::vector<float> qkv, dctx;
  std::vector<int32_t> mask;
};

// Random inputs whose q and k rows have no projection within 1e-5 of 0 on the case's planes.
Inputs make_inputs(const Case& c, unsigned seed) {
  const int C = c.H * c.D;
  Inputs in;
  in.qkv = random_floats(size_t(c.B) * c.T * 3 * C, seed, -1.f, 1.f);
  in.dctx = random_floats(size_t(c.B) * c.T * C, seed + 1);
  in.mask.assign(size_t(c.B) * c.T, 1);
  if (c.masked)
    for (int b = 0; b < c.B; b++)
      for (int t = 0; t < c.T; t++)
        if (t >= c.T - 3 * (b + 1) || t % 5 == 2) in.mask[size_t(b) * c.T + t] = 0;
  std::mt19937 rng(seed + 2);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  std::vector<double> planes(size_t(c.m) * c.tau * c.D);
  for (int b = 0; b < c.B; b++)
    for (int h = 0; h < c.H; h++) {
      yoso_planes<double>(planes.data(), kSeed, kStep, kSite, b, h, c.m, c.tau, c.D);
      for (int t = 0; t < c.T; t++)
        for (int part = 0; part < 2; part++) {
          float* x = &in.qkv[(size_t(b) * c.T + t) * 3 * C + part * C + h * c.D];
          if (part == 1 && c.tied) {  // the same unit row as q: collides under every hash
            for (int d = 0; d < c.D; d++) x[d] = 2 * x[d - C];
            continue;
          }
          for (bool tie = true; tie;) {
            const std::vector<double> u = unit(x, c.D);
            tie = false;
            for (size_t r = 0; r < size_t(c.m) * c.tau && !tie; r++) {
              double p = 0;
              for (int d = 0; d < c.D; d++) p += u[d] * planes[r * c.D + d];
              tie = std::fabs(p) < 1e-5;
            }
            if (tie)
              for (int d = 0; d < c.D; d++) x[d] = uni(rng);
          }
        }
    }
  return in;
}

struct GpuOut {
  std::vector<float> ctx, ynrm, planes, dqkv;
  std::vector<int32_t> qcode, kcode;
  std::vector<double> collisions;
};

GpuOut run_gpu(const Api& a, const Case& c, const Inputs& in) {
  const int B = c.B, T = c.T, H = c.H, D = c.D, C = H * D;
  const size_t BH = size_t(B) * H;
  size_t bytes = 0;
  ok(a, a.yoso_workspace_size(&bytes, B, T, H, D, c.tau, c.m), "yoso_workspace_size");
  DeviceBuffer<unsigned char> ws(a, bytes);
  DeviceBuffer<float> qkv(a, in.qkv), dctx(a, in.dctx), ctx(a, size_t(B) * T * C),
      ynrm(a, BH * T), planes(a, BH * c.m * c.tau * D), dqkv(a, in.qkv.size());
  DeviceBuffer<int32_t> mask(a, in.mask), qc(a, BH * c.m * T), kc(a, BH * c.m * T);
  DeviceBuffer<double> coll(a, size_t(H));
  ws.poison(); ctx.poison(); ynrm.poison(); planes.poison(); dqkv.poison(); qc.poison();
  kc.poison(); coll.poison();
  const int32_t* mp = c.masked ? mask.get() : nullptr;
  ok(a, a.yoso_forward(ctx.get(), ynrm.get(), qc.get(), kc.get(), planes.get(), coll.get(),
                       ws.get(), qkv.get(), mp, B, T, H, D, c.tau, c.m, kSeed, kStep, kSite),
     "yoso_forward");
  ok(a, a.yoso_backward(dqkv.get(), ws.get(), dctx.get(), qkv.get(), ctx.get(), ynrm.get(),
                        qc.get(), kc.get(), mp, B, T, H, D, c.tau, c.m, c.exact ? 1 : 0),
     "yoso_backward");
  return {ctx.download(), ynrm.download(), planes.download(), dqkv.download(), qc.download(),
          kc.download(), coll.download()};
}

template <typename F>
void run_cpu(std::vector<F>& ctx, std::vector<F>& dqkv, std::vector<double>* planes,
             std::vector<double>* coll, const Case& c, const Inputs& in) {
  YosoOptions o;
  o.lsh = true;
  o.tau = c.tau;
  o.num_hash = c.m;
  o.exact_backward = c.exact;
  YosoAttention<F> ref(o);
  AttentionCall call;
  call.B = c.B; call.T = c.T; call.H = c.H; call.D = c.D; call.training = true;
  call.seed = kSeed; call.step = kStep; call.site = kSite;
  const std::vector<F> qkv(in.qkv.begin(), in.qkv.end()), dctx(in.dctx.begin(), in.dctx.end());
  ctx.assign(in.dctx.size(), F(0));
  dqkv.assign(in.qkv.size(), F(0));
  const int32_t* mk = c.masked ? in.mask.data() : nullptr;
  ref.forward(ctx.data(), qkv.data(), mk, call);
  ref.backward(dqkv.data(), dctx.data(), qkv.data(), mk, call);
  if (planes) *planes = ref.debug_state().at(0).second;
  if (coll) *coll = ref.counters().head_collisions;
}

// One case against YosoAttention<double> and <float>: planes, codes, collisions, ctx, dqkv.
void check_case(const Api& a, const Case& c) {
  const int B = c.B, T = c.T, H = c.H, D = c.D, C = H * D;
  const Inputs in = make_inputs(c, unsigned(T * 31 + D + c.tau));
  const GpuOut g = run_gpu(a, c, in);
  std::vector<double> rctx, rdqkv, planes, coll;
  run_cpu<double>(rctx, rdqkv, &planes, &coll, c, in);
  std::vector<float> fctx, fdqkv;
  run_cpu<float>(fctx, fdqkv, nullptr, nullptr, c, in);

  // Planes: the CPU's float64 draws rounded to float.
  size_t exact = 0, far = 0;
  for (size_t e = 0; e < planes.size(); e++) {
    const float want = float(planes[e]), got = g.planes[e];
    exact += got == want;
    far += !(std::fabs(got - want) <= std::fabs(std::nextafter(want, 2 * want) - want));
  }
  LSHLAB_EXPECT(far == 0);
  // Codes of every token (padding too) from the CPU's unit rows and planes.
  size_t code_diff = 0;
  std::vector<int32_t> cq(size_t(c.m) * T), ck(cq.size());
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      std::vector<double> qn(size_t(T) * D), kn(qn.size());
      for (int t = 0; t < T; t++) {
        const float* row = &in.qkv[(size_t(b) * T + t) * 3 * C + h * D];
        const auto uq = unit(row, D), uk = unit(row + C, D);
        std::copy(uq.begin(), uq.end(), qn.begin() + size_t(t) * D);
        std::copy(uk.begin(), uk.end(), kn.begin() + size_t(t) * D);
      }
      const double* pl = &planes[(size_t(b) * H + h) * c.m * c.tau * D];
      yoso_hash<double>(cq.data(), qn.data(), D, T, pl, c.m, c.tau, D);
      yoso_hash<double>(ck.data(), kn.data(), D, T, pl, c.m, c.tau, D);
      const size_t off = (size_t(b) * H + h) * c.m * T;
      for (size_t e = 0; e < cq.size(); e++)
        code_diff += (g.qcode[off + e] != cq[e]) + (g.kcode[off + e] != ck[e]);
    }
  LSHLAB_EXPECT(code_diff == 0);
  size_t coll_diff = 0;
  for (int h = 0; h < H; h++) coll_diff += g.collisions[size_t(h)] != coll[size_t(h)];
  LSHLAB_EXPECT(coll_diff == 0);

  const double e_ctx = rel_error(g.ctx, rctx), e_dqkv = rel_error(g.dqkv, rdqkv),
               f_ctx = rel_error(g.ctx, to_double(fctx)), f_dqkv = rel_error(g.dqkv, to_double(fdqkv));
  std::fprintf(stderr,
               "    B%d T%d H%d D%d tau %d m %d%s%s: planes %zu/%zu bit-equal, code diffs %zu, "
               "collisions %.0f; rel err vs double ctx %.2g dqkv %.2g, vs float ctx %.2g dqkv %.2g\n",
               B, T, H, D, c.tau, c.m, c.masked ? " masked" : "", c.exact ? " exact" : "", exact,
               planes.size(), code_diff, g.collisions[0], e_ctx, e_dqkv, f_ctx, f_dqkv);
  LSHLAB_EXPECT(e_ctx <= 1e-5 && f_ctx <= 1e-5);
  LSHLAB_EXPECT(e_dqkv <= 1e-4 && f_dqkv <= 1e-4);
}

}  // namespace

LSHLAB_TEST("cuda/yoso/forward and backward match YosoAttention on the same draws") {
  CUDA_TEST_API(a);
  const Case cases[] = {
      {2, 37, 3, 64, 8, 8, true, false},    // padding, odd T, positional tables (2^8 > 37)
      {1, 1, 1, 32, 4, 3, false, false, true},  // one token
      {2, 70, 2, 24, 3, 5, true, true},     // D % 32 != 0, dense tables, backward=exact
      {1, 100, 2, 40, 6, 7, true, false},   // dense tables, 2 radix passes
      {1, 45, 1, 16, 16, 4, false, true, true},  // tau 16: 3 radix passes
      {1, 120, 1, 16, 1, 4, true, false},   // two buckets: both sides take the D x D matrix path
      {1, 160, 2, 8, 3, 4, true, false},    // buckets of ~20: some big (matrices), some pairs
      {1, 300, 1, 128, 9, 6, true, false},  // D 128, two radix tiles
  };
  for (const Case& c : cases) check_case(a, c);
}

LSHLAB_TEST("cuda/yoso/head sizes 129 to 256 match YosoAttention") {
  CUDA_TEST_API(a);
  const Case cases[] = {
      {2, 37, 3, 160, 8, 5, true, false},   // padding, odd T, positional tables; tau 8: 1 pass
      {1, 41, 2, 256, 30, 3, true, true, true},  // D 256, tau 30: hash planes in 4 passes;
                                                 // exact; k = 2q: each query meets its key
      {2, 50, 2, 256, 4, 2, true, true},    // exact: pairs of 8-per-lane rows
      {1, 70, 1, 200, 2, 3, true, false},   // D % 32 != 0, dense tables, some pairs
      {1, 1400, 1, 200, 1, 2, false, false},  // buckets of ~700 > 4D/3: matrices in 4 row
                                              // parts, slot spacing L = 267 > 256 threads
      {1, 1500, 1, 256, 1, 1, false, false},  // D 256: L = 342, the matrix path at full size
  };
  for (const Case& c : cases) check_case(a, c);
}

LSHLAB_TEST("cuda/yoso/many hashes (130, 1024) match YosoAttention") {
  CUDA_TEST_API(a);
  const Case cases[] = {
      {2, 20, 2, 24, 5, 130, true, false},  // m not a multiple of the hash kernel's 4
      {1, 6, 1, 8, 3, 1024, false, true},   // the most hashes the options take
  };
  for (const Case& c : cases) check_case(a, c);
}

// On a GPU this is milliseconds; the host emulation runs the ~1.2 million blocks (every launch has
// one or more per head) one after another, about 4.5 minutes on a 2-core machine (2026-12-05),
// more than the rest of the emulated suite together, so there it runs when asked.
LSHLAB_TEST("cuda/yoso/B*H = 66,000 (above grid y's 65535) matches YosoAttention") {
  CUDA_TEST_API(a);
  if (lshlab::cuda_status().devices.at(0).name == "host emulation" &&
      !std::getenv("LSHLAB_CUDA_TEST_LARGE"))
    LSHLAB_SKIP("about 1.2 million emulated blocks, minutes: set LSHLAB_CUDA_TEST_LARGE=1 to run it here");
  check_case(a, Case{264, 8, 250, 8, 2, 1, false, false});
}

LSHLAB_TEST("cuda/yoso/yoso-e forward and backward match YosoAttention") {
  CUDA_TEST_API(a);
  const Case cases[] = {
      {2, 37, 3, 64, 8, 1, true, false},   // padding, odd T (two tiles, the second ragged)
      {1, 1, 1, 32, 4, 1, false, true},    // one token, backward=exact
      {2, 70, 2, 24, 3, 1, true, true},    // D % 32 != 0, backward=exact (f(0.98 x) forward)
      {1, 45, 2, 128, 9, 1, false, false}, // D 128
      // Head sizes 129..256: 16-row tiles (attention_tile.cuh), within 99 KiB of shared memory.
      {2, 37, 2, 160, 8, 1, true, false},  // padding, odd T: ragged 16- and 32-row tiles
      {1, 53, 1, 256, 5, 1, true, true},   // D 256, backward=exact
      {2, 33, 1, 256, 9, 1, false, false}, // D 256, surrogate backward
      {1, 1, 1, 160, 4, 1, false, true},   // one token
  };
  for (const Case& c : cases) {
    const int B = c.B, T = c.T, H = c.H, D = c.D, C = H * D;
    const auto qkv = random_floats(size_t(B) * T * 3 * C, unsigned(T + D), -1.f, 1.f),
               dctx = random_floats(size_t(B) * T * C, unsigned(T + D + 1));
    std::vector<int32_t> mask(size_t(B) * T, 1);
    if (c.masked)
      for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
          if (t >= T - 3 * (b + 1) || t % 5 == 2) mask[size_t(b) * T + t] = 0;
    DeviceBuffer<float> gqkv(a, qkv), gdctx(a, dctx), gctx(a, size_t(B) * T * C),
        gy(a, size_t(B) * H * T), gdqkv(a, qkv.size()), ws(a, size_t(B) * H * T * (3 * D + 2));
    DeviceBuffer<int32_t> gmask(a, mask);
    gctx.poison(); gy.poison(); gdqkv.poison(); ws.poison();
    const int32_t* mp = c.masked ? gmask.get() : nullptr;
    ok(a, a.yoso_e_forward(gctx.get(), gy.get(), ws.get(), gqkv.get(), mp, B, T, H, D, c.tau, c.exact),
       "yoso_e_forward");
    ok(a, a.yoso_e_backward(gdqkv.get(), ws.get(), gdctx.get(), gqkv.get(), gctx.get(), gy.get(), mp, B, T,
                            H, D, c.tau, c.exact),
       "yoso_e_backward");
    const auto ctx = gctx.download(), dqkv = gdqkv.download();
    double err[2][2];  // [double, float][ctx, dqkv]
    for (int prec = 0; prec < 2; prec++) {
      YosoOptions o;
      o.tau = c.tau;
      o.exact_backward = c.exact;
      AttentionCall call;
      call.B = B; call.T = T; call.H = H; call.D = D;
      const int32_t* mk = c.masked ? mask.data() : nullptr;
      std::vector<double> rctx(ctx.size()), rdqkv(qkv.size());
      if (prec == 0) {
        YosoAttention<double> ref(o);
        const auto q = to_double(qkv), d = to_double(dctx);
        ref.forward(rctx.data(), q.data(), mk, call);
        ref.backward(rdqkv.data(), d.data(), q.data(), mk, call);
      } else {
        YosoAttention<float> ref(o);
        std::vector<float> fc(ctx.size()), fd(qkv.size());
        ref.forward(fc.data(), qkv.data(), mk, call);
        ref.backward(fd.data(), dctx.data(), qkv.data(), mk, call);
        rctx = to_double(fc);
        rdqkv = to_double(fd);
      }
      err[prec][0] = rel_error(ctx, rctx);
      err[prec][1] = rel_error(dqkv, rdqkv);
    }
    std::fprintf(stderr, "    yoso-e B%d T%d H%d D%d tau %d%s%s: rel err vs double ctx %.2g dqkv %.2g, "
                 "vs float ctx %.2g dqkv %.2g\n", B, T, H, D, c.tau, c.masked ? " masked" : "",
                 c.exact ? " exact" : "", err[0][0], err[0][1], err[1][0], err[1][1]);
    LSHLAB_EXPECT(err[0][0] <= 1e-5 && err[1][0] <= 1e-5);
    LSHLAB_EXPECT(err[0][1] <= 1e-4 && err[1][1] <= 1e-4);
  }
}

LSHLAB_TEST("cuda/yoso/results do not depend on the hash and head chunking and repeat bit for bit") {
  CUDA_TEST_API(a);
  const Case cases[] = {{2, 50, 2, 32, 5, 7, true, false}, {3, 33, 1, 160, 1, 3, true, false}};
  for (const Case& c : cases) {
    const Inputs in = make_inputs(c, 9);
    const GpuOut one = run_gpu(a, c, in), again = run_gpu(a, c, in);
    set_env("LSHLAB_CUDA_YOSO_HASH_CHUNK", "2");  // chunks of 2, 2, 2, 1 (2, 1) hashes
    const GpuOut by_hash = run_gpu(a, c, in);
    set_env("LSHLAB_CUDA_YOSO_HEAD_CHUNK", "3");  // and of 3, 1 (3) heads
    const GpuOut by_both = run_gpu(a, c, in);
    set_env("LSHLAB_CUDA_YOSO_HASH_CHUNK", nullptr);
    const GpuOut by_head = run_gpu(a, c, in);
    set_env("LSHLAB_CUDA_YOSO_HEAD_CHUNK", nullptr);
    LSHLAB_EXPECT(one.ctx == again.ctx && one.dqkv == again.dqkv);
    for (const GpuOut* g : {&by_hash, &by_both, &by_head}) {
      LSHLAB_EXPECT(one.ctx == g->ctx && one.ynrm == g->ynrm);
      LSHLAB_EXPECT(one.dqkv == g->dqkv && one.collisions == g->collisions);
    }
  }
}

// Host only: yoso_plan.cuh at shapes too large for the emulation (or, some, for any GPU): every
// chunk within its budget (or one segment), every launch within grid x, every offset helper
// exact past 2^31 and inside the buffer it indexes, the hash kernel within 99 KiB.
LSHLAB_TEST("cuda/yoso/plan, launch sizes and offsets at 2^20 tokens (host)") {
  using namespace lshlab_cuda::yoso;
  struct Big { int B, T, H, D, tau, m; };
  const Big shapes[] = {
      {4, 1 << 20, 8, 64, 9, 64},     // the scaling sweep's shape at 1M tokens
      {4, 1 << 20, 8, 256, 30, 1024}, // D 256, tau 30, the most hashes
      {1, 1 << 20, 32, 64, 1, 8},     // two buckets: big ones everywhere
      {4095, 64, 255, 8, 4, 16},      // B*H = 1,044,225 heads
      {1, 2147483647, 1, 1, 30, 1},   // the longest T the ABI's int takes
  };
  for (const Big& z : shapes) {
    const Shape s{z.B, z.T, z.H, z.D, z.m, z.tau};
    const Plan p = make_plan(s);
    const int64_t n = s.T, BH = s.BH();
    LSHLAB_EXPECT(p.nb >= 1 && p.nb <= BH && p.mc >= 1 && p.mc <= s.m && p.S == int64_t(p.nb) * p.mc);
    LSHLAB_EXPECT(p.nb == BH || p.mc == 1);  // heads are split only below one hash
    const size_t chunk = p.total - p.fixed;
    LSHLAB_EXPECT(chunk <= kChunkBudget + 16 * 256 || p.S == 1);
    LSHLAB_EXPECT(p.fixed >= size_t(p.nb) * n * (3 * size_t(s.D) + 2) * 4 && p.fixed >= size_t(BH) * n * 8);
    LSHLAB_EXPECT(max_blocks(s, p) <= kMaxGrid);
    // Offsets: the last element of each array, exactly (no wrap past 2^31), inside its buffer.
    LSHLAB_EXPECT(code_at(BH - 1, s.m, s.m - 1, s.T, s.T - 1) + 1 == BH * s.m * n);
    LSHLAB_EXPECT(head_row_at(p.nb - 1, s.T, s.T - 1, s.D) + s.D == int64_t(p.nb) * n * s.D);
    LSHLAB_EXPECT(token_row_at(s.B - 1, s.T - 1, s.H - 1, s, 3, 2) + s.D == int64_t(s.B) * n * 3 * s.C());
    LSHLAB_EXPECT(sorted_at(p.S - 1, s.T, s.T - 1) + 1 == p.S * n);
    LSHLAB_EXPECT(size_t(p.S * n) * 4 <= p.key);
    LSHLAB_EXPECT(table_at(p.S - 1, p.R, p.R - 1, s.D) + s.D == p.S * p.R * s.D);
    LSHLAB_EXPECT(size_t(p.S * p.R * s.D) * 4 <= p.table);
    LSHLAB_EXPECT(matrix_at(p.S - 1, p.nslot, p.nslot - 1, s.D) + int64_t(s.D) * s.D ==
                  p.S * p.nslot * s.D * s.D);
    LSHLAB_EXPECT(size_t(p.S * p.nslot) * s.D * s.D * 4 <= p.mats);
    std::fprintf(stderr, "    B%d T%d H%d D%d tau %d m %d: chunks of %d heads x %d hashes, "
                 "workspace %.3g GiB (rows %.3g, per chunk %.3g), largest grid %lld blocks\n",
                 z.B, z.T, z.H, z.D, z.tau, z.m, p.nb, p.mc, double(p.total) / (1 << 30),
                 double(p.fixed) / (1 << 30), double(chunk) / (1 << 30),
                 (long long)max_blocks(s, p));
  }
  // At the sweep's shape (B*H = 32, T = 2^20) the codes' offsets pass 2^31 from m = 65 on.
  LSHLAB_EXPECT(code_at(31, 65, 64, 1 << 20, (1 << 20) - 1) == 65 * (int64_t(1) << 25) - 1);
  // The hash kernel's shared memory: within 99 KiB for every D and tau, one pass for D <= 128.
  bool fits = true, one_pass = true;
  for (int D = 1; D <= kMaxHeadD; D++)
    for (int tau = 1; tau <= 30; tau++) {
      const Shape s{1, 1, 1, D, 1, tau};
      fits = fits && hash_smem_bytes(s) <= kSmemBytes;
      if (D <= kMaxD) one_pass = one_pass && hash_bits_per_pass(s) == tau;
    }
  LSHLAB_EXPECT(fits && one_pass);
}

LSHLAB_TEST("cuda/yoso/rejects bad shapes with a message") {
  CUDA_TEST_API(a);
  size_t bytes = 0;
  LSHLAB_EXPECT(a.yoso_workspace_size(&bytes, 1, 8, 1, 256, 9, 4) == 0 && bytes > 0);
  LSHLAB_EXPECT(a.yoso_workspace_size(&bytes, 1, 8, 1, 257, 9, 4) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("256") != std::string::npos);
  LSHLAB_EXPECT(a.yoso_workspace_size(&bytes, 1, 8, 1, 64, 9, 1025) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("num_hash") != std::string::npos);
  LSHLAB_EXPECT(a.yoso_workspace_size(&bytes, 1, 8, 1, 64, 31, 4) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("tau") != std::string::npos);
  LSHLAB_EXPECT(a.yoso_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                               nullptr, nullptr, 1, 8, 1, 64, 9, 4, 1, 0, 4096) != 0);
  LSHLAB_EXPECT(std::string(a.last_error()).find("site") != std::string::npos);
}

LSHLAB_TEST("cuda/yoso/yoso-e rejects head sizes above 256 naming the head size") {
  CUDA_TEST_API(a);
  int rc = a.yoso_e_forward(nullptr, nullptr, nullptr, nullptr, nullptr, 1, 4, 1, 257, 8, 0);
  LSHLAB_EXPECT(rc != 0);
  std::string msg = a.last_error();
  LSHLAB_EXPECT(msg.find("head size") != std::string::npos && msg.find("257") != std::string::npos &&
                msg.find("256") != std::string::npos);
  rc = a.yoso_e_backward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 1, 4, 1, 257, 8, 0);
  LSHLAB_EXPECT(rc != 0);
  msg = a.last_error();
  LSHLAB_EXPECT(msg.find("head size") != std::string::npos && msg.find("257") != std::string::npos);
}
