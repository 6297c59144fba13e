#!/usr/bin/env python3
"""pytorch_reformer_attention.py: times transformers' LSHSelfAttention (Reformer LSH attention)
forward + backward on CPU, the baseline for lshlab's `reformer` variant. Prints one JSON object.

Setup (matches the engine benchmark): batch 1, 2 heads, head_dim 64 (hidden 128), float32,
chunk 64, num_hashes 1, num_buckets HF's auto rule, no dropout, torch threads 2. The module's
query_key/value projections (128x128, no bias) are included in HF's time (about 2% of the FLOPs at
these sizes); the engine's attention call starts from the projected qkv.
What it is not: a test. Usage: pytorch_reformer_attention.py [--seq 1024 4096] [--reps 20]
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers
from transformers import ReformerConfig
from transformers.models.reformer.modeling_reformer import LSHSelfAttention


def bench(n, heads, head_dim, num_hashes, chunk, reps, warmup):
    cfg = ReformerConfig(hidden_size=heads * head_dim, num_attention_heads=heads, attention_head_size=head_dim,
                         attn_layers=["lsh"], lsh_attn_chunk_length=chunk, num_hashes=num_hashes,
                         num_buckets=None, lsh_attention_probs_dropout_prob=0.0, max_position_embeddings=max(n, 4096))
    m = LSHSelfAttention(cfg).eval()
    x = torch.randn(1, n, heads * head_dim, requires_grad=True)
    g = torch.randn(1, n, heads * head_dim)
    times = []
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        out = m(x).hidden_states
        out.backward(g)
        t = time.perf_counter() - t0
        x.grad = None
        m.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(t)
    return {"n": n, "median_s": statistics.median(times), "min_s": min(times), "reps": reps,
            "num_buckets": m.num_buckets}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--num-hashes", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    transformers.utils.logging.set_verbosity_error()
    res = [bench(n, a.heads, a.head_dim, a.num_hashes, a.chunk, a.reps, a.warmup) for n in a.seq]
    print(json.dumps({"impl": "transformers.LSHSelfAttention", "torch": torch.__version__,
                      "transformers": transformers.__version__, "threads": a.threads, "batch": 1,
                      "heads": a.heads, "head_dim": a.head_dim, "num_hashes": a.num_hashes,
                      "chunk_length": a.chunk, "direction": "forward+backward", "results": res}))


if __name__ == "__main__":
    main()
