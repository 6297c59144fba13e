/*
 * cmd_bench_cuda.cc: `lshlab-native bench-cuda [--json] [--quick]`: the CUDA timing harness.
 * For each kernel of native/cuda/ at BERT-tiny, BERT-base and long-sequence shapes: validate
 * the device result against the CPU float op on the same inputs (relative L2 error), then time
 * both (device: CUDA events, warm-ups, median; CPU: wall clock, median of 3) and report ms,
 * achieved GB/s (elementwise ops, bytes = each input read once + each output written once) or
 * TFLOP/s (GEMM, attention). --json: one JSON object per line. Without a usable device it prints
 * one line saying why and exits 0 (the GPU check script records it as a skip).
 */
#include <algorithm>
#include <chrono>
#include <exception>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "args.h"
#include "attention/exact.h"
#include "attention/reformer.h"
#include "attention/bert_lsh.h"
#include "attention/yoso.h"
#include "commands.h"
#include "cuda_harness.h"
#include "io/json.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/ops.h"

using namespace lshlab;
using namespace lshlab_cuda_harness;

namespace {

struct Result {
  std::string op, shape;
  double gpu_ms = 0, cpu_ms = 0, rel_err = 0, bytes = 0, flops = 0;
};

double cpu_median_ms(const std::function<void()>& fn, int reps) {
  std::vector<double> t;
  for (int i = 0; i < reps; i++) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double rel_vs_float(const std::vector<float>& got, const std::vector<float>& ref) {
  return rel_error(got, to_double(ref));
}

struct Bench {
  const Api& a;
  bool json;
  int reps;
  std::vector<Result> results;

  void report(Result r) {
    if (json) {
      Json o = Json::object();
      o.set("bench", "cuda");
      o.set("op", r.op);
      o.set("shape", r.shape);
      o.set("gpu_ms", r.gpu_ms);
      o.set("cpu_ms", r.cpu_ms);
      o.set("rel_err", r.rel_err);
      if (r.bytes > 0) o.set("gpu_gbps", r.bytes / (r.gpu_ms * 1e6));
      if (r.flops > 0) o.set("gpu_tflops", r.flops / (r.gpu_ms * 1e9));
      std::printf("%s\n", o.dump().c_str());
    } else {
      std::printf("%-22s %-28s gpu %9.4f ms  cpu %9.3f ms  x%-7.1f rel err %.2g\n", r.op.c_str(),
                  r.shape.c_str(), r.gpu_ms, r.cpu_ms, r.cpu_ms / r.gpu_ms, r.rel_err);
    }
    std::fflush(stdout);
    results.push_back(r);
  }

  void layernorm(int N, int C) {
    auto x = random_floats(size_t(N) * C, 1, -3, 3), w = random_floats(C, 2), b = random_floats(C, 3),
         dout = random_floats(size_t(N) * C, 4);
    DeviceBuffer<float> gx(a, x), gw(a, w), gb(a, b), go(a, x.size()), gm(a, N), gr(a, N), gd(a, dout),
        gdx(a, x.size()), gdw(a, C), gdb(a, C);
    std::vector<float> out(x.size()), mean(N), rstd(N), dx(x.size()), dw(C), db(C);
    auto fwd = [&] { ok(a, a.layernorm_forward(go.get(), gm.get(), gr.get(), gx.get(), gw.get(), gb.get(), N, C, 1e-12f), "ln"); };
    auto bwd = [&] { ok(a, a.layernorm_backward(gdx.get(), gdw.get(), gdb.get(), gd.get(), gx.get(), gw.get(), gm.get(), gr.get(), N, C), "ln bwd"); };
    const std::string shape = "N" + std::to_string(N) + " C" + std::to_string(C);
    Result r{"layernorm_forward", shape};
    r.cpu_ms = cpu_median_ms([&] { layernorm_forward<float>(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-12); }, 3);
    fwd();
    r.rel_err = rel_vs_float(go.download(), out);
    r.gpu_ms = median_ms(a, fwd, 3, reps);
    r.bytes = 2.0 * N * C * 4;
    report(r);
    Result rb{"layernorm_backward", shape};
    rb.cpu_ms = cpu_median_ms([&] { layernorm_backward<float>(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C); }, 3);
    bwd();
    rb.rel_err = rel_vs_float(gdx.download(), dx);
    rb.gpu_ms = median_ms(a, bwd, 3, reps);
    rb.bytes = 3.0 * N * C * 4;
    report(rb);
  }

  void gelu(int64_t n) {
    auto x = random_floats(n, 5, -5, 5), d = random_floats(n, 6);
    DeviceBuffer<float> gx(a, x), gd(a, d), gy(a, n);
    std::vector<float> y(n);
    const std::string shape = "n" + std::to_string(n);
    Result r{"gelu_forward", shape};
    r.cpu_ms = cpu_median_ms([&] { gelu_forward<float>(y.data(), x.data(), n); }, 3);
    ok(a, a.gelu_forward(gy.get(), gx.get(), n), "gelu");
    r.rel_err = rel_vs_float(gy.download(), y);
    r.gpu_ms = median_ms(a, [&] { ok(a, a.gelu_forward(gy.get(), gx.get(), n), "gelu"); }, 3, reps);
    r.bytes = 2.0 * n * 4;
    report(r);
    Result rb{"gelu_backward", shape};
    rb.cpu_ms = cpu_median_ms([&] { gelu_backward<float>(y.data(), d.data(), x.data(), n); }, 3);
    ok(a, a.gelu_backward(gy.get(), gd.get(), gx.get(), n), "gelu bwd");
    rb.rel_err = rel_vs_float(gy.download(), y);
    rb.gpu_ms = median_ms(a, [&] { ok(a, a.gelu_backward(gy.get(), gd.get(), gx.get(), n), "gelu bwd"); }, 3, reps);
    rb.bytes = 3.0 * n * 4;
    report(rb);
  }

  // A bias gradient: db (C) += column sums of dout (N,C) (starting from 0 each timed call).
  void bias_backward(int N, int C) {
    auto d = random_floats(size_t(N) * C, 15);
    DeviceBuffer<float> gd(a, d), gdb(a, C);
    std::vector<float> db(C, 0.f);
    Result r{"bias_backward", "N" + std::to_string(N) + " C" + std::to_string(C)};
    r.cpu_ms = cpu_median_ms([&] { lshlab::bias_backward<float>(db.data(), d.data(), N, C, C); }, 1);
    ok(a, a.memset(gdb.get(), 0, gdb.bytes()), "memset");
    ok(a, a.bias_backward(gdb.get(), gd.get(), N, C, C), "bias_backward");
    r.rel_err = rel_vs_float(gdb.download(), db);
    r.gpu_ms = median_ms(a, [&] { ok(a, a.bias_backward(gdb.get(), gd.get(), N, C, C), "bias_backward"); }, 3, reps);
    r.bytes = double(N) * C * 4;
    report(r);
  }

  void cross_entropy(int N, int V) {
    auto l = random_floats(size_t(N) * V, 7, -4, 4);
    std::vector<int32_t> t(N);
    for (int i = 0; i < N; i++) t[i] = (i * 7919) % V;
    DeviceBuffer<float> gl(a, l), gloss(a, N), gd(a, l.size());
    DeviceBuffer<int32_t> gt(a, t), gc(a, N);
    std::vector<float> d(l.size());
    Result r{"cross_entropy", "N" + std::to_string(N) + " V" + std::to_string(V)};
    r.cpu_ms = cpu_median_ms([&] { cross_entropy_forward_backward<float>(d.data(), l.data(), t.data(), N, V, -100, 1.0, nullptr, nullptr); }, 3);
    auto run = [&] { ok(a, a.cross_entropy_forward_backward(gloss.get(), gc.get(), gd.get(), gl.get(), gt.get(), N, V, -100, 1.f / N), "ce"); };
    run();
    r.rel_err = rel_vs_float(gd.download(), d);
    r.gpu_ms = median_ms(a, run, 3, reps);
    r.bytes = 2.0 * N * V * 4;
    report(r);
  }

  void adamw(int64_t n) {
    auto p = random_floats(n, 8), g = random_floats(n, 9);
    std::vector<float> m(n, 0.f), v(n, 0.f);
    DeviceBuffer<float> gp(a, p), gm(a, m), gv(a, v), gg(a, g);
    const lshlab_cuda_adamw_params ap{0.99999f, 0.9f, 0.999f, 1e-2f, 31.6f, 1e-8f, 1.f};
    Result r{"adamw_update", "n" + std::to_string(n)};
    r.cpu_ms = cpu_median_ms([&] {  // the loop of train/adamw.cc, one thread
      for (int64_t i = 0; i < n; i++) {
        const float gi = g[i] * ap.grad_scale;
        p[i] *= ap.decay;
        m[i] = ap.beta1 * m[i] + (1.f - ap.beta1) * gi;
        v[i] = ap.beta2 * v[i] + (1.f - ap.beta2) * gi * gi;
        p[i] -= ap.step_size * m[i] / (std::sqrt(v[i]) * ap.inv_sqrt_bc2 + ap.eps);
      }
    }, 1);
    ok(a, a.adamw_update(gp.get(), gm.get(), gv.get(), gg.get(), n, &ap), "adamw");
    r.rel_err = rel_vs_float(gp.download(), p);
    r.gpu_ms = median_ms(a, [&] { ok(a, a.adamw_update(gp.get(), gm.get(), gv.get(), gg.get(), n, &ap), "adamw"); }, 3, reps);
    r.bytes = 7.0 * n * 4;  // read p m v g, write p m v
    report(r);
  }

  // A Linear layer: C (M,N) = X (M,K) W^T (W stored (N,K)) + bias, optionally GELU with pre_gelu.
  void linear(int M, int N, int K, bool gelu, const char* name) {
    auto X = random_floats(size_t(M) * K, 10), W = random_floats(size_t(N) * K, 11), bias = random_floats(N, 12);
    DeviceBuffer<float> gX(a, X), gW(a, W), gb(a, bias), gC(a, size_t(M) * N), gpre(a, size_t(M) * N);
    std::vector<float> Cc(size_t(M) * N), pre(size_t(M) * N);
    GemmEpilogue<float> ep;
    ep.bias = bias.data();
    ep.gelu = gelu;
    ep.pre_gelu = gelu ? pre.data() : nullptr;
    Result r{name, "M" + std::to_string(M) + " N" + std::to_string(N) + " K" + std::to_string(K)};
    r.cpu_ms = cpu_median_ms([&] { gemm<float>(false, true, M, N, K, 1.f, X.data(), K, W.data(), K, 0.f, Cc.data(), N, &ep); }, 3);
    auto run = [&] { ok(a, a.gemm(0, 1, M, N, K, 1.f, gX.get(), K, gW.get(), K, 0.f, gC.get(), N, gb.get(), gelu, gelu ? gpre.get() : nullptr), "gemm"); };
    run();
    r.rel_err = rel_vs_float(gC.download(), Cc);
    r.gpu_ms = median_ms(a, run, 3, reps);
    r.flops = 2.0 * M * N * K;
    report(r);
  }

  // Exact attention forward and backward; p > 0 adds attention dropout (training).
  void attention(int B, int T, int H, int D, double p = 0) {
    const int C = H * D;
    auto qkv = random_floats(size_t(B) * T * 3 * C, 13, -2, 2), dctx = random_floats(size_t(B) * T * C, 14);
    DeviceBuffer<float> gqkv(a, qkv), gctx(a, size_t(B) * T * C), glse(a, size_t(B) * H * T), gdctx(a, dctx),
        gdqkv(a, qkv.size()), gdelta(a, size_t(B) * H * T);
    std::vector<float> ctx(size_t(B) * T * C), dqkv(qkv.size());
    ExactAttention<float> cpu;
    AttentionCall call;
    call.B = B; call.T = T; call.H = H; call.D = D;
    const lshlab_cuda_dropout drop{p, 1234, 5, 7};
    call.training = p > 0;
    call.dropout = p;
    call.seed = drop.seed; call.step = drop.step; call.site = drop.site;
    const lshlab_cuda_dropout* dp = p > 0 ? &drop : nullptr;
    const std::string shape = "B" + std::to_string(B) + " T" + std::to_string(T) + " H" + std::to_string(H) +
                              " D" + std::to_string(D) + (p > 0 ? " dropout" : "");
    const double pairs = double(B) * H * T * T;
    Result r{"attention_forward", shape};
    r.cpu_ms = cpu_median_ms([&] { cpu.forward(ctx.data(), qkv.data(), nullptr, call); }, 3);
    auto fwd = [&] { ok(a, a.attention_forward(gctx.get(), glse.get(), gqkv.get(), nullptr, B, T, H, D, dp), "attn fwd"); };
    fwd();
    r.rel_err = rel_vs_float(gctx.download(), ctx);
    r.gpu_ms = median_ms(a, fwd, 3, reps);
    r.flops = 4.0 * pairs * D;
    report(r);
    Result rb{"attention_backward", shape};
    rb.cpu_ms = cpu_median_ms([&] { cpu.backward(dqkv.data(), dctx.data(), qkv.data(), nullptr, call); }, 1);
    auto bwd = [&] { ok(a, a.attention_backward(gdqkv.get(), gdelta.get(), gdctx.get(), gqkv.get(), gctx.get(), glse.get(), nullptr, B, T, H, D, dp), "attn bwd"); };
    bwd();
    rb.rel_err = rel_vs_float(gdqkv.download(), dqkv);
    rb.gpu_ms = median_ms(a, bwd, 3, reps);
    rb.flops = 10.0 * pairs * D;  // recomputed S, dP, and three products
    report(rb);
  }

  // YOSO (LSH) forward, and forward + backward (surrogate), against YosoAttention<float> with the
  // same draws. rel err: ctx, then dqkv; random inputs can put a projection within float
  // rounding of 0 and flip a code bit, so it may exceed the parity tests' bounds (they screen
  // their inputs). Past T = 8192 the CPU is not run (minutes): cpu 0 ms, rel err -1.
  void yoso(int B, int T, int H, int D, int tau, int m) {
    const int C = H * D;
    const size_t BH = size_t(B) * H;
    auto qkv = random_floats(size_t(B) * T * 3 * C, 16), dctx = random_floats(size_t(B) * T * C, 17);
    size_t bytes = 0;
    ok(a, a.yoso_workspace_size(&bytes, B, T, H, D, tau, m), "yoso_workspace_size");
    DeviceBuffer<unsigned char> ws(a, bytes);
    DeviceBuffer<float> gqkv(a, qkv), gctx(a, size_t(B) * T * C), gy(a, BH * T),
        gpl(a, BH * m * tau * D), gdctx(a, dctx), gdqkv(a, qkv.size());
    DeviceBuffer<int32_t> gqc(a, BH * m * T), gkc(a, BH * m * T);
    auto fwd = [&] { ok(a, a.yoso_forward(gctx.get(), gy.get(), gqc.get(), gkc.get(), gpl.get(), nullptr, ws.get(), gqkv.get(), nullptr, B, T, H, D, tau, m, 1234, 5, 7), "yoso fwd"); };
    auto bwd = [&] { ok(a, a.yoso_backward(gdqkv.get(), ws.get(), gdctx.get(), gqkv.get(), gctx.get(), gy.get(), gqc.get(), gkc.get(), nullptr, B, T, H, D, tau, m, 0), "yoso bwd"); };
    YosoOptions o;
    o.lsh = true; o.tau = tau; o.num_hash = m;
    YosoAttention<float> cpu(o);
    AttentionCall call;
    call.B = B; call.T = T; call.H = H; call.D = D; call.training = true;
    call.seed = 1234; call.step = 5; call.site = 7;
    std::vector<float> ctx(size_t(B) * T * C), dqkv(qkv.size());
    const bool with_cpu = T <= 8192;
    const int n_reps = T > 65536 ? std::min(reps, 5) : reps;
    const std::string shape = "B" + std::to_string(B) + " T" + std::to_string(T) + " H" + std::to_string(H) +
                              " D" + std::to_string(D) + " tau" + std::to_string(tau) + " m" + std::to_string(m);
    Result r{"yoso_forward", shape};
    if (with_cpu) r.cpu_ms = cpu_median_ms([&] { cpu.forward(ctx.data(), qkv.data(), nullptr, call); }, 1);
    fwd();
    r.rel_err = with_cpu ? rel_vs_float(gctx.download(), ctx) : -1;
    r.gpu_ms = median_ms(a, fwd, 2, n_reps);
    report(r);
    Result rb{"yoso_forward_backward", shape};
    if (with_cpu)
      rb.cpu_ms = cpu_median_ms([&] {
        cpu.forward(ctx.data(), qkv.data(), nullptr, call);
        cpu.backward(dqkv.data(), dctx.data(), qkv.data(), nullptr, call);
      }, 1);
    fwd();
    bwd();
    rb.rel_err = with_cpu ? rel_vs_float(gdqkv.download(), dqkv) : -1;
    rb.gpu_ms = median_ms(a, [&] { fwd(); bwd(); }, 2, n_reps);
    report(rb);
  }

  // BERT-LSH forward, and forward + backward, against BertLshAttention<float> with the same
  // draws (defaults but `bands` and `fill`). rel err: ctx, then dqkv (unscreened inputs: a
  // projection within rounding of 0 can move a bucket). flops: the scored pairs' dot products.
  void bert_lsh(int B, int T, int H, int D, int bands, bool masked) {
    const int C = H * D;
    const size_t BHT = size_t(B) * H * T;
    auto qkv = random_floats(size_t(B) * T * 3 * C, 18), dctx = random_floats(size_t(B) * T * C, 19);
    const lshlab_cuda_bert_lsh_params p{bands, 64, 1, masked, 0, 0, 0};
    size_t bytes = 0;
    ok(a, a.bert_lsh_workspace_size(&bytes, B, T, H, D, &p), "bert_lsh_workspace_size");
    DeviceBuffer<unsigned char> ws(a, bytes);
    DeviceBuffer<float> gqkv(a, qkv), gctx(a, size_t(B) * T * C), gst(a, 2 * BHT), gdctx(a, dctx), gdqkv(a, qkv.size());
    DeviceBuffer<int32_t> gcodes(a, 2 * BHT);
    DeviceBuffer<double> gcounts(a, 2 * size_t(H));
    auto fwd = [&] { ok(a, a.bert_lsh_forward(gctx.get(), gst.get(), gcodes.get(), nullptr, nullptr, gcounts.get(), ws.get(), gqkv.get(), nullptr, B, T, H, D, &p, 1234, 5, 7, nullptr), "bert_lsh fwd"); };
    auto bwd = [&] { ok(a, a.bert_lsh_backward(gdqkv.get(), ws.get(), gdctx.get(), gqkv.get(), gctx.get(), gst.get(), gcodes.get(), nullptr, B, T, H, D, &p, nullptr), "bert_lsh bwd"); };
    BertLshConfig cfg;
    cfg.bands = bands; cfg.fill_masked = masked;
    BertLshAttention<float> cpu(cfg);
    AttentionCall call;
    call.B = B; call.T = T; call.H = H; call.D = D;
    call.seed = 1234; call.step = 5; call.site = 7;
    std::vector<float> ctx(size_t(B) * T * C), dqkv(qkv.size());
    const std::string shape = "B" + std::to_string(B) + " T" + std::to_string(T) + " H" + std::to_string(H) +
                              " D" + std::to_string(D) + " bands" + std::to_string(bands) + (masked ? " masked" : "");
    Result r{"bert_lsh_forward", shape};
    r.cpu_ms = cpu_median_ms([&] { cpu.forward(ctx.data(), qkv.data(), nullptr, call); }, 3);
    fwd();
    r.rel_err = rel_vs_float(gctx.download(), ctx);
    r.gpu_ms = median_ms(a, fwd, 3, reps);
    r.flops = 2.0 * D * cpu.counters().dot_products;
    report(r);
    Result rb{"bert_lsh_forward_backward", shape};
    rb.cpu_ms = cpu_median_ms([&] {
      cpu.forward(ctx.data(), qkv.data(), nullptr, call);
      cpu.backward(dqkv.data(), dctx.data(), qkv.data(), nullptr, call);
    }, 1);
    bwd();
    rb.rel_err = rel_vs_float(gdqkv.download(), dqkv);
    rb.gpu_ms = median_ms(a, [&] { fwd(); bwd(); }, 2, reps);
    report(rb);
  }

  // BERT-LSH fill=masked (transposed fill, one hash), the dense and the sorted kernel paths
  // (LSHLAB_CUDA_BERT_LSH_PATH) on the same inputs: forward and forward + backward. No CPU run;
  // rel err: the sorted path against the dense one (ctx, then dqkv). density = scored pairs /
  // T^2 per head (dot products each pair once, so about half the entries under transposed fill).
  void bert_lsh_paths(int B, int T, int H, int D, int bands, int table) {
    const int C = H * D;
    const size_t BHT = size_t(B) * H * T;
    auto qkv = random_floats(size_t(B) * T * 3 * C, 18), dctx = random_floats(size_t(B) * T * C, 19);
    const lshlab_cuda_bert_lsh_params p{bands, table, 1, 1, 0, 0, 0};
    size_t bytes = 0;
    ok(a, a.bert_lsh_workspace_size(&bytes, B, T, H, D, &p), "bert_lsh_workspace_size");
    DeviceBuffer<unsigned char> ws(a, bytes);
    DeviceBuffer<float> gqkv(a, qkv), gctx(a, size_t(B) * T * C), gst(a, 2 * BHT), gdctx(a, dctx), gdqkv(a, qkv.size());
    DeviceBuffer<int32_t> gcodes(a, 2 * BHT);
    DeviceBuffer<double> gcounts(a, 2 * size_t(H));
    auto fwd = [&] { ok(a, a.bert_lsh_forward(gctx.get(), gst.get(), gcodes.get(), nullptr, nullptr, gcounts.get(), ws.get(), gqkv.get(), nullptr, B, T, H, D, &p, 1234, 5, 7, nullptr), "bert_lsh fwd"); };
    auto bwd = [&] { ok(a, a.bert_lsh_backward(gdqkv.get(), ws.get(), gdctx.get(), gqkv.get(), gctx.get(), gst.get(), gcodes.get(), nullptr, B, T, H, D, &p, nullptr), "bert_lsh bwd"); };
    std::vector<float> ctx[2], dqkv[2];
    const int n_reps = T >= 32768 ? 3 : 5;
    for (int path = 0; path < 2; path++) {
      setenv("LSHLAB_CUDA_BERT_LSH_PATH", path ? "sorted" : "dense", 1);
      fwd();
      bwd();
      ctx[path] = gctx.download();
      dqkv[path] = gdqkv.download();
      const std::vector<double> counts = gcounts.download();
      double dots = 0;
      for (int h = 0; h < H; h++) dots += counts[size_t(h)];
      char shape[160];
      std::snprintf(shape, sizeof shape, "B%d T%d H%d D%d bands%d m%d density %.4f", B, T, H, D, bands,
                    table, dots / (double(B) * H * double(T) * T));
      const char* op[2][2] = {{"bert_lsh_fwd_dense", "bert_lsh_fwd_bwd_dense"},
                              {"bert_lsh_fwd_sorted", "bert_lsh_fwd_bwd_sorted"}};
      Result r{op[path][0], shape};
      r.rel_err = path ? rel_vs_float(ctx[1], ctx[0]) : 0;
      r.gpu_ms = median_ms(a, fwd, 1, n_reps);
      report(r);
      Result rb{op[path][1], shape};
      rb.rel_err = path ? rel_vs_float(dqkv[1], dqkv[0]) : 0;
      rb.gpu_ms = median_ms(a, [&] { fwd(); bwd(); }, 1, n_reps);
      report(rb);
    }
    unsetenv("LSHLAB_CUDA_BERT_LSH_PATH");
  }

  // Reformer LSH forward, and forward + backward, against ReformerAttention<float> with the
  // same draws (chunk 64, one chunk before, auto buckets). rel err: ctx, then dqkv (unscreened
  // inputs: a near-tie can move a bucket). flops: scores and P V over the computed windows.
  // Past T = 8192 the CPU is not run: cpu 0 ms, rel err -1.
  void reformer(int B, int T, int H, int D, int R) {
    const int C = H * D;
    auto qkv = random_floats(size_t(B) * T * 3 * C, 20), dctx = random_floats(size_t(B) * T * C, 21);
    const lshlab_cuda_reformer_params p{R, 0, 64, 1, 0};
    size_t sb = 0, wb = 0;
    ok(a, a.reformer_sizes(&sb, &wb, B, T, H, D, &p), "reformer_sizes");
    DeviceBuffer<unsigned char> st(a, sb), ws(a, wb);
    DeviceBuffer<float> gqkv(a, qkv), gctx(a, size_t(B) * T * C), gdctx(a, dctx), gdqkv(a, qkv.size());
    auto fwd = [&] { ok(a, a.reformer_forward(gctx.get(), st.get(), nullptr, nullptr, ws.get(), gqkv.get(), nullptr, B, T, H, D, &p, 1234, 5, 7, nullptr), "reformer fwd"); };
    auto bwd = [&] { ok(a, a.reformer_backward(gdqkv.get(), ws.get(), gdctx.get(), gqkv.get(), st.get(), nullptr, B, T, H, D, &p, nullptr), "reformer bwd"); };
    ReformerParams rp;
    rp.num_hashes = R;
    ReformerAttention<float> cpu(rp);
    AttentionCall call;
    call.B = B; call.T = T; call.H = H; call.D = D;
    call.seed = 1234; call.step = 5; call.site = 7;
    std::vector<float> ctx(size_t(B) * T * C), dqkv(qkv.size());
    const bool with_cpu = T <= 8192;
    const int Tp = (T + 63) / 64 * 64, W = T <= 64 ? T : 128;
    const double dots = double(B) * H * (T <= 64 ? T : R * Tp) * W;
    const std::string shape = "B" + std::to_string(B) + " T" + std::to_string(T) + " H" + std::to_string(H) +
                              " D" + std::to_string(D) + " hashes" + std::to_string(R);
    Result r{"reformer_forward", shape};
    if (with_cpu) r.cpu_ms = cpu_median_ms([&] { cpu.forward(ctx.data(), qkv.data(), nullptr, call); }, 3);
    fwd();
    r.rel_err = with_cpu ? rel_vs_float(gctx.download(), ctx) : -1;
    r.gpu_ms = median_ms(a, fwd, 3, reps);
    r.flops = 4.0 * D * dots;
    report(r);
    Result rb{"reformer_forward_backward", shape};
    if (with_cpu)
      rb.cpu_ms = cpu_median_ms([&] {
        cpu.forward(ctx.data(), qkv.data(), nullptr, call);
        cpu.backward(dqkv.data(), dctx.data(), qkv.data(), nullptr, call);
      }, 1);
    fwd();
    bwd();
    rb.rel_err = with_cpu ? rel_vs_float(gdqkv.download(), dqkv) : -1;
    rb.gpu_ms = median_ms(a, [&] { fwd(); bwd(); }, 2, reps);
    rb.flops = 4.0 * D * dots + 10.0 * D * dots;  // forward, then recomputed S, dP and 3 products
    report(rb);
  }
};

}  // namespace

int cmd_bench_cuda(int argc, char** argv) {
  DriverArgs args(argc, argv, {}, {"--json", "--quick"});
  const bool json = args.has("--json"), quick = args.has("--quick");
  const Api* ap = cuda_api();
  if (!ap) {
    const std::string why = "CUDA unavailable: " + cuda_status().reason;
    if (json) {
      Json o = Json::object();
      o.set("bench", "cuda");
      o.set("skipped", why);
      std::printf("%s\n", o.dump().c_str());
    } else {
      std::printf("bench-cuda skipped: %s\n", why.c_str());
    }
    return 0;
  }
  Bench b{*ap, json, quick ? 5 : 20, {}};
  int errors = 0;
  // One failing op is reported (with the library's message) and the next one runs.
  auto run = [&](const char* what, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      errors++;
      if (json) {
        Json o = Json::object();
        o.set("bench", "cuda");
        o.set("op", what);
        o.set("error", e.what());
        std::printf("%s\n", o.dump().c_str());
      } else {
        std::printf("%-22s error: %s\n", what, e.what());
      }
      std::fflush(stdout);
    }
  };
  // BERT-tiny 64 x 128 (N 8192, C 128, F 512, H 2) and BERT-base 32 x 128 (N 4096, C 768, F 3072, H 12).
  run("layernorm", [&] { b.layernorm(8192, 128); });
  run("gelu", [&] { b.gelu(8192LL * 512); });
  run("gemm_qkv_bias", [&] { b.linear(8192, 384, 128, false, "gemm_qkv_bias"); });
  run("gemm_ffn_bias_gelu", [&] { b.linear(8192, 512, 128, true, "gemm_ffn_bias_gelu"); });
  run("cross_entropy", [&] { b.cross_entropy(1229, 30522); });  // 15% of 8192 tokens masked
  run("adamw_update", [&] { b.adamw(4400000); });               // BERT-tiny's parameters
  run("attention", [&] { b.attention(64, 128, 2, 64); });
  run("yoso", [&] { b.yoso(8, 512, 4, 64, 9, 32); });
  run("bert_lsh", [&] { b.bert_lsh(64, 128, 2, 64, 2, false); });
  run("reformer", [&] { b.reformer(64, 128, 2, 64, 1); });
  run("attention_dropout", [&] { b.attention(64, 128, 2, 64, 0.1); });
  run("bias_backward", [&] { b.bias_backward(65536, 128); });
  if (!quick) {
    run("layernorm", [&] { b.layernorm(4096, 768); });
    run("gelu", [&] { b.gelu(4096LL * 3072); });
    run("gemm_qkv_bias", [&] { b.linear(4096, 2304, 768, false, "gemm_qkv_bias"); });
    run("gemm_ffn_bias_gelu", [&] { b.linear(4096, 3072, 768, true, "gemm_ffn_bias_gelu"); });
    run("adamw_update", [&] { b.adamw(110000000); });  // BERT-base's parameters
    run("attention", [&] { b.attention(32, 128, 12, 64); });
    run("attention_dropout", [&] { b.attention(32, 128, 12, 64, 0.1); });
    run("bias_backward", [&] { b.bias_backward(65536, 768); });
    run("bias_backward", [&] { b.bias_backward(65536, 3072); });
    run("attention", [&] { b.attention(4, 1024, 8, 64); });
    run("attention", [&] { b.attention(4, 4096, 8, 64); });
    run("yoso", [&] { b.yoso(4, 4096, 8, 64, 9, 64); });
    run("bert_lsh", [&] { b.bert_lsh(4, 1024, 8, 64, 2, false); });
    run("bert_lsh", [&] { b.bert_lsh(4, 1024, 8, 64, 8, true); });  // sparse: masked tiles skipped
    for (int T : {4096, 8192, 16384, 32768, 65536})  // fill=masked: dense vs sorted kernels
      for (int bands : {4, 8}) run("bert_lsh_paths", [&] { b.bert_lsh_paths(4, T, 8, 64, bands, 64); });
    run("reformer", [&] { b.reformer(4, 4096, 8, 64, 2); });
    run("reformer", [&] { b.reformer(1, 65536, 4, 64, 4); });
    run("yoso", [&] { b.yoso(1, 65536, 4, 64, 9, 64); });
    run("yoso", [&] { b.yoso(1, 262144, 1, 64, 16, 64); });  // tau 16: few collisions per hash
    run("yoso", [&] { b.yoso(1, 262144, 1, 64, 9, 32); });   // tau 9: ~n/512 keys per bucket
  }
  return errors == 0 ? 0 : 1;
}
