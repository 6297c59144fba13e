/*
 * test_cuda_train_ops.cc: CUDA parity tests of the training-step kernels that are not LayerNorm,
 * GELU, cross-entropy or attention (native/cuda/embeddings.cu, dropout.cu, reduce.cu, and
 * elementwise.cu's clipped AdamW), against the CPU ops (ops/cpu/ops.h, train/adamw.h):
 * float64 references within relative L2 error 1e-5, and bit-exact where the device must
 * reproduce the CPU float path (dropout masks and outputs, the clipping coefficient).
 * Deterministic reductions are run twice and compared bit for bit. Shapes are odd and not
 * multiples of any block size. Skipped with the loader's reason when CUDA is unavailable.
 */
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cuda_harness.h"
#include "ops/cpu/ops.h"
#include "test_registry.h"
#include "train/adamw.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

namespace {

template <typename T>
bool expect_same_bits(const char* what, const std::vector<T>& got, const std::vector<T>& ref) {
  if (got.size() == ref.size() && std::memcmp(got.data(), ref.data(), got.size() * sizeof(T)) == 0)
    return true;
  size_t first = 0;
  while (first < got.size() && first < ref.size() &&
         std::memcmp(&got[first], &ref[first], sizeof(T)) == 0)
    first++;
  std::fprintf(stderr, "    %s: differs from the CPU first at element %zu\n", what, first);
  return false;
}

std::vector<int32_t> random_ints(size_t n, unsigned seed, int lo, int hi) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// The groups rows_segment_sum takes for table rows `key[n]` of the batch rows n (rows whose key
// is `skip` left out): targets ascending, each group's rows ascending (the CPU's order).
struct Groups {
  std::vector<int32_t> target, offsets{0}, rows;
};
Groups group_rows(const std::vector<int32_t>& key, int skip) {
  std::map<int32_t, std::vector<int32_t>> by;
  for (size_t n = 0; n < key.size(); n++)
    if (key[n] != skip) by[key[n]].push_back(int32_t(n));
  Groups g;
  for (auto& [t, rs] : by) {
    g.target.push_back(t);
    g.rows.insert(g.rows.end(), rs.begin(), rs.end());
    g.offsets.push_back(int32_t(g.rows.size()));
  }
  return g;
}

}  // namespace

LSHLAB_TEST("cuda/train_ops/memcpy_d2d copies device to device") {
  CUDA_TEST_API(a);
  auto x = random_floats(1001, 1);
  DeviceBuffer<float> src(a, x), dst(a, x.size());
  dst.poison();
  ok(a, a.memcpy_d2d(dst.get(), src.get(), src.bytes()), "memcpy_d2d");
  ok(a, a.synchronize(), "synchronize");
  LSHLAB_EXPECT(expect_same_bits("memcpy_d2d", dst.download(), x));
}

