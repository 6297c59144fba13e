#!/usr/bin/env python3
"""HF reference test for the `reformer` attention variant (native/engine/attention/reformer.h).

What it is: a dev/test tool. For each case it runs
`lshlab-native dump-attention --variant reformer --out FILE --param ...` (float64 inputs, one
attention call forward + backward, eval mode) and replays the same call with transformers'
LSHSelfAttention in float64:
  * shared QK: the engine uses the Q slice as HF's query_key output and ignores K. HF's module is
    built with hidden_size = 2C and block weights query_key = [I 0], value = [0 I], fed
    hidden = [Q | V], so d hidden = [dQ | dV].
  * rotations: HF draws them with torch.randn inside _hash_vectors; torch.randn is swapped for
    one call to return the engine's state.rotations (per batch row: the engine draws per (b, h),
    HF shares one draw over the batch, so HF runs one batch row at a time).
Compared: ctx, dQ, dV with ||a-b|| / ||b|| < 1e-4, and the K slice of dqkv must be exactly 0.
One negative control checks that perturbed rotations do change HF's output (the injection is live).

What it is not: a test of HF, or of the BERT model. Last line: `N passed, N failed`; exit 1 on
any failure. Usage: test_hf_reformer.py [--driver PATH] (default build/Release/lshlab-native).
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import math
import subprocess
import sys
import tempfile
import traceback

import torch
import transformers
from safetensors.torch import load_file
from transformers import ReformerConfig
from transformers.models.reformer.modeling_reformer import LSHSelfAttention

REL_TOL = 1e-4

# (name, dump-attention args, params)
CASES = [
    ("default-params n=128", ["--seq", "128", "--heads", "2", "--head-dim", "16"], {}),
    ("hashes=2 buckets=8 chunk=32", ["--seq", "128", "--heads", "2", "--head-dim", "16"],
     {"num_hashes": "2", "num_buckets": "8", "chunk_length": "32"}),
    ("hashes=4 chunk=16 padded=37", ["--seq", "128", "--heads", "2", "--head-dim", "16", "--padded", "37"],
     {"num_hashes": "4", "chunk_length": "16"}),
    ("before=1 after=1 hashes=3 chunk=32", ["--seq", "96", "--heads", "3", "--head-dim", "8"],
     {"num_hashes": "3", "chunk_length": "32", "num_chunks_after": "1", "num_buckets": "6"}),
    ("window wraps onto itself (before=2 after=1, 2 chunks)", ["--seq", "128", "--heads", "2", "--head-dim", "16"],
     {"chunk_length": "64", "num_chunks_before": "2", "num_chunks_after": "1"}),
    ("short n=48 <= chunk (full attention) padded=5", ["--seq", "48", "--heads", "2", "--head-dim", "16", "--padded", "5"],
     {"num_hashes": "2"}),
    ("odd head_dim=7 hashes=2 chunk=8", ["--seq", "64", "--heads", "2", "--head-dim", "7", "--padded", "3"],
     {"num_hashes": "2", "chunk_length": "8", "num_buckets": "4"}),
]


def rel_err(a, b):
    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape or not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    return float((a - b).norm()) / max(float(b.norm()), 1e-300)


class InjectRandn:
    """Within the block, torch.randn(shape, ...) returns `value` (shape checked) exactly once."""

    def __init__(self, value):
        self.value, self.used, self.orig = value, 0, None

    def __enter__(self):
        self.orig = torch.randn

        def fake(*shape, **kw):
            shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else shape
            if tuple(shape) != tuple(self.value.shape):
                raise AssertionError(f"HF asked for rotations {tuple(shape)}, engine has {tuple(self.value.shape)}")
            self.used += 1
            return self.value.to(kw.get("dtype") or torch.float64).clone()

        torch.randn = fake
        return self

    def __exit__(self, *exc):
        torch.randn = self.orig


def hf_module(H, D, params, nb):
    cfg = ReformerConfig(
        hidden_size=2 * H * D, num_attention_heads=H, attention_head_size=D, attn_layers=["lsh"],
        lsh_attn_chunk_length=int(params.get("chunk_length", 64)), num_hashes=int(params.get("num_hashes", 1)),
        num_buckets=nb if nb > 0 else None, lsh_num_chunks_before=int(params.get("num_chunks_before", 1)),
        lsh_num_chunks_after=int(params.get("num_chunks_after", 0)), lsh_attention_probs_dropout_prob=0.0,
        is_decoder=False, hash_seed=None)
    m = LSHSelfAttention(cfg).double().eval()
    C = H * D
    eye = torch.eye(C, dtype=torch.float64)
    zero = torch.zeros(C, C, dtype=torch.float64)
    with torch.no_grad():
        m.query_key.weight.copy_(torch.cat([eye, zero], 1))  # (C, 2C): picks Q
        m.value.weight.copy_(torch.cat([zero, eye], 1))      # picks V
    return m


def hf_replay(d, params, rot_override=None):
    """HF's ctx (B,T,C) and d hidden split into dQ, dV, one batch row at a time."""
    B, T, H, D = (int(d["meta"][k]) for k in ("B", "T", "H", "D"))
    C = H * D
    qkv, mask, dctx = d["qkv"], d["mask"], d["dctx"]
    nb = int(d["state.num_buckets"][0])
    standard = bool(d["state.standard"][0])
    R = int(params.get("num_hashes", 1))
    rot = d["state.rotations"] if rot_override is None else rot_override
    ctx, dq, dv = torch.zeros(B, T, C, dtype=torch.float64), torch.zeros(B, T, C, dtype=torch.float64), torch.zeros(B, T, C, dtype=torch.float64)
    for b in range(B):
        m = hf_module(H, D, params, nb)
        hidden = torch.cat([qkv[b:b + 1, :, :C], qkv[b:b + 1, :, 2 * C:]], -1).clone().requires_grad_(True)
        am = mask[b:b + 1].long()
        if standard:
            out = m(hidden, attention_mask=am).hidden_states
        else:
            r = rot.view(B, H, D, R, nb // 2)[b]
            with InjectRandn(r) as inj:
                out = m(hidden, attention_mask=am).hidden_states
            if inj.used != 1:
                raise AssertionError(f"HF drew rotations {inj.used} times, expected 1")
        out.backward(dctx[b:b + 1])
        ctx[b], dq[b], dv[b] = out[0].detach(), hidden.grad[0, :, :C], hidden.grad[0, :, C:]
    return ctx, dq, dv


def run_case(driver, work, name, args, params, report):
    out = os.path.join(work, "dump.safetensors")
    cmd = [driver, "dump-attention", "--variant", "reformer", "--out", out] + args
    for k, v in params.items():
        cmd += ["--param", f"{k}={v}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        report(name, False, f"dump-attention exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}")
        return None
    d = load_file(out)
    with open(out, "rb") as f:  # metadata (B, T, H, D) from the safetensors header
        import json, struct
        n = struct.unpack("<Q", f.read(8))[0]
        d["meta"] = json.loads(f.read(n))["__metadata__"]
    C = int(d["meta"]["H"]) * int(d["meta"]["D"])
    ctx, dq, dv = hf_replay(d, params)
    dqkv = d["dqkv"]
    errs = {"ctx": rel_err(d["ctx"], ctx), "dQ": rel_err(dqkv[..., :C], dq), "dV": rel_err(dqkv[..., 2 * C:], dv)}
    kzero = bool((dqkv[..., C:2 * C] == 0).all())
    ok = all(e < REL_TOL for e in errs.values()) and kzero
    mode = "standard" if d["state.standard"][0] else f"nb={int(d['state.num_buckets'][0])}"
    report(name, ok, f"{mode}; " + ", ".join(f"{k} rel err {v:.2e}" for k, v in errs.items()) +
           f"; dK slice zero: {kzero}")
    return d


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", default=os.environ.get("LSHLAB_NATIVE", os.path.join(root, "build", "Release", "lshlab-native")))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, tolerance {REL_TOL:g}")
    counts = [0, 0]

    def report(name, ok, detail):
        counts[0 if ok else 1] += 1
        print(f"{'PASS' if ok else 'FAIL'}  reformer: {name}: {detail}")
        sys.stdout.flush()

    try:
        if not (os.path.isfile(args.driver) and os.access(args.driver, os.X_OK)):
            report("driver", False, f"{args.driver} not found or not executable (pass --driver PATH)")
        else:
            with tempfile.TemporaryDirectory(prefix="lshlab-reformer-") as work:
                last = None
                for name, a, p in CASES:
                    try:
                        d = run_case(args.driver, work, name, a, p, report)
                        if name.startswith("hashes=2 buckets=8") and d is not None:
                            last = (d, p)
                    except Exception as e:
                        traceback.print_exc(file=sys.stdout)
                        report(name, False, f"{type(e).__name__}: {e}")
                if last is not None:  # negative control: other rotations must give another output
                    d, p = last
                    ctx, _, _ = hf_replay(d, p, rot_override=d["state.rotations"].flip(0))
                    e = rel_err(d["ctx"], ctx)
                    report("control: flipped rotations change HF's output", e > 1e-2, f"ctx rel err {e:.2e}")
    except Exception as e:
        traceback.print_exc(file=sys.stdout)
        report("harness", False, f"{type(e).__name__}: {e}")
    print(f"{counts[0]} passed, {counts[1]} failed")
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main())
