#!/usr/bin/env python3
"""HF reference test for lshlab's yoso-e and yoso attention variants.

What it is: a dev/test tool. For each case it runs `lshlab-native dump-attention --variant V
--param ...` (one float64 attention call: qkv, mask, dctx -> ctx, dqkv, and for yoso the
hyperplanes the call drew) and replays it in PyTorch (float64):

  yoso-e, backward=surrogate: transformers.models.yoso.modeling_yoso.YosoCumulation, fed our Q, K, V
      directly, wrapped exactly as YosoSelfAttention.forward wraps it with use_expectation=True
      (F.normalize on Q and K, YosoCumulation, F.normalize on the output; autograd through the
      normalisations). HF's YosoCumulation.backward is NOT the derivative: it is the v1 surrogate
      f'(x) ~ (tau/2) f(x); that is what backward=surrogate implements, so forward and backward must
      match HF. Masks: HF's self-attention turns its mask into ints with `1.0 + mask/10000.0`, which
      does not mask a raw 0/1 mask (notes B.11); we hand YosoCumulation the 0/1 mask directly.
      Nothing here needs HF's CUDA kernels (use_expectation=True never loads them).
  yoso-e, backward=exact: HF has no such path; the reference is plain autograd of v2's yoso_e,
      (1 - acos(0.98 x)/pi)^tau, in torch.
  yoso (LSH), both backwards: HF's LSH path needs CUDA kernels (and its CPU hashing() returns the key
      codes twice, notes B.11), so the reference is a torch transcription of v1: codes from the dumped
      hyperplanes, scatter_add cumulation, and the surrogate/exact LSH gradients written densely with
      the collision-count matrix (notes B.10 item 4).
  yoso-e + conv_window (YOSO-C): unpadded, HF's whole YosoSelfAttention (use_expectation=True,
      conv_window=w) with its query/key/value Linears replaced by column slices of our qkv and its
      conv weight set to the dumped one, so HF itself places the depthwise conv (on V * mask, added
      after the output normalisation). Padded: HF's self-attention cannot take a mask that both its
      conv (multiplies V by it) and its cumulation (`1.0 + mask/10000.0`, notes B.11) read right,
      so the padded case composes YosoCumulation with the 0/1 mask and HF's own conv module (the
      nn.Conv2d that YosoSelfAttention builds) on V * mask, as its forward does. The conv weight's
      gradient is compared too (dconv).
Metric: ||a - b|| / ||b|| < 1e-4 per tensor (ctx, dq, dk, dv); gradients use max(||b||, 1e-8 ||dctx||).
Its last output line is always `N passed, N failed`; exit status 1 if anything failed.
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
import torch.nn.functional as F
from safetensors.torch import load_file

REL_TOL = 1e-4
SCALE = 0.98  # v2's argument scale for the exact backward

# (name, variant, params, shape args)
CASES = [
    ("yoso-e surrogate tau=8 vs HF YosoCumulation", "yoso-e", {"tau": 8}, dict(batch=2, seq=16, heads=2, head_dim=8, padded=3)),
    ("yoso-e surrogate tau=9 T=7 D=5 vs HF", "yoso-e", {"tau": 9}, dict(batch=2, seq=7, heads=3, head_dim=5, padded=2)),
    ("yoso-e surrogate tau=8 T=1 vs HF", "yoso-e", {"tau": 8}, dict(batch=1, seq=1, heads=2, head_dim=4, padded=0)),
    ("yoso-e exact tau=8 vs autograd of v2 f(0.98x)", "yoso-e", {"tau": 8, "backward": "exact"}, dict(batch=2, seq=16, heads=2, head_dim=8, padded=3)),
    ("yoso surrogate tau=4 m=16 vs torch v1 LSH", "yoso", {"tau": 4, "num_hash": 16}, dict(batch=2, seq=33, heads=2, head_dim=5, padded=4)),
    ("yoso exact tau=3 m=8 vs torch LSH", "yoso", {"tau": 3, "num_hash": 8, "backward": "exact"}, dict(batch=2, seq=20, heads=2, head_dim=8, padded=2)),
    ("yoso-e conv_window=3 vs HF YosoSelfAttention", "yoso-e", {"tau": 8, "conv_window": 3}, dict(batch=2, seq=16, heads=2, head_dim=8, padded=0)),
    ("yoso-e conv_window=5 padded vs HF YosoCumulation + HF conv", "yoso-e", {"tau": 9, "conv_window": 5}, dict(batch=2, seq=11, heads=3, head_dim=4, padded=3)),
]


def rel_err(a, b, floor=1e-12):
    a, b = a.double(), b.double()
    if a.shape != b.shape or not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    return float((a - b).norm()) / max(float(b.norm()), floor)


def split_heads(qkv, B, T, H, D):
    """(B,T,3C) -> q, k, v each (B*H, T, D)."""
    x = qkv.view(B, T, 3, H, D).permute(2, 0, 3, 1, 4).reshape(3, B * H, T, D)
    return x[0], x[1], x[2]


def merge(x, B, T, H, D):
    """(B*H, T, D) -> (B, T, H*D)."""
    return x.view(B, H, T, D).permute(0, 2, 1, 3).reshape(B, T, H * D)


def kernel(x, tau, s=1.0):
    return (1 - torch.acos(s * x.clamp(-1, 1)) / math.pi) ** tau


def yoso_e_hf(q, k, v, mask, tau):
    from transformers.models.yoso.modeling_yoso import YosoCumulation
    q, k = F.normalize(q, p=2, dim=-1), F.normalize(k, p=2, dim=-1)  # as YosoSelfAttention.forward
    x = YosoCumulation.apply(mask, mask, q, k, v, {"hash_code_len": tau})
    return F.normalize(x, p=2, dim=-1)


def yoso_e_exact(q, k, v, mask, tau):
    q, k = F.normalize(q, p=2, dim=-1), F.normalize(k, p=2, dim=-1)
    e = kernel(q @ k.transpose(-1, -2), tau, SCALE) * mask[:, :, None] * mask[:, None, :]
    return F.normalize(e @ v, p=2, dim=-1)


def codes(x, planes, m, tau):
    """x (BH,T,D), planes (BH,m,tau,D) -> int codes (BH,T,m): sum_t [x.r_t > 0] 2^t."""
    bits = (torch.einsum("btd,bmkd->btmk", x, planes) > 0).long()
    return (bits * (2 ** torch.arange(tau))).sum(-1)


def cumulate(qc, kc, qm, km, val, tau):
    """(1/m) sum_h Table_h[qc]; Table_h = scatter_add of masked val by kc (notes B.5 reference)."""
    BH, T, m = qc.shape
    D = val.shape[-1]
    tables = torch.zeros(BH, m, 2 ** tau, D, dtype=val.dtype)
    tables.scatter_add_(2, kc.transpose(1, 2)[..., None].expand(-1, -1, -1, D),
                        (val * km[..., None])[:, None].expand(-1, m, -1, -1).contiguous())
    out = tables.gather(2, qc.transpose(1, 2)[..., None].expand(-1, -1, -1, D)).mean(1)
    return out * qm[..., None]


class LSHCumulation(torch.autograd.Function):
    """v1 YosoLSHCumulation in torch: forward = cumulation; backward = dV by the swapped cumulation,
    dQ/dK by the collision-count matrix Chat = (1/m) sum_h [qc_h = kc_h] with weight tau/2
    (surrogate) or s f'(s x) / f(x) (exact importance weight)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, qc, kc, tau, exact):
        ctx.save_for_backward(q, k, v, mask, qc, kc)
        ctx.tau, ctx.exact = tau, exact
        return cumulate(qc, kc, mask, mask, v, tau)

    @staticmethod
    def backward(ctx, g):
        q, k, v, mask, qc, kc = ctx.saved_tensors
        tau = ctx.tau
        g = g * mask[..., None]
        dv = cumulate(kc, qc, mask, mask, g, tau)
        chat = (qc[:, :, None, :] == kc[:, None, :, :]).double().mean(-1)
        chat = chat * mask[:, :, None] * mask[:, None, :]
        if ctx.exact:
            x = (q @ k.transpose(-1, -2)).clamp(-1, 1)
            sx = SCALE * x
            fp = SCALE * tau * (1 - torch.acos(sx) / math.pi) ** (tau - 1) / (math.pi * torch.sqrt(1 - sx * sx))
            w = chat * fp / kernel(x, tau).clamp_min(1e-300)
        else:
            w = chat * (tau / 2)
        wexp = (g @ v.transpose(-1, -2)) * w
        return wexp @ k, wexp.transpose(-1, -2) @ q, dv, None, None, None, None, None


