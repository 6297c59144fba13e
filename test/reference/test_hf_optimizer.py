#!/usr/bin/env python3
"""Reference test for lshlab's optimiser step against PyTorch and transformers.

What it is: a dev/test tool. `lshlab-native optimizer-trace --spec FILE` runs the engine's step
(train/adamw.h: the learning rate of the linear warmup/decay schedule at the completed-step count,
the global gradient norm, the clip coefficient, AdamW with decoupled weight decay) on the given
float32 parameters and per-step gradients, in Trainer::train_step's order. This script replays
the same steps with torch.optim.AdamW (per-group weight decay, foreach=False),
torch.nn.utils.clip_grad_norm_ and transformers' get_linear_schedule_with_warmup (stepped after
the optimiser, as HF's Trainer does), and compares every step: the learning rate used (1e-12
relative), the gradient norm (1e-6 relative) and every parameter (float32: 1e-6 relative per
tensor; the two AdamW implementations order their float operations differently, e.g. torch's
lerp for the first moment, so bit equality is not expected). `--layout TASK` lists BERT-tiny's
parameters with the engine's weight-decay flags: they must be HF's names (BertFor* of that task)
and decay exactly where transformers' Trainer.get_decay_parameter_names says.
Its last output line is always `N passed, N failed`; exit status 1 if anything failed.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import subprocess
import sys
import tempfile
import traceback

import torch

PARAM_TOL = 1e-6
NORM_TOL = 1e-6

# (name, optimiser settings, gradient scale per step: > 1 / sqrt(n) makes clipping act)
CASES = [
    ("AdamW, warmup 3 + linear decay to 0 at 10 (12 steps), clipping at 1.0",
     dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01, warmup_steps=3, total_steps=10,
          max_grad_norm=1.0), [0.05, 3.0, 0.2, 5.0, 0.01, 1.0, 0.3, 8.0, 0.05, 0.5, 2.0, 0.1]),
    ("AdamW, no warmup, constant lr (total_steps 0), no clipping, weight decay 0.1",
     dict(lr=5e-4, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.1, warmup_steps=0, total_steps=0,
          max_grad_norm=0.0), [1.0, 4.0, 0.02, 0.5, 9.0, 0.1]),
]
SHAPES = [("dense.weight", (7, 5), True), ("dense.bias", (5,), False), ("LayerNorm.weight", (5,), False)]


def rel(a, b):
    return float((a - b).norm() / max(float(b.norm()), 1e-30))


def run_case(driver, work, name, opt, scales, seed):
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(shape, generator=gen, dtype=torch.float32) for _, shape, _ in SHAPES]
    grads = [[torch.randn(shape, generator=gen, dtype=torch.float32) * s for _, shape, _ in SHAPES] for s in scales]
    spec = dict(opt, params=[dict(name=n, decay=d, data=t.flatten().tolist()) for (n, _, d), t in zip(SHAPES, init)],
                grads=[[g.flatten().tolist() for g in step] for step in grads])
    spec_path = os.path.join(work, "spec.json")
    out_path = os.path.join(work, "out.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    subprocess.run([driver, "optimizer-trace", "--spec", spec_path, "--out", out_path], check=True)
    with open(out_path) as f:
        ours = json.load(f)["steps"]

    params = [torch.nn.Parameter(t.clone()) for t in init]
    groups = [dict(params=[p for p, (_, _, d) in zip(params, SHAPES) if d], weight_decay=opt["weight_decay"]),
              dict(params=[p for p, (_, _, d) in zip(params, SHAPES) if not d], weight_decay=0.0)]
    adamw = torch.optim.AdamW(groups, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"], foreach=False)
    if opt["total_steps"] > 0:
        from transformers import get_linear_schedule_with_warmup
        sched = get_linear_schedule_with_warmup(adamw, opt["warmup_steps"], opt["total_steps"])
    else:  # constant after warmup (no warmup here)
        sched = torch.optim.lr_scheduler.LambdaLR(adamw, lambda s: 1.0)
    worst_p = worst_n = worst_lr = 0.0
    for s, step in enumerate(grads):
        lr = adamw.param_groups[0]["lr"]
        for p, g in zip(params, step):
            p.grad = g.clone()
        if opt["max_grad_norm"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, opt["max_grad_norm"]))
        else:
            norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in step)))
        adamw.step()
        sched.step()
        o = ours[s]
        worst_lr = max(worst_lr, abs(o["lr"] - lr) / max(abs(lr), 1e-30) if lr else abs(o["lr"]))
        worst_n = max(worst_n, abs(o["grad_norm"] - norm) / norm)
        for p, mine in zip(params, o["params"]):
            worst_p = max(worst_p, rel(torch.tensor(mine, dtype=torch.float32).reshape(p.shape), p.detach()))
    ok = worst_lr <= 1e-12 and worst_n <= NORM_TOL and worst_p <= PARAM_TOL
    return ok, f"{len(grads)} steps: lr {worst_lr:.1e}, grad norm {worst_n:.1e}, params {worst_p:.1e} (worst relative)"


def run_layout(driver, task):
    from transformers import BertConfig, BertForMaskedLM, BertForQuestionAnswering, BertForSequenceClassification, Trainer
    out = subprocess.run([driver, "optimizer-trace", "--layout", task], check=True, capture_output=True, text=True).stdout
    ours = {p["name"]: p["decay"] for p in json.loads(out)}
    cfg = BertConfig(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=512, num_labels=2)
    cls = {"mlm": BertForMaskedLM, "classification": BertForSequenceClassification, "qa": BertForQuestionAnswering}[task]
    model = cls(cfg)
    names = [n for n, _ in model.named_parameters()]
    decay = set(Trainer.get_decay_parameter_names(None, model))
    missing = sorted(set(names) - set(ours))
    extra = sorted(set(ours) - set(names))
    wrong = sorted(n for n in names if n in ours and ours[n] != (n in decay))
    ok = not missing and not extra and not wrong
    detail = f"{len(names)} parameters, {len(decay)} with decay"
    if not ok:
        detail += f"; missing {missing[:4]}, extra {extra[:4]}, wrong decay {wrong[:4]}"
    return ok, detail


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", default=os.path.join(root, "build/Release/lshlab-native"))
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    torch.set_num_threads(2)
    counts = [0, 0]
    print(f"torch {torch.__version__}; driver {args.driver}; float32, tolerance params {PARAM_TOL:g}, norm {NORM_TOL:g}")
    jobs = [(name, lambda w, o=opt, sc=scales, n=name: run_case(args.driver, w, n, o, sc, args.seed)) for name, opt, scales in CASES]
    jobs += [(f"weight-decay rule of BERT-tiny {t} vs transformers' Trainer", lambda w, t=t: run_layout(args.driver, t))
             for t in ("mlm", "classification", "qa")]
    with tempfile.TemporaryDirectory(prefix="lshlab-optim-") as work:
        for name, job in jobs:
            try:
                if not os.path.isfile(args.driver):
                    ok, detail = False, f"driver {args.driver} not found (build it or pass --driver)"
                else:
                    ok, detail = job(work)
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
