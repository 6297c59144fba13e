/*
 * test_cuda_ops.cc: CUDA parity tests of the non-attention kernels (native/cuda/) against the
 * float64 CPU reference ops (ops/cpu/ops.h, gemm_reference, train/adamw.cc's formula):
 * LayerNorm forward/backward, GELU forward/backward, softmax cross-entropy, AdamW, and the
 * cuBLASLt GEMM with its bias / bias+GELU epilogues. Without a usable CUDA device each test is
 * skipped with the loader's reason. Tolerance: relative L2 error 1e-5 (float32 arithmetic
 * against float64; tf32 would land near 3e-4 and fail on purpose).
 */
#include <string>
#include <vector>

#include "cuda_harness.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/ops.h"
#include "test_registry.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

LSHLAB_TEST("cuda/loader reports compiled, available and a reason") {
  const CudaStatus& st = cuda_status();
  LSHLAB_EXPECT(st.available == (cuda_api() != nullptr));
  LSHLAB_EXPECT(st.available ? st.reason.empty() : !st.reason.empty());
  if (!st.compiled) LSHLAB_EXPECT(st.reason.rfind("not built", 0) == 0 || !st.library_path.empty());
  if (st.available) LSHLAB_EXPECT(!st.devices.empty());
}

LSHLAB_TEST("cuda/layernorm forward and backward match float64") {
  CUDA_TEST_API(a);
  const int shapes[][2] = {{257, 128}, {64, 768}, {33, 33}, {5, 1024}};
  for (auto& sh : shapes) {
    const int N = sh[0], C = sh[1];
    const unsigned s = unsigned(N * 7 + C);
    auto x = random_floats(size_t(N) * C, s, -3.f, 3.f), w = random_floats(C, s + 1, 0.5f, 1.5f),
         b = random_floats(C, s + 2), dout = random_floats(size_t(N) * C, s + 3),
         dw0 = random_floats(C, s + 4), db0 = random_floats(C, s + 5);
    DeviceBuffer<float> dx_(a, x), dw_(a, w), db_(a, b), out(a, size_t(N) * C), mean(a, N), rstd(a, N);
    out.poison(); mean.poison(); rstd.poison();
    ok(a, a.layernorm_forward(out.get(), mean.get(), rstd.get(), dx_.get(), dw_.get(), db_.get(), N, C, 1e-12f),
       "layernorm_forward");
    std::vector<double> rout(size_t(N) * C), rmean(N), rrstd(N);
    auto xd = to_double(x), wd = to_double(w), bd = to_double(b);
    layernorm_forward<double>(rout.data(), rmean.data(), rrstd.data(), xd.data(), wd.data(), bd.data(), N, C, 1e-12);
    LSHLAB_EXPECT(expect_close("layernorm out", out.download(), rout));
    LSHLAB_EXPECT(expect_close("layernorm mean", mean.download(), rmean));
    LSHLAB_EXPECT(expect_close("layernorm rstd", rstd.download(), rrstd));

    DeviceBuffer<float> gdout(a, dout), gdx(a, size_t(N) * C), gdw(a, dw0), gdb(a, db0);
    gdx.poison();
    ok(a, a.layernorm_backward(gdx.get(), gdw.get(), gdb.get(), gdout.get(), dx_.get(), dw_.get(), mean.get(),
                               rstd.get(), N, C),
       "layernorm_backward");
    std::vector<double> rdx(size_t(N) * C), rdw = to_double(dw0), rdb = to_double(db0);
    auto doutd = to_double(dout);
    layernorm_backward<double>(rdx.data(), rdw.data(), rdb.data(), doutd.data(), xd.data(), wd.data(),
                               rmean.data(), rrstd.data(), N, C);
    LSHLAB_EXPECT(expect_close("layernorm dx", gdx.download(), rdx));
    LSHLAB_EXPECT(expect_close("layernorm dw (accumulated)", gdw.download(), rdw));
    LSHLAB_EXPECT(expect_close("layernorm db (accumulated)", gdb.download(), rdb));
  }
}