def yoso_lsh(q, k, v, mask, planes, tau, m, exact):
    qn, kn = F.normalize(q, p=2, dim=-1), F.normalize(k, p=2, dim=-1)
    qc, kc = codes(qn.detach(), planes, m, tau), codes(kn.detach(), planes, m, tau)
    x = LSHCumulation.apply(qn, kn, v, mask, qc, kc, tau, exact)
    return F.normalize(x, p=2, dim=-1)


def hf_self_attention(B, T, H, D, tau, w, weight):
    """HF's YosoSelfAttention (expectation, conv_window=w) reading Q, K, V as column slices of qkv."""
    from transformers import YosoConfig
    from transformers.models.yoso.modeling_yoso import YosoSelfAttention
    C = H * D

    class Cols(torch.nn.Module):
        def __init__(self, i):
            super().__init__()
            self.i = i

        def forward(self, x):
            return x[..., self.i * C:(self.i + 1) * C]

    cfg = YosoConfig(hidden_size=C, num_attention_heads=H, hash_code_len=tau, use_expectation=True,
                     conv_window=w)
    att = YosoSelfAttention(cfg).double()
    att.query, att.key, att.value = Cols(0), Cols(1), Cols(2)
    with torch.no_grad():
        att.conv.weight.copy_(weight)
    return att


