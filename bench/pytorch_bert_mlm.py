#!/usr/bin/env python3
"""PyTorch peer for `lshlab bench train`: BERT-tiny masked-LM training steps with Hugging Face
transformers on the CPU, reporting tokens/s as JSON on stdout.

The workload mirrors lshlab-native bench-train: BertForMaskedLM, vocab 30522, hidden 128, 2 layers,
2 heads, FFN 512, 512 positions, dropout 0.1 (train mode); batch 32 x seq 128 random tokens
([CLS] ... [SEP]), freshly masked every step (15% of the non-special positions; of those 80% [MASK],
10% a random token, 10% kept; labels -100 elsewhere); AdamW lr 1e-4. The first --warmup steps are
not timed; only the training step itself (forward, backward, optimizer) is, not batch creation.

What it is not: part of lshlab (a dev tool, run from the .venv-ref venv made by
scripts/setup-python.sh), a convergence test, or a GPU benchmark (it pins the CPU).
Two peers, because they do different work: --peer stock (default) runs BertForMaskedLM as users
do, the vocabulary decoder at every position; --peer equal-work applies the prediction head to the
masked positions only, which is what lshlab computes. Compare against both and say which.
Usage: .venv-ref/bin/python bench/pytorch_bert_mlm.py [--attn eager|sdpa] [--peer stock|equal-work] [--threads 2] ...
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the model is built from a config
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # a CPU benchmark even on a machine with a GPU

import argparse
import json
import platform
import sys
import time

import torch
import transformers
from transformers import BertConfig, BertForMaskedLM

# BERT uncased vocabulary's specials, as lshlab's bench uses them.
PAD, CLS, SEP, MASK = 0, 101, 102, 103
FIRST_WORD = 1000  # random tokens are drawn from [1000, vocab): no special or unused ids


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_batch(B, T, vocab, gen):
    ids = torch.randint(FIRST_WORD, vocab, (B, T), generator=gen)
    ids[:, 0], ids[:, -1] = CLS, SEP
    labels = torch.full((B, T), -100, dtype=torch.long)
    pick = torch.rand(B, T, generator=gen) < 0.15
    pick[:, 0] = pick[:, -1] = False  # never mask the specials
    labels[pick] = ids[pick]
    r = torch.rand(B, T, generator=gen)
    ids[pick & (r < 0.8)] = MASK
    rand_pos = pick & (r >= 0.8) & (r < 0.9)
    ids[rand_pos] = torch.randint(FIRST_WORD, vocab, (int(rand_pos.sum()),), generator=gen)
    return ids, torch.ones(B, T, dtype=torch.long), labels


def main():
    ap = argparse.ArgumentParser(description="PyTorch BERT-tiny MLM training throughput (CPU)")
    ap.add_argument("--attn", choices=["eager", "sdpa"], default="eager", help="HF attention implementation")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--peer", choices=["stock", "equal-work"], default="stock",
                    help="stock: HF's decoder at every position; equal-work: the prediction head at "
                         "masked positions only, as lshlab computes it")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.threads < 1 or args.seq < 2 or args.batch < 1:
        ap.error("need --steps >= 1, --warmup >= 0, --threads >= 1, --seq >= 2, --batch >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = BertConfig(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=512, max_position_embeddings=512, type_vocab_size=2,
                     hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                     attn_implementation=args.attn)
    model = BertForMaskedLM(cfg).float().train()
    # transformers falls back silently in some versions; a figure labelled sdpa must be sdpa.
    if model.config._attn_implementation != args.attn:
        sys.exit(f"error: asked for attn {args.attn}, model uses {model.config._attn_implementation}")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(args.seed)

    # On a shared 2-core machine another busy process halves the figure: record the load seen.
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    timed, best, loss = 0.0, float("inf"), float("nan")
    for step in range(args.warmup + args.steps):
        ids, mask, labels = make_batch(args.batch, args.seq, cfg.vocab_size, gen)
        t0 = time.perf_counter()
        if args.peer == "stock":
            step_loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        else:
            hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            sel = labels != -100
            step_loss = torch.nn.functional.cross_entropy(model.cls(hidden[sel]), labels[sel])
        step_loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        loss = float(step_loss.detach())
        if step >= args.warmup:
            timed += dt
            best = min(best, dt)

    tokens = args.batch * args.seq * args.steps
    print(json.dumps({
        "tokens_per_s": round(tokens / timed, 1),
        # The fastest single step: less sensitive to other processes than the mean on a busy machine.
        "best_step_tokens_per_s": round(args.batch * args.seq / best, 1),
        "steps": args.steps,
        "seconds": round(timed, 6),
        "threads": torch.get_num_threads(),
        "attn": model.config._attn_implementation,
        "peer": args.peer,
        "seq": args.seq,
        "batch": args.batch,
        "warmup": args.warmup,
        "final_loss": round(loss, 6),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "device": f"cpu: {cpu_model()}",
        "load_avg_1m_before": load_before,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