LSHLAB_TEST("cuda/gelu forward and backward match float64") {
  CUDA_TEST_API(a);
  const int64_t n = 100003;
  auto x = random_floats(n, 11, -6.f, 6.f), dout = random_floats(n, 12);
  DeviceBuffer<float> gx(a, x), gd(a, dout), gy(a, n), gdx(a, n);
  gy.poison(); gdx.poison();
  ok(a, a.gelu_forward(gy.get(), gx.get(), n), "gelu_forward");
  ok(a, a.gelu_backward(gdx.get(), gd.get(), gx.get(), n), "gelu_backward");
  auto xd = to_double(x), dd = to_double(dout);
  std::vector<double> ry(n), rdx(n);
  gelu_forward<double>(ry.data(), xd.data(), n);
  gelu_backward<double>(rdx.data(), dd.data(), xd.data(), n);
  LSHLAB_EXPECT(expect_close("gelu forward", gy.download(), ry));
  LSHLAB_EXPECT(expect_close("gelu backward", gdx.download(), rdx));
}

LSHLAB_TEST("cuda/cross_entropy loss, argmax and gradient match float64") {
  CUDA_TEST_API(a);
  const int shapes[][2] = {{67, 30522}, {300, 5}, {4, 1}};
  for (auto& sh : shapes) {
    for (int alias = 0; alias < 2; alias++) {
      const int N = sh[0], V = sh[1], ignore = -100;
      auto logits = random_floats(size_t(N) * V, unsigned(N + V + alias), -4.f, 4.f);
      std::vector<int32_t> targets(N);
      std::mt19937 g(unsigned(N * V));
      int counted = 0;
      for (int n = 0; n < N; n++) {
        targets[n] = (n % 5 == 3) ? ignore : int(g() % unsigned(V));
        counted += targets[n] != ignore;
      }
      const float dscale = counted ? 1.f / float(counted) : 0.f;
      DeviceBuffer<float> gl(a, logits), gloss(a, N), gd(a, size_t(N) * V);
      DeviceBuffer<int32_t> gt(a, targets), gc(a, N);
      gloss.poison(); gd.poison(); gc.poison();
      float* dl = alias ? gl.get() : gd.get();
      ok(a, a.cross_entropy_forward_backward(gloss.get(), gc.get(), dl, gl.get(), gt.get(), N, V, ignore, dscale),
         "cross_entropy_forward_backward");
      auto ld = to_double(logits);
      std::vector<double> rd(size_t(N) * V);
      int64_t rcorrect = 0, rcounted = 0;
      const double rloss = cross_entropy_forward_backward<double>(rd.data(), ld.data(), targets.data(), N, V,
                                                                  ignore, 1.0, &rcorrect, &rcounted);
      auto losses = gloss.download();
      auto correct = gc.download();
      double sum = 0;
      int64_t hits = 0;
      for (int n = 0; n < N; n++) { sum += losses[n]; hits += correct[n]; }
      const double mean = counted ? sum / counted : 0.0;
      LSHLAB_EXPECT(std::fabs(mean - rloss) <= 1e-5 * std::max(1.0, std::fabs(rloss)));
      LSHLAB_EXPECT(hits == rcorrect);
      LSHLAB_EXPECT(rcounted == counted);
      LSHLAB_EXPECT(expect_close(alias ? "dlogits (in place)" : "dlogits", (alias ? gl : gd).download(), rd));
    }
  }
}

LSHLAB_TEST("cuda/adamw update matches float64 over three steps") {
  CUDA_TEST_API(a);
  const int64_t n = 100003;
  auto p = random_floats(n, 21), g0 = random_floats(n, 22);
  std::vector<float> m(n, 0.f), v(n, 0.f);
  DeviceBuffer<float> gp(a, p), gm(a, m), gv(a, v), gg(a, n);
  std::vector<double> rp = to_double(p), rm(n, 0.0), rv(n, 0.0);
  const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01, gs = 0.7;
  for (int t = 1; t <= 3; t++) {
    auto g = random_floats(n, 30 + t);
    gg.upload(g);
    const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    lshlab_cuda_adamw_params ap{float(1 - lr * wd), float(b1), float(b2), float(lr / bc1),
                                float(1 / std::sqrt(bc2)), float(eps), float(gs)};
    ok(a, a.adamw_update(gp.get(), gm.get(), gv.get(), gg.get(), n, &ap), "adamw_update");
    // torch.optim.AdamW's update in float64, with the float32 constants the kernel receives
    // (as train/adamw.cc: 1 - float(0.999) is 1.3e-5 away from 0.001, a difference of the
    // constants, not of the arithmetic).
    const double fb1 = ap.beta1, fb2 = ap.beta2;
    for (int64_t i = 0; i < n; i++) {
      const double gi = double(g[i]) * double(ap.grad_scale);
      rp[i] *= double(ap.decay);
      rm[i] = fb1 * rm[i] + (1 - fb1) * gi;
      rv[i] = fb2 * rv[i] + (1 - fb2) * gi * gi;
      rp[i] -= double(ap.step_size) * rm[i] / (std::sqrt(rv[i]) * double(ap.inv_sqrt_bc2) + double(ap.eps));
    }
  }
  LSHLAB_EXPECT(expect_close("adamw p", gp.download(), rp));
  LSHLAB_EXPECT(expect_close("adamw m", gm.download(), rm));
  LSHLAB_EXPECT(expect_close("adamw v", gv.download(), rv));
}

