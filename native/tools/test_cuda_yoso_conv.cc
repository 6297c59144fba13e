/*
 * test_cuda_yoso_conv.cc: YOSO-C's depthwise conv on CUDA (native/cuda/yoso_conv.cu) against a
 * float64 reference of HF's Conv2d(H, H, (W, 1), padding W // 2, groups H) over V * mask:
 * the forward's addition to ctx, the backward's addition to the V part of dqkv (the Q and K
 * parts untouched), and the weight gradient added to what dw held; with padding, W = 1, 3, 9,
 * W larger than T, head sizes 160 and 256 (the conv has no head-size limit: one thread per
 * element, flat grids), the weight gradient's row, tap and dim tiles, and bit-for-bit repeats. The whole YOSO-C layer (hash + conv) in training is
 * checked by test_cuda_train.cc. Skipped with the loader's reason without CUDA.
 */
#include <cstdio>
#include <vector>

#include "cuda_harness.h"
#include "test_registry.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

namespace {

struct Case { int B, T, H, D, W; bool pad; };

bool check_case(const Api& a, const Case& c, unsigned seed) {
  const int C = c.H * c.D, pad = c.W / 2;
  const size_t n = size_t(c.B) * c.T * C;
  const std::vector<float> qkv = random_floats(3 * n, seed), dctx = random_floats(n, seed + 1);
  const std::vector<float> ctx0 = random_floats(n, seed + 2), dqkv0 = random_floats(3 * n, seed + 3);
  const std::vector<float> w = random_floats(size_t(c.H) * c.W, seed + 4);
  const std::vector<float> dw0 = random_floats(size_t(c.H) * c.W, seed + 5);
  std::vector<int32_t> mask(size_t(c.B) * c.T, 1);
  if (c.pad)
    for (int b = 0; b < c.B; b++)
      for (int t = c.T - 1 - b; t < c.T; t++) mask[size_t(b) * c.T + t] = 0;
  // float64 reference
  std::vector<double> ctx(ctx0.begin(), ctx0.end()), dqkv(dqkv0.begin(), dqkv0.end()),
      dw(dw0.begin(), dw0.end());
  for (int b = 0; b < c.B; b++)
    for (int t = 0; t < c.T; t++)
      for (int k = 0; k < c.W; k++) {
        const int s = t + k - pad;
        if (s < 0 || s >= c.T || !mask[size_t(b) * c.T + s]) continue;
        for (int h = 0; h < c.H; h++)
          for (int d = 0; d < c.D; d++) {
            const size_t it = (size_t(b) * c.T + t) * C + h * c.D + d;
            const size_t vs = (size_t(b) * c.T + s) * 3 * C + 2 * C + h * c.D + d;
            ctx[it] += double(w[size_t(h) * c.W + k]) * qkv[vs];
            dqkv[vs] += double(w[size_t(h) * c.W + k]) * dctx[it];
            dw[size_t(h) * c.W + k] += double(dctx[it]) * qkv[vs];
          }
      }
  DeviceBuffer<float> d_qkv(a, qkv), d_ctx(a, ctx0), d_dctx(a, dctx), d_dqkv(a, dqkv0), d_w(a, w),
      d_dw(a, dw0);
  DeviceBuffer<int32_t> d_mask(a, mask);
  DeviceBuffer<double> work(a, size_t(c.B) * c.H * LSHLAB_CUDA_YOSO_CONV_CHUNKS * c.W);
  ok(a, a.yoso_conv_forward(d_ctx.get(), d_qkv.get(), d_mask.get(), d_w.get(), c.B, c.T, c.H, c.D, c.W), "yoso_conv_forward");
  ok(a, a.yoso_conv_backward(d_dqkv.get(), d_dw.get(), work.get(), d_dctx.get(), d_qkv.get(),
                             d_mask.get(), d_w.get(), c.B, c.T, c.H, c.D, c.W), "yoso_conv_backward");
  const std::vector<float> g_ctx = d_ctx.download(), g_dqkv = d_dqkv.download(), g_dw = d_dw.download();
  char what[96];
  std::snprintf(what, sizeof what, "B%d T%d H%d D%d W%d%s", c.B, c.T, c.H, c.D, c.W, c.pad ? " padded" : "");
  bool good = expect_close((std::string(what) + " ctx").c_str(), g_ctx, ctx, 1e-6) &&
              expect_close((std::string(what) + " dqkv").c_str(), g_dqkv, dqkv, 1e-6) &&
              expect_close((std::string(what) + " dw").c_str(), g_dw, dw, 1e-6);
  // Q and K parts of dqkv untouched, bit for bit.
  for (size_t r = 0; r < size_t(c.B) * c.T && good; r++)
    for (int j = 0; j < 2 * C; j++)
      if (g_dqkv[r * 3 * C + j] != dqkv0[r * 3 * C + j]) { good = false; break; }
  // A second run from the same inputs repeats bit for bit.
  d_ctx.upload(ctx0); d_dqkv.upload(dqkv0); d_dw.upload(dw0);
  ok(a, a.yoso_conv_forward(d_ctx.get(), d_qkv.get(), d_mask.get(), d_w.get(), c.B, c.T, c.H, c.D, c.W), "yoso_conv_forward");
  ok(a, a.yoso_conv_backward(d_dqkv.get(), d_dw.get(), work.get(), d_dctx.get(), d_qkv.get(),
                             d_mask.get(), d_w.get(), c.B, c.T, c.H, c.D, c.W), "yoso_conv_backward");
  good = good && d_ctx.download() == g_ctx && d_dqkv.download() == g_dqkv && d_dw.download() == g_dw;
  if (!good) std::fprintf(stderr, "    %s failed\n", what);
  return good;
}

}  // namespace

LSHLAB_TEST("cuda/yoso conv (YOSO-C): forward, dV and dW match a float64 reference") {
  CUDA_TEST_API(a);
  const Case cases[] = {{2, 13, 3, 8, 3, true}, {1, 5, 2, 5, 9, false}, {3, 16, 2, 7, 1, true},
                        {2, 33, 4, 16, 5, true}, {2, 9, 3, 256, 5, true}, {3, 4, 2, 160, 7, true},
                        // dW's tiling: two row tiles in chunk 0 (T > 32 rows x 64 chunks), three
                        // tap tiles (W > 2 x 64), two dim slices with a ragged one (D = 40).
                        {2, 2085, 1, 40, 131, true}};
  unsigned seed = 11;
  for (const Case& c : cases) LSHLAB_EXPECT(check_case(a, c, seed += 10));
}

LSHLAB_TEST("cuda/yoso conv (YOSO-C): rejects an even window with a message") {
  CUDA_TEST_API(a);
  DeviceBuffer<float> x(a, 64);
  const int rc = a.yoso_conv_forward(x.get(), x.get(), nullptr, x.get(), 1, 2, 1, 2, 4);
  LSHLAB_EXPECT(rc != 0 && std::string(a.last_error()).find("odd") != std::string::npos);
}