LSHLAB_TEST("cuda/train_ops/embeddings forward, and rows_segment_sum as the embedding backward") {
  CUDA_TEST_API(a);
  const int B = 3, T = 37, C = 45, V = 50, maxT = 40, TV = 2, pad = 0;
  const int N = B * T;
  auto ids = random_ints(N, 2, 0, V - 1), types = random_ints(N, 3, 0, TV - 1);
  auto wte = random_floats(size_t(V) * C, 4), wpe = random_floats(size_t(maxT) * C, 5),
       wtt = random_floats(size_t(TV) * C, 6), dout = random_floats(size_t(N) * C, 7);
  DeviceBuffer<int32_t> gids(a, ids), gtypes(a, types);
  DeviceBuffer<float> gwte(a, wte), gwpe(a, wpe), gwtt(a, wtt), gout(a, size_t(N) * C);
  auto wted = to_double(wte), wped = to_double(wpe), wttd = to_double(wtt);
  for (int with_types = 0; with_types < 2; with_types++) {
    gout.poison();
    ok(a, a.embeddings_forward(gout.get(), gids.get(), with_types ? gtypes.get() : nullptr, gwte.get(),
                               gwpe.get(), gwtt.get(), B, T, C),
       "embeddings_forward");
    std::vector<double> ref(size_t(N) * C);
    embeddings_forward<double>(ref.data(), ids.data(), with_types ? types.data() : nullptr, wted.data(),
                               wped.data(), wttd.data(), B, T, C);
    LSHLAB_EXPECT(expect_close(with_types ? "embeddings (types)" : "embeddings (no types)", gout.download(), ref));
  }

  // Backward: the three tables' gradients (start non-zero: accumulated) through
  // rows_segment_sum, grouped as the engine does, against embeddings_backward<double>.
  auto dwte0 = random_floats(size_t(V) * C, 8), dwpe0 = random_floats(size_t(maxT) * C, 9),
       dwtt0 = random_floats(size_t(TV) * C, 10);
  DeviceBuffer<float> gdout(a, dout), gdwte(a, dwte0), gdwpe(a, dwpe0), gdwtt(a, dwtt0);
  std::vector<int32_t> pos(N);
  for (int n = 0; n < N; n++) pos[n] = n % T;
  auto run = [&](DeviceBuffer<float>& table, const std::vector<int32_t>& key, int skip) {
    const Groups g = group_rows(key, skip);
    DeviceBuffer<int32_t> gt(a, g.target), go(a, g.offsets), gr(a, g.rows);
    ok(a, a.rows_segment_sum(table.get(), gt.get(), go.get(), gr.get(), int(g.target.size()), gdout.get(), C),
       "rows_segment_sum");
  };
  run(gdwte, ids, pad);
  run(gdwpe, pos, -1);
  run(gdwtt, types, -1);
  std::vector<double> rwte = to_double(dwte0), rwpe = to_double(dwpe0), rwtt = to_double(dwtt0);
  auto doutd = to_double(dout);
  embeddings_backward<double>(rwte.data(), rwpe.data(), rwtt.data(), doutd.data(), ids.data(), types.data(), B,
                              T, C, pad);
  LSHLAB_EXPECT(expect_close("dwte (pad id skipped)", gdwte.download(), rwte));
  LSHLAB_EXPECT(expect_close("dwpe", gdwpe.download(), rwpe));
  LSHLAB_EXPECT(expect_close("dwtt", gdwtt.download(), rwtt));
}

LSHLAB_TEST("cuda/train_ops/gather_rows and scatter_rows move whole rows") {
  CUDA_TEST_API(a);
  const int S = 61, R = 23, C = 131;
  auto src = random_floats(size_t(S) * C, 11), dst0 = random_floats(size_t(S) * C, 12),
       dense = random_floats(size_t(R) * C, 13);
  std::vector<int32_t> rows(R);
  for (int r = 0; r < R; r++) rows[r] = (r * 37 + 5) % S;  // distinct (37 and 61 coprime)
  DeviceBuffer<float> gsrc(a, src), gdst(a, dst0), gdense(a, dense), gout(a, size_t(R) * C);
  DeviceBuffer<int32_t> grows(a, rows);
  gout.poison();
  ok(a, a.gather_rows(gout.get(), gsrc.get(), grows.get(), R, C), "gather_rows");
  ok(a, a.scatter_rows(gdst.get(), gdense.get(), grows.get(), R, C), "scatter_rows");
  std::vector<float> rout(size_t(R) * C), rdst = dst0;
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) {
      rout[size_t(r) * C + c] = src[size_t(rows[r]) * C + c];
      rdst[size_t(rows[r]) * C + c] = dense[size_t(r) * C + c];
    }
  LSHLAB_EXPECT(expect_same_bits("gather_rows", gout.download(), rout));
  LSHLAB_EXPECT(expect_same_bits("scatter_rows", gdst.download(), rdst));
}

