#!/usr/bin/env python3
"""PyTorch peers for `lshlab-native bench-attention --device cuda --scaling` (issue 11): one attention
call's forward and forward+backward time and peak memory at batch 4, 8 heads, head size 64, n = 512
doubling to --max-n (262,144), one JSON line per (peer, n) on stdout.

Peers (--peers, comma list):
  sdpa-fp32        torch.nn.functional.scaled_dot_product_attention on Q, K, V (B,H,n,D) fp32 (PyTorch
                   picks the kernel: memory-efficient on an H200); compare with lshlab's `exact`.
  sdpa-bf16        the same in bf16 (FlashAttention-2); a different precision, not equal work.
  reformer         transformers' LSHSelfAttention (1 hash, chunk 64, buckets by HF's rule, 1 chunk
                   before, 0 after, no dropout, train mode, fp32) on hidden states (B,n,H*D): it
                   INCLUDES its query_key and value projections (2 GEMMs of n x 512 x 512).
  reformer-noproj  the same module with the projections replaced by the identity: it gets shared
                   QK and V ready-made, as lshlab's `reformer` gets qkv (equal work).
  yoso             the YOSO authors' CUDA kernels (bench/peers/yoso-kernels, transformers 4.57.1's
                   kernels/yoso, built here with torch.utils.cpp_extension), called as transformers
                   4.x YosoSelfAttention + YosoLSHCumulation do: unit Q, K; fast_hash, lsh_cumulation;
                   backward = lsh_backward (one cumulation, two weighted cumulations); output
                   normalised. --yoso 32:8 = 32 hashes, tau 8 (the paper's; "64:9" for lshlab's
                   defaults). CUDA only: skipped with a line elsewhere. Compare with lshlab's `yoso`.
Timing: --warmup calls, then --reps calls, each between two CUDA events; the median (CPU: wall
clock). Forward = the training forward (autograd on, so it saves what backward needs), output
dropped. Memory: torch.cuda.max_memory_allocated() over the cell minus what was allocated before
it; the cell's inputs (q, k, v or hidden states, the cotangent) are allocated inside it.
Caps: a peer stops at the n whose estimated fwd+bwd call (power law from the last two sizes)
exceeds --max-call-ms or would overrun --peer-budget-s, and says so; an error (OOM, CUDA "invalid
argument") is a JSON line with "error" and stops that peer. rel_err (smallest n only): sdpa against
a float64 reference; yoso against its expectation (1 - acos(x)/pi)^tau (sampling error, not a bug).
Usage: python3 bench/pytorch_attention_gpu.py [--quick] [--max-n 65536] [--peers sdpa-fp32,yoso]
       .venv-ref/bin/python bench/pytorch_attention_gpu.py --device cpu --max-n 1024   (smoke test)
Not part of lshlab: a peer to measure (bench/gpu-check.sh runs it).
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = ["sdpa-fp32", "sdpa-bf16", "reformer", "reformer-noproj", "yoso"]


def timed(fn, dev, warm, reps):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        if dev.type == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); e.synchronize()
            ts.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter(); fn(); ts.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(ts)


def rel(got, ref):
    got, ref = got.double(), ref.double()
    return float((got - ref).norm() / ref.norm())


def sdpa_case(B, H, n, D, dev, dtype, check):
    q, k, v = (torch.rand(B, H, n, D, device=dev, dtype=dtype).mul_(2).sub_(1).requires_grad_() for _ in range(3))
    g = torch.randn(B, H, n, D, device=dev, dtype=dtype)
    fwd = lambda: F.scaled_dot_product_attention(q, k, v)
    extra = {}
    if check:
        qd, kd, vd = (t.detach().double() for t in (q, k, v))
        ref = torch.softmax(qd @ kd.transpose(-1, -2) / math.sqrt(D), -1) @ vd
        extra["rel_err"] = rel(fwd().detach(), ref)
    return fwd, g, [q, k, v], {"precision": str(dtype).replace("torch.", "")}, extra


class Given(torch.nn.Module):
    """Stands in for a projection: returns a ready-made tensor (the reformer-noproj peer)."""
    def __init__(self, t):
        super().__init__()
        self.t = t

    def forward(self, x):
        return self.t if self.t is not None else x


def reformer_case(B, H, n, D, dev, proj):
    from transformers import ReformerConfig
    from transformers.models.reformer.modeling_reformer import LSHSelfAttention
    cfg = ReformerConfig(hidden_size=H * D, num_attention_heads=H, attention_head_size=D, attn_layers=["lsh"],
                         lsh_attn_chunk_length=64, num_hashes=1, num_buckets=None, lsh_num_chunks_before=1,
                         lsh_num_chunks_after=0, lsh_attention_probs_dropout_prob=0.0,
                         max_position_embeddings=max(n, 4096), is_decoder=False)
    layer = LSHSelfAttention(cfg).to(dev).train()
    x = torch.randn(B, n, H * D, device=dev).requires_grad_()
    leaves = [x] + list(layer.parameters())
    if not proj:  # x is the shared QK, v the values: no GEMM left in the module
        v = torch.randn(B, n, H * D, device=dev).requires_grad_()
        layer.query_key, layer.value, leaves = Given(None), Given(v), [x, v]

    def fwd():
        out = layer(x)
        return out.hidden_states if hasattr(out, "hidden_states") else out[0]
    g = torch.randn(B, n, H * D, device=dev)
    fwd()  # sets num_buckets by HF's rule for this n
    nb = layer.num_buckets
    return fwd, g, leaves, {"precision": "float32", "num_hashes": 1, "chunk_length": 64, "num_buckets": nb,
                            "chunks_before": 1, "chunks_after": 0, "includes_projections": proj}, {}


_YOSO = None


def yoso_kernels():
    global _YOSO
    if _YOSO is None:
        from torch.utils.cpp_extension import load
        src = os.path.join(HERE, "peers", "yoso-kernels")
        cc = "%d%d" % torch.cuda.get_device_capability()
        _YOSO = load("fast_lsh_cumulation", [os.path.join(src, f) for f in (
            "fast_lsh_cumulation_torch.cpp", "fast_lsh_cumulation.cu", "fast_lsh_cumulation_cuda.cu")],
            extra_cuda_cflags=[f"-gencode=arch=compute_{cc},code=sm_{cc}"], verbose=False)
    return _YOSO


class YosoLSHCumulation(torch.autograd.Function):
    """transformers 4.x YosoLSHCumulation (use_fast_hash, lsh_backward), as it calls the kernels."""
    @staticmethod
    def forward(ctx, mq, mk, q, k, v, m, tau):
        y = yoso_kernels()
        qc, kc = y.fast_hash(mq, q, mk, k, m, tau, True, 1)
        out = y.lsh_cumulation(mq, qc, mk, kc, v, 2 ** tau, True, 1)
        ctx.save_for_backward(mq, mk, qc, kc, q, k, v)
        ctx.tau = tau
        return out

    @staticmethod
    def backward(ctx, grad):
        y, (mq, mk, qc, kc, q, k, v), tau = yoso_kernels(), ctx.saved_tensors, ctx.tau
        grad = grad.contiguous()
        dv = y.lsh_cumulation(mk, kc, mq, qc, grad, 2 ** tau, True, 1)
        dq = y.lsh_weighted_cumulation(mq, qc, grad, mk, kc, v, (tau / 2) * k, 2 ** tau, True, 4)
        dk = y.lsh_weighted_cumulation(mk, kc, v, mq, qc, grad, (tau / 2) * q, 2 ** tau, True, 4)
        return None, None, dq, dk, dv, None, None


def yoso_case(B, H, n, D, dev, m, tau, check):
    q, k, v = (torch.randn(B * H, n, D, device=dev).requires_grad_() for _ in range(3))
    mask = torch.ones(B * H, n, dtype=torch.int32, device=dev)
    g = torch.randn(B * H, n, D, device=dev)

    def fwd():  # YosoSelfAttention (training): unit Q, K; cumulation; unit output
        out = YosoLSHCumulation.apply(mask, mask, F.normalize(q, dim=-1), F.normalize(k, dim=-1), v, m, tau)
        return F.normalize(out, dim=-1)
    extra = {}
    got = fwd().detach()
    if not torch.isfinite(got).all() or got.abs().sum() == 0:
        raise RuntimeError("yoso kernels returned a non-finite or all-zero output (a failed launch)")
    if check:
        x = (F.normalize(q.detach().double(), dim=-1) @ F.normalize(k.detach().double(), dim=-1).transpose(1, 2)).clamp(-1, 1)
        extra["rel_err_vs_expectation"] = rel(got, F.normalize((1 - torch.acos(x) / math.pi) ** tau @ v.detach().double(), dim=-1))
    return fwd, g, [q, k, v], {"precision": "float32", "num_hash": m, "tau": tau}, extra


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--min-n", type=int, default=512)
    ap.add_argument("--max-n", type=int, default=262144)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--yoso", default="32:8", help="hashes:tau, comma for several (64:9 = lshlab's defaults)")
    ap.add_argument("--quick", action="store_true", help="fewer reps, smaller caps")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--max-call-ms", type=float)
    ap.add_argument("--peer-budget-s", type=float)
    ap.add_argument("--threads", type=int, default=2, help="torch threads on the CPU")
    a = ap.parse_args()
    reps = a.reps or (5 if a.quick else 10)
    warm = a.warmup if a.warmup is not None else (2 if a.quick else 3)
    max_call = a.max_call_ms or (2000.0 if a.quick else 5000.0)
    budget = a.peer_budget_s or (20.0 if a.quick else 60.0)
    dev = torch.device(a.device)
    B, H, D = a.batch, a.heads, a.head_dim
    try:
        import transformers
        tv = transformers.__version__
    except ImportError:
        tv = None
    base = {"bench": "attention-scaling", "device": dev.type, "torch": torch.__version__, "transformers": tv}
    if dev.type == "cuda" and not torch.cuda.is_available():
        print(json.dumps({**base, "skipped": "torch sees no CUDA device"}), flush=True)
        return 0
    torch.set_num_threads(a.threads)
    if tv:
        transformers.utils.logging.set_verbosity_error()  # "Setting config.num_buckets to 16..."
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (the reformer projections)
    base["gpu"] = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    configs = []
    for p in [p for p in a.peers.split(",") if p]:
        if p not in PEERS:
            ap.error(f"--peers: unknown peer '{p}' ({', '.join(PEERS)})")
        configs += [(p, tuple(int(x) for x in c.split(":"))) for c in a.yoso.split(",")] if p == "yoso" else [(p, None)]
    for peer, yc in configs:
        variant = {"sdpa-fp32": "exact", "sdpa-bf16": "exact", "yoso": "yoso"}.get(peer, "reformer")
        hist, spent, stop = [], 0.0, None
        n = a.min_n
        while n <= a.max_n:
            row = {**base, "peer": peer, "variant": variant, "n": n, "B": B, "H": H, "D": D,
                   "reproduce": f"python3 bench/pytorch_attention_gpu.py --device {a.device} --peers {peer} "
                                f"--min-n {n} --max-n {n} --batch {B} --heads {H} --head-dim {D}" + (f" --yoso {yc[0]}:{yc[1]}" if yc else "")}
            if yc:
                row["params"] = {"num_hash": yc[0], "tau": yc[1]}
            est = 0.0
            if len(hist) >= 1:
                e = 2.0 if len(hist) < 2 else math.log(hist[-1][1] / hist[-2][1]) / math.log(hist[-1][0] / hist[-2][0])
                est = hist[-1][1] * (n / hist[-1][0]) ** min(2.2, max(1.0, e))
            r, w = reps, warm
            if stop is None and peer == "yoso" and dev.type != "cuda":
                stop = "skipped: the YOSO kernels need CUDA"
            if stop is None and est > max_call:
                stop = f"stopped: estimated {est:.0f} ms per fwd+bwd call > --max-call-ms {max_call:.0f}"
            if stop is None and est > 0:
                r = min(reps, int((budget - spent) * 1e3 / (1.5 * est)) - w)
                if r < 3:
                    w, r = min(w, 1), min(3, reps)
                if 1.5 * est * (r + w) > (budget - spent) * 1e3:
                    stop = f"stopped: --peer-budget-s {budget:.0f} would be exceeded (estimated {est:.0f} ms per call)"
            if stop:
                print(json.dumps({**row, "skipped": stop}), flush=True)
                if stop.startswith("stopped: "):
                    stop = "stopped at a smaller n: " + stop[len("stopped: "):]
                n *= 2
                continue
            try:
                if dev.type == "cuda":
                    torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
                    before = torch.cuda.memory_allocated()
                check = n == a.min_n
                if peer.startswith("sdpa"):
                    case = sdpa_case(B, H, n, D, dev, torch.float32 if peer == "sdpa-fp32" else torch.bfloat16, check)
                elif peer.startswith("reformer"):
                    case = reformer_case(B, H, n, D, dev, peer == "reformer")
                else:
                    case = yoso_case(B, H, n, D, dev, yc[0], yc[1], check)
                fwd, g, leaves, params, extra = case

                def fb():
                    for t in leaves:
                        t.grad = None
                    fwd().backward(g)
                t0 = time.perf_counter()
                fwd_ms = timed(fwd, dev, w, r)
                fb_ms = timed(fb, dev, w, r)
                spent += time.perf_counter() - t0
                row.update(params=params, fwd_ms=fwd_ms, fwdbwd_ms=fb_ms, rel_err=extra.pop("rel_err", None), **extra,
                           reps=r, warmup=w)
                if dev.type == "cuda":
                    row["peak_bytes"] = torch.cuda.max_memory_allocated() - before
                    row["memory_method"] = "torch.cuda.max_memory_allocated() over the cell minus before it (inputs included)"
                else:
                    row["peak_bytes"] = None
                hist.append((n, fb_ms))
            except Exception as e:  # OOM, CUDA "invalid argument", a failed build: a line, then the next peer
                row["error"] = f"{type(e).__name__}: {str(e).strip()[:400]}"
                stop = f"stopped at a smaller n: failed at n={n}"
            finally:
                case = fwd = leaves = g = None
            print(json.dumps(row), flush=True)
            n *= 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
