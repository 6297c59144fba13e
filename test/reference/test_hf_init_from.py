#!/usr/bin/env python3
"""HF reference test of fine-tuning initialisation (`lshlab train --init-from`, Trainer::init_from).

What it is: a dev/test tool. transformers writes random-weight BERT folders with save_pretrained
(BertForSequenceClassification, and a bare BertModel whose names lack the "bert." prefix); for
each, `lshlab-native init-from --from SRC --task T --batch FILE --out DIR` builds an lshlab model
of task T with SRC's dimensions, loads SRC's encoder into it and writes the model it ended with
plus its logits on the batch. The test checks that
  - every encoder tensor (bert.embeddings/encoder/pooler) equals the source's bit for bit, the
    source's head is reported as ignored and the new head is lshlab's seed initialisation;
  - transformers, running the source's encoder with lshlab's new head, gives the same logits as
    the engine: ||a - b|| / ||b|| < 1e-4.
Run it through test/reference/run.sh. Its last output line is always `N passed, N failed`.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import traceback

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (BertConfig, BertForMaskedLM, BertForQuestionAnswering,
                          BertForSequenceClassification, BertModel)

REL_TOL = 1e-4
ARCH = {"mlm": BertForMaskedLM, "classification": BertForSequenceClassification, "qa": BertForQuestionAnswering}
HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")


class Case:
    def __init__(self, name, ok, detail="", extra=()):
        self.name, self.ok, self.detail, self.extra = name, bool(ok), detail, list(extra)


def rel_err(a, b):
    if tuple(a.shape) != tuple(b.shape):
        return math.inf
    a, b = a.detach().double(), b.detach().double()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    return float((a - b).norm()) / max(float(b.norm()), 1e-12)


def small_config(num_labels=3):
    return BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=40, type_vocab_size=2,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                      initializer_range=0.2, num_labels=num_labels)


def make_batch(seed, vocab, path):
    g = torch.Generator().manual_seed(seed)
    B, T = 3, 12
    lengths = [12, 9, 5]
    ids = torch.randint(1, vocab, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    types = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        types[b, n // 2:n] = 1
        ids[b, n:] = 0
        labels[b, 1:n:3] = ids[b, 1:n:3]  # a few labelled positions per row (mlm)
    batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "labels": labels}
    save_file({k: v.contiguous() for k, v in batch.items()}, path)
    return batch


def run_driver(driver, src, task, batch_path, out, num_labels, timeout):
    cmd = [driver, "init-from", "--from", src, "--task", task, "--batch", batch_path, "--out", out,
           "--num-labels", str(num_labels), "--seed", "11"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_case(label, driver, src, source_weights, task, batch, batch_path, work, num_labels, timeout):
    """Runs init-from of `src` into a `task` model; returns Cases (weights, report, logits)."""
    out = os.path.join(work, f"out-{label}")
    cases = []
    try:
        rep = run_driver(driver, src, task, batch_path, out, num_labels, timeout)
    except Exception as e:
        return [Case(f"{label}: init-from", False, f"{type(e).__name__}: {e}")]
    got = load_file(os.path.join(out, "model.safetensors"))

    # Encoder tensors equal the source's (names mapped: a bare BertModel gets the "bert." prefix).
    problems, compared = [], 0
    for raw, t in source_weights.items():
        name = raw if raw.startswith(("bert.",) + HEAD_PREFIXES) else "bert." + raw
        if name.startswith(HEAD_PREFIXES) or name.endswith("position_ids"):
            continue
        if name.startswith("bert.pooler.") and task != "classification":
            continue
        compared += 1
        if name not in got:
            problems.append(f"{name}: not in lshlab's model")
        elif not torch.equal(got[name], t.float()):
            problems.append(f"{name}: differs from the source (max abs diff {float((got[name] - t).abs().max()):.3g})")
    cases.append(Case(f"{label}: encoder tensors equal the source's", not problems and compared > 0,
                      f"{compared} tensors" if not problems else f"{len(problems)} problem(s)", problems[:10]))

    # The report: the source's head ignored, the target's head initialised from the seed.
    src_heads = sorted(n for n in source_weights if n.startswith(HEAD_PREFIXES))
    poolers = [n for n in source_weights if n.startswith(("bert.pooler.", "pooler."))]
    want_ignored = sorted(src_heads + (poolers if task != "classification" else []))
    tgt_heads = sorted(n for n in got if n.startswith(HEAD_PREFIXES))
    rep_ok = sorted(rep["ignored"]) == want_ignored and set(tgt_heads) <= set(rep["initialised"])
    cases.append(Case(f"{label}: report", rep_ok, f"ignored {len(rep['ignored'])}, initialised {len(rep['initialised'])}",
                      [f"note: {n}" for n in rep["notes"]] + ([] if rep_ok else [f"ignored {sorted(rep['ignored'])} != {want_ignored}"])))

    # transformers with the source's encoder and lshlab's head gives the engine's logits.
    try:
        model = ARCH[task].from_pretrained(src, attn_implementation="eager", dtype=torch.float32,
                                           num_labels=num_labels if task == "classification" else 2)
        model.eval()
        with torch.no_grad():
            for n in tgt_heads:
                model.get_parameter(n).copy_(got[n])
            if task == "classification" and not poolers:
                for n in ("bert.pooler.dense.weight", "bert.pooler.dense.bias"):
                    model.get_parameter(n).copy_(got[n])
            inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
            o = model(**inputs)
        engine = load_file(os.path.join(out, "logits.safetensors"))["logits"]
        if task == "mlm":
            hf = o.logits[batch["labels"] != -100]
        elif task == "qa":
            hf = torch.stack([o.start_logits, o.end_logits], dim=-1)
        else:
            hf = o.logits
        e = rel_err(engine, hf)
        cases.append(Case(f"{label}: logits match transformers", e < REL_TOL, f"rel err {e:.2e}, shape {tuple(engine.shape)}"))
    except Exception as e:
        cases.append(Case(f"{label}: logits match transformers", False, f"{type(e).__name__}: {e}"))
    return cases


def run(driver, work, report, timeout):
    torch.manual_seed(0)
    cfg = small_config()
    batch_path = os.path.join(work, "batch.safetensors")
    batch = make_batch(5, cfg.vocab_size, batch_path)

    # A fine-tuned classifier as transformers saves it (with pooler and head).
    cls_dir = os.path.join(work, "hf-classifier")
    BertForSequenceClassification(cfg).save_pretrained(cls_dir)
    cls_weights = load_file(os.path.join(cls_dir, "model.safetensors"))
    for c in check_case("classifier -> classification", driver, cls_dir, cls_weights, "classification", batch,
                        batch_path, work, 3, timeout):
        report(c)
    for c in check_case("classifier -> mlm", driver, cls_dir, cls_weights, "mlm", batch, batch_path, work, 2, timeout):
        report(c)

    # A bare BertModel: names without the "bert." prefix (model.bert.save_pretrained).
    bare_dir = os.path.join(work, "hf-bertmodel")
    BertModel(cfg).save_pretrained(bare_dir)
    bare_weights = load_file(os.path.join(bare_dir, "model.safetensors"))
    for c in check_case("bare BertModel -> qa", driver, bare_dir, bare_weights, "qa", batch, batch_path, work, 2, timeout):
        report(c)
    for c in check_case("bare BertModel -> classification", driver, bare_dir, bare_weights, "classification", batch,
                        batch_path, work, 4, timeout):
        report(c)


def find_driver(arg, root):
    for p in (arg, os.environ.get("LSHLAB_NATIVE"), os.path.join(root, "build", "Release", "lshlab-native"),
              os.path.join(root, "build-native", "lshlab-native")):
        if p and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError("lshlab-native not found: build it (node scripts/build-native.mjs) or pass --driver")


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", help="lshlab-native binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", metavar="DIR", help="write the folders under DIR and keep them")
    ap.add_argument("--timeout", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, tolerance {REL_TOL:g}")
    counts = [0, 0]

    def report(c):
        counts[0 if c.ok else 1] += 1
        print(f"{'PASS' if c.ok else 'FAIL'}  {c.name}" + (f": {c.detail}" if c.detail else ""))
        for x in c.extra:
            print(f"      {x}")
        sys.stdout.flush()

    work = args.keep or tempfile.mkdtemp(prefix="lshlab-ref-init-")
    os.makedirs(work, exist_ok=True)
    try:
        run(find_driver(args.driver, root), work, report, args.timeout)
    except Exception:
        traceback.print_exc(file=sys.stdout)
        report(Case("harness", False, "unexpected exception (traceback above)"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{counts[0]} passed, {counts[1]} failed")
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main())