LSHLAB_TEST("cuda/gemm (cuBLASLt) matches gemm_reference in every layout and epilogue") {
  CUDA_TEST_API(a);
  const int sizes[][3] = {{64, 96, 128}, {37, 129, 67}, {512, 128, 512}, {1, 33, 7}};
  int cases = 0;
  for (auto& sz : sizes) {
    const int M = sz[0], N = sz[1], K = sz[2];
    for (int combo = 0; combo < 4 * 4; combo++) {
      const bool ta = combo & 1, tb = combo & 2;
      const int epi = combo / 4;  // 0 none, 1 bias, 2 bias+gelu, 3 bias+gelu keeping pre_gelu
      const float alpha = 1.25f, beta = (combo % 3 == 0) ? 0.f : 0.5f;
      const int pad = 3, lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
      const unsigned s = unsigned(M * 131 + N * 17 + K + combo);
      // Every fifth case starts A, B and C one float past an allocation (4-byte alignment only),
      // as engine views such as qkv + C do.
      const size_t off = (combo % 5 == 1) ? 1 : 0;
      auto A = random_floats(size_t(ta ? K : M) * lda + off, s), B = random_floats(size_t(tb ? N : K) * ldb + off, s + 1),
           C0 = random_floats(size_t(M) * ldc + off, s + 2), bias = random_floats(N, s + 3);
      DeviceBuffer<float> gA(a, A), gB(a, B), gC(a, C0), gbias(a, bias), gpre(a, size_t(M) * ldc);
      gpre.poison();
      if (beta == 0.f) gC.poison();  // beta = 0 must not read C
      ok(a, a.gemm(ta, tb, M, N, K, alpha, gA.get() + off, lda, gB.get() + off, ldb, beta, gC.get() + off, ldc,
                   epi ? gbias.get() : nullptr, epi >= 2, epi == 3 ? gpre.get() : nullptr),
         "gemm");
      auto Ad = to_double(A), Bd = to_double(B), Cd = to_double(C0), bd = to_double(bias);
      std::vector<double> pre(size_t(M) * ldc, 0.0);
      GemmEpilogue<double> ep;
      ep.bias = epi ? bd.data() : nullptr;
      ep.gelu = epi >= 2;
      ep.pre_gelu = epi == 3 ? pre.data() : nullptr;
      gemm_reference<double>(ta, tb, M, N, K, alpha, Ad.data() + off, lda, Bd.data() + off, ldb, beta,
                             Cd.data() + off, ldc, &ep);
      // Compare the M x N window only (the padding columns are not the GEMM's).
      auto got = gC.download(), gpre_h = gpre.download();
      std::vector<float> gw, pw;
      std::vector<double> rw, rpw;
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
          gw.push_back(got[off + size_t(i) * ldc + j]);
          rw.push_back(Cd[off + size_t(i) * ldc + j]);
          pw.push_back(gpre_h[size_t(i) * ldc + j]);
          rpw.push_back(pre[size_t(i) * ldc + j]);
        }
      char what[96];
      std::snprintf(what, sizeof what, "gemm M%d N%d K%d ta%d tb%d epilogue %d beta %g", M, N, K, ta, tb, epi, beta);
      LSHLAB_EXPECT(expect_close(what, gw, rw));
      if (epi == 3) LSHLAB_EXPECT(expect_close("gemm pre_gelu", pw, rpw));
      cases++;
    }
  }
  LSHLAB_EXPECT(cases == 64);
}