LSHLAB_TEST("cuda/train_ops/dropout_add_forward and dropout_backward reproduce the CPU bit for bit") {
  CUDA_TEST_API(a);
  const int64_t n = 20011;  // odd: the last Philox group is partial
  auto x = random_floats(n, 14), res = random_floats(n, 15), dout = random_floats(n, 16);
  const lshlab_cuda_dropout drops[] = {{0.1, 0xDEADBEEF12345678ull, 3, 2}, {0.5, 42, 0, 70001}};
  for (const lshlab_cuda_dropout& d : drops) {
    std::vector<uint8_t> keep(n);
    dropout_mask(keep.data(), n, d.p, d.seed, d.step, d.site);
    std::vector<float> dropped(n), sum(n), dx(n);
    dropout_forward<float>(dropped.data(), x.data(), keep.data(), d.p, n);
    sum = dropped;
    add_inplace<float>(sum.data(), res.data(), n);
    dropout_backward<float>(dx.data(), dout.data(), keep.data(), d.p, n);
    for (int variant = 0; variant < 3; variant++) {  // residual, none, in place over the residual
      DeviceBuffer<float> gx(a, x), gres(a, res), gout(a, n);
      DeviceBuffer<uint8_t> gkeep(a, n);
      gout.poison();
      gkeep.poison();
      float* out = variant == 2 ? gres.get() : gout.get();
      ok(a, a.dropout_add_forward(out, gkeep.get(), gx.get(), variant == 1 ? nullptr : gres.get(), n, &d),
         "dropout_add_forward");
      LSHLAB_EXPECT(expect_same_bits("dropout keep mask", gkeep.download(), keep));
      LSHLAB_EXPECT(expect_same_bits(variant == 1 ? "dropout out" : "dropout out + residual",
                                     (variant == 2 ? gres : gout).download(), variant == 1 ? dropped : sum));
    }
    DeviceBuffer<float> gdout(a, dout);
    DeviceBuffer<uint8_t> gkeep(a, keep);
    ok(a, a.dropout_backward(gdout.get(), gdout.get(), gkeep.get(), n, d.p), "dropout_backward");
    LSHLAB_EXPECT(expect_same_bits("dropout_backward (in place)", gdout.download(), dx));
  }
  // Without dropout: out = x + residual, and the keep bytes all 1.
  DeviceBuffer<float> gx(a, x), gres(a, res), gout(a, n);
  DeviceBuffer<uint8_t> gkeep(a, n);
  gout.poison();
  ok(a, a.dropout_add_forward(gout.get(), gkeep.get(), gx.get(), gres.get(), n, nullptr), "dropout_add_forward");
  std::vector<float> plain = x;
  add_inplace<float>(plain.data(), res.data(), n);
  LSHLAB_EXPECT(expect_same_bits("x + residual", gout.download(), plain));
  LSHLAB_EXPECT(expect_same_bits("keep without dropout", gkeep.download(), std::vector<uint8_t>(n, 1)));
}

LSHLAB_TEST("cuda/train_ops/tanh forward and backward match float64") {
  CUDA_TEST_API(a);
  const int64_t n = 20011;
  auto x = random_floats(n, 17, -4.f, 4.f), dout = random_floats(n, 18);
  DeviceBuffer<float> gx(a, x), gy(a, n), gd(a, dout);
  gy.poison();
  ok(a, a.tanh_forward(gy.get(), gx.get(), n), "tanh_forward");
  auto y = gy.download();
  ok(a, a.tanh_backward(gd.get(), gd.get(), gy.get(), n), "tanh_backward (in place)");
  auto xd = to_double(x), dd = to_double(dout), yd = to_double(y);
  std::vector<double> ry(n), rdx(n);
  tanh_forward<double>(ry.data(), xd.data(), n);
  tanh_backward<double>(rdx.data(), dd.data(), yd.data(), n);  // from the device's output
  LSHLAB_EXPECT(expect_close("tanh forward", y, ry));
  LSHLAB_EXPECT(expect_close("tanh backward", gd.download(), rdx));
}

LSHLAB_TEST("cuda/train_ops/bias_backward matches float64 and is deterministic") {
  CUDA_TEST_API(a);
  const int shapes[][3] = {{1000, 131, 140}, {5003, 3, 3}, {7, 301, 301}, {20000, 20, 27}, {1, 9, 9}};
  for (auto& sh : shapes) {
    const int N = sh[0], C = sh[1], ld = sh[2];
    auto dout = random_floats(size_t(N) * ld, unsigned(N + C)), db0 = random_floats(C, unsigned(N + C + 1));
    DeviceBuffer<float> gd(a, dout), gdb(a, db0), gdb2(a, db0);
    ok(a, a.bias_backward(gdb.get(), gd.get(), N, C, ld), "bias_backward");
    ok(a, a.bias_backward(gdb2.get(), gd.get(), N, C, ld), "bias_backward");
    auto dd = to_double(dout);
    std::vector<double> ref = to_double(db0);
    bias_backward<double>(ref.data(), dd.data(), N, C, ld);
    char what[64];
    std::snprintf(what, sizeof what, "bias_backward N%d C%d ld%d", N, C, ld);
    const auto got = gdb.download();
    LSHLAB_EXPECT(expect_close(what, got, ref));
    LSHLAB_EXPECT(expect_same_bits("bias_backward run twice", gdb2.download(), got));
  }
}

