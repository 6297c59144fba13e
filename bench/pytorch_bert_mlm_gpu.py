#!/usr/bin/env python3
"""PyTorch peer for `lshlab-native bench-train --device cuda`: BERT masked-LM training steps with
Hugging Face transformers on a GPU, one JSON line per configuration on stdout.

The workload mirrors lshlab's bench-train: BertForMaskedLM (BERT-tiny, or BERT-base with
--model base), vocab 30522, dropout 0.1 in train mode, random tokens ([CLS] ... [SEP]) freshly
masked every step (15% of the non-special positions; 80% [MASK], 10% random, 10% kept), AdamW
(fused where available) lr 1e-4, global-norm clipping at 1.0, a linear schedule. Timed: the step
(forward, backward, clip, optimizer), with CUDA events after --warmup untimed steps; batches are
made on the device beforehand, not timed.

Two peers, because they do different work (say which in every comparison):
  stock       BertForMaskedLM as users run it: the vocabulary decoder at EVERY position;
  equal-work  the same model with the decoder applied to the masked positions only, which is what
              lshlab computes (about 4x fewer decoder FLOPs at BERT-tiny size).
Precisions: fp32 (TF32 off), tf32 (TF32 matmuls), bf16 (autocast, fp32 master weights and
optimizer state); --compile wraps the model in torch.compile.

Usage (on the GPU machine, from the repository root):
  python3 bench/pytorch_bert_mlm_gpu.py --batch 64 --seq 128 --peer stock,equal-work --precision fp32
Not part of lshlab: a peer to measure (bench/gpu-check.sh runs it).
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import BertConfig, BertForMaskedLM

PAD, CLS, SEP, MASK = 0, 101, 102, 103
FIRST_WORD = 1000


def model_config(name):
    if name == "base":
        return BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                          num_attention_heads=12, intermediate_size=3072)
    return BertConfig(vocab_size=30522, hidden_size=128, num_hidden_layers=2,
                      num_attention_heads=2, intermediate_size=512)


def make_batches(n, batch, seq, vocab, device, gen):
    out = []
    for _ in range(n):
        ids = torch.randint(FIRST_WORD, vocab, (batch, seq), generator=gen, device=device)
        ids[:, 0], ids[:, -1] = CLS, SEP
        chosen = torch.rand(batch, seq, generator=gen, device=device) < 0.15
        chosen[:, 0] = chosen[:, -1] = False
        labels = torch.where(chosen, ids, torch.full_like(ids, -100))
        r = torch.rand(batch, seq, generator=gen, device=device)
        rand_ids = torch.randint(FIRST_WORD, vocab, (batch, seq), generator=gen, device=device)
        ids = torch.where(chosen & (r < 0.8), torch.full_like(ids, MASK), ids)
        ids = torch.where(chosen & (r >= 0.8) & (r < 0.9), rand_ids, ids)
        out.append((ids, labels))
    return out


def loss_of(model, peer, ids, labels):
    if peer == "stock":
        return model(input_ids=ids, labels=labels).loss
    # equal work: encoder everywhere, prediction head (transform + decoder) at masked rows only
    hidden = model.bert(input_ids=ids).last_hidden_state
    sel = labels != -100
    logits = model.cls(hidden[sel])
    return F.cross_entropy(logits.float(), labels[sel])


def run(args, peer, precision):
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.manual_seed(args.seed)
    cfg = model_config(args.model)
    model = BertForMaskedLM(cfg).to(device).train()
    fused = device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=fused)
    total = args.warmup + args.steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / max(1, total)))
    step_fn = lambda ids, labels: loss_of(model, peer, ids, labels)
    if args.compile:
        step_fn = torch.compile(step_fn)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    batches = make_batches(total, args.batch, args.seq, cfg.vocab_size, device, gen)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def one(ids, labels):
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = step_fn(ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        return loss

    for ids, labels in batches[: args.warmup]:
        one(ids, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    t0 = time.perf_counter()
    for ids, labels in batches[args.warmup:]:
        loss = one(ids, labels)
    if device.type == "cuda":
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1e3
        peak = torch.cuda.max_memory_allocated()
        name = torch.cuda.get_device_name(device)
    else:
        seconds = time.perf_counter() - t0
        peak, name = 0, "cpu"
    return {
        "bench": "pytorch_bert_mlm", "peer": peer, "precision": precision,
        "compile": bool(args.compile), "model": args.model, "batch": args.batch, "seq": args.seq,
        "steps": args.steps, "seconds": seconds, "samples_per_s": args.batch * args.steps / seconds,
        "tokens_per_s": args.batch * args.seq * args.steps / seconds,
        "step_ms": 1e3 * seconds / args.steps, "final_loss": float(loss.detach()), "peak_memory_bytes": peak,
        "device": name, "torch": torch.__version__, "transformers": transformers.__version__,
        "reproduce": "python3 bench/pytorch_bert_mlm_gpu.py " + " ".join(sys.argv[1:]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["tiny", "base"], default="tiny")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--peer", default="stock,equal-work", help="stock, equal-work, or both (comma)")
    ap.add_argument("--precision", default="fp32", help="fp32, tf32, bf16 (comma for several)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the step's model call")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"bench": "pytorch_bert_mlm", "skipped": "torch sees no CUDA device"}))
        return 0
    for peer in args.peer.split(","):
        for precision in args.precision.split(","):
            try:
                print(json.dumps(run(args, peer, precision)), flush=True)
            except Exception as e:  # one failed configuration must not hide the others
                print(json.dumps({"bench": "pytorch_bert_mlm", "peer": peer, "precision": precision,
                                  "batch": args.batch, "seq": args.seq, "error": str(e)[:500]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