def run_conv_case(t, params, shape):
    """yoso-e + conv_window against HF (see the module docstring)."""
    B, T, H, D = shape["batch"], shape["seq"], shape["heads"], shape["head_dim"]
    tau, w = int(params["tau"]), int(params["conv_window"])
    qkv = t["qkv"].clone().requires_grad_(True)
    att = hf_self_attention(B, T, H, D, tau, w, t["param.attention.self.conv.weight"])
    if shape["padded"] == 0:
        ctx = att(qkv, attention_mask=torch.ones(B, T, dtype=torch.float64))[0]
    else:
        m01 = t["mask"].double()
        q, k, v = split_heads(qkv, B, T, H, D)
        mask = m01[:, None, :].expand(B, H, T).reshape(B * H, T)
        x = yoso_e_hf(q, k, v, mask, tau).view(B, H, T, D)
        x = x + att.conv(v.view(B, H, T, D) * m01[:, None, :, None])  # as YosoSelfAttention.forward
        ctx = x.permute(0, 2, 1, 3).reshape(B, T, H * D)
    ctx.backward(t["dctx"])
    return qkv, ctx, att.conv.weight.grad


def run_case(driver, work, name, variant, params, shape, seed):
    out = os.path.join(work, f"{variant}-{abs(hash(name))}.safetensors")
    cmd = [driver, "dump-attention", "--variant", variant, "--out", out, "--seed", str(seed),
           "--batch", str(shape["batch"]), "--seq", str(shape["seq"]), "--heads", str(shape["heads"]),
           "--head-dim", str(shape["head_dim"]), "--padded", str(shape["padded"])]
    for kk, vv in params.items():
        cmd += ["--param", f"{kk}={vv}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return False, f"dump-attention exit {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
    t = load_file(out)
    B, T, H, D = shape["batch"], shape["seq"], shape["heads"], shape["head_dim"]
    fl = 1e-8 * float(t["dctx"].norm())
    if "conv_window" in params:
        qkv, ctx, dconv = run_conv_case(t, params, shape)
        dq, dk, dv = split_heads(qkv.grad, B, T, H, D)
        eq, ek, ev = split_heads(t["dqkv"], B, T, H, D)
        errs = {"ctx": rel_err(t["ctx"], ctx.detach()), "dq": rel_err(eq, dq, fl), "dk": rel_err(ek, dk, fl),
                "dv": rel_err(ev, dv, fl), "dconv": rel_err(t["grad.attention.self.conv.weight"], dconv, fl)}
        ok = all(e < REL_TOL for e in errs.values())
        return ok, " ".join(f"{kk} {e:.2e}" for kk, e in errs.items())
    qkv = t["qkv"].clone().requires_grad_(True)
    mask = t["mask"].double()[:, None, :].expand(B, H, T).reshape(B * H, T)
    q, k, v = split_heads(qkv, B, T, H, D)
    tau = int(params["tau"])
    exact = params.get("backward") == "exact"
    if variant == "yoso-e":
        x = yoso_e_exact(q, k, v, mask, tau) if exact else yoso_e_hf(q, k, v, mask, tau)
    else:
        m = int(params["num_hash"])
        planes = t["state.hyperplanes"].view(B * H, m, tau, D)
        x = yoso_lsh(q, k, v, mask, planes, tau, m, exact)
    ctx = merge(x, B, T, H, D)
    ctx.backward(t["dctx"])
    dq, dk, dv = split_heads(qkv.grad, B, T, H, D)
    eq, ek, ev = split_heads(t["dqkv"], B, T, H, D)
    # Gradient floor: with T=1 the output v/|v| does not depend on q, k, so dq = dk = 0 exactly and
    # both sides hold only rounding noise (~1e-17); errors are taken relative to at least
    # 1e-8 x |dctx| so that noise is not compared with itself.
    fl = 1e-8 * float(t["dctx"].norm())
    errs = {"ctx": rel_err(t["ctx"], ctx.detach()), "dq": rel_err(eq, dq, fl), "dk": rel_err(ek, dk, fl),
            "dv": rel_err(ev, dv, fl)}
    ok = all(e < REL_TOL for e in errs.values())
    return ok, " ".join(f"{kk} {e:.2e}" for kk, e in errs.items())


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", default=os.path.join(root, "build/Release/lshlab-native"))
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(2)
    counts = [0, 0]
    print(f"torch {torch.__version__}; driver {args.driver}; tolerance {REL_TOL:g} (float64); HF YosoCumulation "
          f"backward = the v1 surrogate (tau/2) f, not autograd")
    with tempfile.TemporaryDirectory(prefix="lshlab-yoso-") as work:
        for name, variant, params, shape in CASES:
            try:
                if not os.path.isfile(args.driver):
                    ok, detail = False, f"driver {args.driver} not found (build it or pass --driver)"
                else:
                    ok, detail = run_case(args.driver, work, name, variant, params, shape, args.seed)
            except Exception:
                traceback.print_exc(file=sys.stdout)
                ok, detail = False, "exception (traceback above)"
            counts[0 if ok else 1] += 1
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
            sys.stdout.flush()
    print(f"{counts[0]} passed, {counts[1]} failed")
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main())