LSHLAB_TEST("cuda/train_ops/sum_squares is float64-accurate and deterministic") {
  CUDA_TEST_API(a);
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(300007)}) {
    auto g = random_floats(size_t(n), unsigned(n), -3.f, 3.f);
    DeviceBuffer<float> gg(a, g);
    DeviceBuffer<double> gs(a, 2), work(a, LSHLAB_CUDA_SUM_SQ_WORKSPACE);
    gs.poison();
    ok(a, a.sum_squares(gs.get(), gg.get(), n, work.get()), "sum_squares");
    ok(a, a.sum_squares(gs.get() + 1, gg.get(), n, work.get()), "sum_squares");
    long double ref = 0;
    for (float v : g) ref += (long double)v * v;
    const auto s = gs.download();
    const double rel = std::fabs(double((s[0] - ref) / ref));
    if (!(rel <= 1e-13)) std::fprintf(stderr, "    sum_squares n%lld: relative error %.3g\n", (long long)n, rel);
    LSHLAB_EXPECT(rel <= 1e-13);
    LSHLAB_EXPECT(std::memcmp(&s[0], &s[1], sizeof(double)) == 0);
  }
  DeviceBuffer<double> gs(a, 1), work(a, LSHLAB_CUDA_SUM_SQ_WORKSPACE);
  gs.poison();
  ok(a, a.sum_squares(gs.get(), nullptr, 0, work.get()), "sum_squares n = 0");
  LSHLAB_EXPECT(gs.download()[0] == 0.0);
}

LSHLAB_TEST("cuda/train_ops/adamw_update_clipped is adamw_update with the CPU's clip coefficient") {
  CUDA_TEST_API(a);
  const int64_t n = 20011;
  auto p = random_floats(n, 19), m = random_floats(n, 20, -0.1f, 0.1f), v = random_floats(n, 21, 0.f, 0.01f),
       g = random_floats(n, 22);
  lshlab_cuda_adamw_params ap{float(1 - 1e-3 * 0.01), 0.9f, 0.999f, float(1e-3 / (1 - 0.9 * 0.9)),
                              float(1 / std::sqrt(1 - 0.999 * 0.999)), 1e-8f, 123.f /* ignored */};
  DeviceBuffer<float> gg(a, g);
  DeviceBuffer<double> gsum(a, 1), work(a, LSHLAB_CUDA_SUM_SQ_WORKSPACE);
  ok(a, a.sum_squares(gsum.get(), gg.get(), n, work.get()), "sum_squares");
  const double norm = std::sqrt(gsum.download()[0]);  // about 82: max_norm 1 clips
  for (double max_norm : {1.0, 1e9, 0.0}) {
    DeviceBuffer<float> p1(a, p), m1(a, m), v1(a, v), p2(a, p), m2(a, m), v2(a, v);
    ok(a, a.adamw_update_clipped(p1.get(), m1.get(), v1.get(), gg.get(), n, &ap, gsum.get(), max_norm),
       "adamw_update_clipped");
    lshlab_cuda_adamw_params plain = ap;
    plain.grad_scale = float(clip_coefficient(norm, max_norm));
    ok(a, a.adamw_update(p2.get(), m2.get(), v2.get(), gg.get(), n, &plain), "adamw_update");
    LSHLAB_EXPECT(expect_same_bits("clipped p", p1.download(), p2.download()));
    LSHLAB_EXPECT(expect_same_bits("clipped m", m1.download(), m2.download()));
    LSHLAB_EXPECT(expect_same_bits("clipped v", v1.download(), v2.download()));
  }
  // A norm that is not finite: nothing is updated.
  for (double bad : {double(INFINITY), double(NAN)}) {
    DeviceBuffer<double> gbad(a, std::vector<double>{bad});
    DeviceBuffer<float> p1(a, p), m1(a, m), v1(a, v);
    ok(a, a.adamw_update_clipped(p1.get(), m1.get(), v1.get(), gg.get(), n, &ap, gbad.get(), 1.0),
       "adamw_update_clipped (non-finite norm)");
    LSHLAB_EXPECT(expect_same_bits("p after a non-finite norm", p1.download(), p));
    LSHLAB_EXPECT(expect_same_bits("m after a non-finite norm", m1.download(), m));
    LSHLAB_EXPECT(expect_same_bits("v after a non-finite norm", v1.download(), v));
  }
}

