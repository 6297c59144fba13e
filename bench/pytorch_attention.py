#!/usr/bin/env python3
"""PyTorch peers for `lshlab bench attention --scaling`: one attention layer's forward+backward time
(and peak memory growth) on the CPU at n = 1024, 4096, 16384, printed as JSON on stdout.

  sdpa      torch.nn.functional.scaled_dot_product_attention on Q, K, V of shape (1, 2, n, 64)
            (batch 1, 2 heads, head dim 64 as BERT-tiny), requires_grad, backward of a random
            cotangent; PyTorch picks its CPU kernel (flash-style for fp32 on recent versions).
  reformer  transformers' ReformerConfig defaults (num_hashes 1, lsh_attn_chunk_length 64,
            num_buckets None -> 2n/64 rounded to a power of 2, 1 chunk before, 0 after, not a
            decoder, dropout 0) except num_attention_heads=2, hidden_size=128 (so 2 heads x 64);
            LSHSelfAttention on hidden states (1, n, 128), including its query_key / value
            projections (the lshlab variant gets Q, K, V ready-made: a small difference).

Timing: --warmup untimed calls, then --iters timed (fewer at large n: --max-seconds per cell).
Memory: peak RSS growth over the timed calls (VmHWM after resetting it through
/proc/self/clear_refs, minus VmRSS before), the same method as lshlab's harness; null where the
reset is not allowed. A size that cannot run (memory, time) is reported with "skipped" and why.

What it is not: part of lshlab (a dev tool, run from .venv-ref made by scripts/setup-python.sh).
Usage: .venv-ref/bin/python bench/pytorch_attention.py [--threads 2] [--sizes 1024,4096,16384]
       [--peers sdpa,reformer] (--peers sdpa: the SDPA rows only)
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import argparse
import json
import platform
import sys
import time

import torch


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def status_bytes(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(step, iters, warmup, max_seconds):
    """Times step() (forward+backward); fewer iterations when one call is slow."""
    for _ in range(warmup):
        step()
    ok = reset_peak()
    rss0 = status_bytes("VmRSS")
    times = []
    t_start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > max_seconds:
            break
    hwm = status_bytes("VmHWM")
    peak = (hwm - rss0) if ok and hwm is not None and rss0 is not None else None
    return {"time_s_mean": sum(times) / len(times), "time_s_min": min(times), "iters": len(times),
            "peak_memory_bytes": peak}


def sdpa_case(n, gen):
    q, k, v = (torch.randn(1, 2, n, 64, generator=gen).requires_grad_() for _ in range(3))
    g = torch.randn(1, 2, n, 64, generator=gen)

    def step():
        for t in (q, k, v):
            t.grad = None
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        out.backward(g)
    return step


def reformer_case(n, gen):
    from transformers import ReformerConfig
    from transformers.models.reformer.modeling_reformer import LSHSelfAttention
    cfg = ReformerConfig(num_attention_heads=2, hidden_size=128, attention_head_size=64,
                         lsh_attention_probs_dropout_prob=0.0)
    layer = LSHSelfAttention(cfg).train()
    x = torch.randn(1, n, 128, generator=gen).requires_grad_()
    g = torch.randn(1, n, 128, generator=gen)

    def step():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        out = layer(x).hidden_states
        out.backward(g)
    return step, {k: getattr(cfg, k) for k in ("num_hashes", "lsh_attn_chunk_length", "num_buckets",
                                               "lsh_num_chunks_before", "lsh_num_chunks_after",
                                               "max_position_embeddings", "is_decoder")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="1024,4096,16384")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=30.0, help="timed work per cell")
    ap.add_argument("--max-memory-gb", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers", default="sdpa,reformer", help="comma list of sdpa, reformer")
    a = ap.parse_args()
    peers = [p for p in a.peers.split(",") if p]
    for p in peers:
        if p not in ("sdpa", "reformer"):
            ap.error(f"--peers: unknown peer '{p}' (sdpa, reformer)")
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = []
    reformer_cfg = None
    for n in [int(s) for s in a.sizes.split(",") if s]:
        for peer in peers:
            row = {"peer": peer, "seq": n, "backward": True}
            # sdpa's CPU kernel is blockwise (no n x n matrix); Reformer's chunks are linear in n.
            # Only a math fallback would need B*H*n^2 floats x 3: say so instead of trying.
            need = 1 * 2 * n * n * 4 * 3
            try:
                if peer == "sdpa":
                    step = sdpa_case(n, gen)
                else:
                    step, reformer_cfg = reformer_case(n, gen)
                warm = a.warmup if n <= 4096 else 0
                row.update(measure(step, a.iters, warm, a.max_seconds))
                row["status"] = "ok"
            except (RuntimeError, MemoryError) as e:
                row["status"] = "skipped"
                row["reason"] = f"{type(e).__name__}: {str(e)[:200]}"
                if need > a.max_memory_gb * 2**30:
                    row["reason"] += f" (a dense fallback needs {need / 2**30:.1f} GiB)"
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps({
        "rows": rows, "batch": 1, "heads": 2, "head_dim": 64, "threads": a.threads,
        "reformer_config": reformer_cfg, "torch_version": torch.__version__,
        "transformers_version": __import__("transformers").__version__,
        "device": "cpu: " + cpu_model(), "load_avg_1m_before": load,
        "memory_method": "peak RSS growth (VmHWM after clear_refs reset) over the timed calls",
    }, indent=2))


if __name__ == "__main__":
    main()