LSHLAB_TEST("cuda/train_ops/adamw_update_chunks is adamw_update_clipped per parameter, in one launch") {
  CUDA_TEST_API(a);
  // Three "parameters" (decay, no decay, decay) cut into chunks that never cross a parameter.
  const int64_t sizes[3] = {9001, 129, 4099};
  const int64_t n = sizes[0] + sizes[1] + sizes[2];
  auto p = random_floats(n, 23), m = random_floats(n, 24, -0.1f, 0.1f), v = random_floats(n, 25, 0.f, 0.01f),
       g = random_floats(n, 26);
  lshlab_cuda_adamw_params ap{float(1 - 1e-3 * 0.01), 0.9f, 0.999f, float(1e-3 / (1 - 0.9 * 0.9)),
                              float(1 / std::sqrt(1 - 0.999 * 0.999)), 1e-8f, 1.f};
  std::vector<int64_t> chunks;
  for (int64_t k = 0, off = 0; k < 3; off += sizes[k], k++)
    for (int64_t b = off; b < off + sizes[k]; b += 1000)
      chunks.insert(chunks.end(), {b, std::min(b + 1000, off + sizes[k]), k == 1 ? 0 : 1});
  DeviceBuffer<float> gg(a, g);
  DeviceBuffer<int64_t> dchunks(a, chunks);
  DeviceBuffer<double> gsum(a, 1), work(a, LSHLAB_CUDA_SUM_SQ_WORKSPACE);
  ok(a, a.sum_squares(gsum.get(), gg.get(), n, work.get()), "sum_squares");
  for (double max_norm : {1.0, 0.0}) {
    DeviceBuffer<float> p1(a, p), m1(a, m), v1(a, v), p2(a, p), m2(a, m), v2(a, v);
    ok(a, a.adamw_update_chunks(p1.get(), m1.get(), v1.get(), gg.get(), dchunks.get(), int(chunks.size() / 3), &ap,
                                gsum.get(), max_norm), "adamw_update_chunks");
    for (int64_t k = 0, off = 0; k < 3; off += sizes[k], k++) {
      lshlab_cuda_adamw_params pk = ap;
      if (k == 1) pk.decay = 1.f;
      ok(a, a.adamw_update_clipped(p2.get() + off, m2.get() + off, v2.get() + off, gg.get() + off, sizes[k], &pk,
                                   gsum.get(), max_norm), "adamw_update_clipped");
    }
    LSHLAB_EXPECT(expect_same_bits("chunked p", p1.download(), p2.download()));
    LSHLAB_EXPECT(expect_same_bits("chunked m", m1.download(), m2.download()));
    LSHLAB_EXPECT(expect_same_bits("chunked v", v1.download(), v2.download()));
    LSHLAB_EXPECT(p1.download() != p);  // the update did something
  }
  DeviceBuffer<double> gbad(a, std::vector<double>{double(NAN)});
  DeviceBuffer<float> p1(a, p), m1(a, m), v1(a, v);
  ok(a, a.adamw_update_chunks(p1.get(), m1.get(), v1.get(), gg.get(), dchunks.get(), int(chunks.size() / 3), &ap,
                              gbad.get(), 1.0), "adamw_update_chunks (non-finite norm)");
  LSHLAB_EXPECT(expect_same_bits("p after a non-finite norm", p1.download(), p));
}
