#!/usr/bin/env python3
"""HF reference test: checks lshlab's BERT forward/backward against Hugging Face transformers.

What it is: a dev/test tool. For each task (mlm, classification, qa) it runs
`lshlab-native dump-reference --task T --out DIR`, loads DIR/config.json + DIR/model.safetensors
with transformers (<Arch>.from_pretrained, eager attention, float32, eval mode), feeds
DIR/batch.safetensors, runs forward + backward, and compares the loss, the logits and every
parameter gradient with DIR/expected.safetensors (what the engine computed). Metric per tensor:
||a - b||_2 / max(||b||_2, 1e-12) < 1e-4 (gradients get one documented floor, see grad_floor).

--self-test proves the harness itself can pass and fail without the engine: it writes dumps in
exactly the engine's layout from tiny random HF models (expected values computed by HF in float64),
checks that they pass, and checks that mutated copies fail.

What it is not: part of lshlab at run time (lshlab never needs Python), a performance test, or a
test of HF itself. Run it through test/reference/run.sh, which sets up the venv.
Its last output line is always `N passed, N failed`; exit status 1 if anything failed.
"""
import os

# Everything here is local; never let transformers try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import copy
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (BertConfig, BertForMaskedLM, BertForQuestionAnswering,
                          BertForSequenceClassification)

TASKS = ("mlm", "classification", "qa")
ARCH = {
    "mlm": BertForMaskedLM,
    "classification": BertForSequenceClassification,
    "qa": BertForQuestionAnswering,
}
LOGIT_NAMES = {"mlm": ["logits"], "classification": ["logits"], "qa": ["start_logits", "end_logits"]}
# HF parameters that are tied to another one and so are absent from model.safetensors (as
# save_pretrained writes it); their gradient lands in the tensor they are tied to.
TIED = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}
REL_TOL = 1e-4
# Some gradients are mathematically zero, so both sides hold only float32 rounding noise: the
# attention key bias (softmax ignores adding the same q.b_k to every score of a query), and for qa
# qa_outputs.bias and the last LayerNorm bias (a shift shared by all positions). A relative error
# of two noises is meaningless, so a gradient error is divided by at least
# GRAD_FLOOR x (global norm of all expected gradients). Seen in the self-test: that noise is about
# 3e-9 x the global norm, so a floor of 1e-3 leaves a 30x margin at the 1e-4 tolerance. Tensors
# judged against the floor are marked "(floor)"; every other tensor gets the plain metric.
GRAD_FLOOR = 1e-3


class Case:
    """One reported line: name, pass/fail, a short detail and optional indented extra lines."""

    def __init__(self, name, ok, detail="", extra=()):
        self.name, self.ok, self.detail, self.extra = name, bool(ok), detail, list(extra)


def rel_err(a, b, floor=0.0):
    """||a-b|| / max(||b||, 1e-12, floor), in float64; inf for a shape mismatch or non-finite value."""
    if tuple(a.shape) != tuple(b.shape):
        return math.inf
    a, b = a.detach().double(), b.detach().double()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    return float((a - b).norm()) / max(float(b.norm()), 1e-12, floor)


def fmt_err(e):
    return "inf" if math.isinf(e) else f"{e:.2e}"


def read_dump(d):
    files = {}
    for name in ("config.json", "model.safetensors", "batch.safetensors", "expected.safetensors"):
        p = os.path.join(d, name)
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{name} missing from the dump directory {d}")
    with open(os.path.join(d, "config.json")) as f:
        files["config"] = json.load(f)
    files["weights"] = load_file(os.path.join(d, "model.safetensors"))
    files["batch"] = load_file(os.path.join(d, "batch.safetensors"))
    files["expected"] = load_file(os.path.join(d, "expected.safetensors"))
    return files


def model_inputs(task, batch):
    need = ["input_ids", "token_type_ids", "attention_mask"]
    need += {"mlm": ["labels"], "classification": ["labels"], "qa": ["start_positions", "end_positions"]}[task]
    missing = [k for k in need if k not in batch]
    if missing:
        raise KeyError(f"batch.safetensors lacks {missing} (has {sorted(batch)})")
    return {k: batch[k].long() for k in need}


def compare_dump(d, task, label, verbose=True):
    """Compare one dump directory with HF. Returns a list of Case (load, loss, logits, grads)."""
    cases = []
    names = {k: f"{label}: {k}" for k in ("load", "loss", "logits", "grads")}

    # ---- load -------------------------------------------------------------------------------------
    try:
        dump = read_dump(d)
        arch = ARCH[task]
        problems, notes = [], []
        archs = dump["config"].get("architectures") or []
        if archs != [arch.__name__]:
            problems.append(f"config architectures {archs} != ['{arch.__name__}']")
        model, info = arch.from_pretrained(d, attn_implementation="eager", dtype=torch.float32,
                                           output_loading_info=True)
        model.eval()  # dropout off whatever the config says
        for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
            if info.get(key):
                problems.append(f"{key}: {sorted(map(str, info[key]))}")
        # Loading info alone can miss a silently re-initialised tensor, so compare every stored
        # tensor with what the model holds, and require every HF parameter to come from the file.
        weights = dump["weights"]
        for name, t in weights.items():
            try:
                p = model.get_parameter(name)
            except AttributeError:
                problems.append(f"{name}: no such HF parameter")
                continue
            if tuple(p.shape) != tuple(t.shape):
                problems.append(f"{name}: shape {tuple(t.shape)} != HF {tuple(p.shape)}")
            elif t.dtype != torch.float32:
                problems.append(f"{name}: dtype {t.dtype}, expected float32")
            elif not torch.equal(p.detach(), t):
                problems.append(f"{name}: loaded value differs from the file")
        for name, _ in model.named_parameters(remove_duplicate=False):
            if name not in weights and TIED.get(name) not in weights:
                problems.append(f"{name}: HF parameter not in model.safetensors")
        for name in weights:
            if name in TIED:
                notes.append(f"{name} is stored although HF ties it to {TIED[name]}")
        nparam = sum(t.numel() for t in weights.values())
        cases.append(Case(names["load"], not problems,
                          f"{len(weights)} tensors, {nparam} parameters" if not problems
                          else f"{len(problems)} problem(s)", problems[:20] + notes))
    except Exception as e:  # the rest cannot run without a model
        cases.append(Case(names["load"], False, f"{type(e).__name__}: {e}"))
        for k in ("loss", "logits", "grads"):
            cases.append(Case(names[k], False, "not run: load failed"))
        return cases

    # ---- forward + backward -----------------------------------------------------------------------
    expected = dump["expected"]
    try:
        inputs = model_inputs(task, dump["batch"])
        model.zero_grad(set_to_none=True)
        out = model(**inputs)
        out.loss.backward()
    except Exception as e:
        for k in ("loss", "logits", "grads"):
            cases.append(Case(names[k], False, f"HF forward/backward failed: {type(e).__name__}: {e}"))
        return cases

    if task == "qa":
        T = inputs["input_ids"].shape[1]
        for k in ("start_positions", "end_positions"):
            pos = inputs[k]
            n_out, n_neg = int((pos >= T).sum()), int((pos < 0).sum())
            if n_out:
                notes.append(f"qa batch: {n_out} {k} >= T={T}: HF ignores them (clamp to ignore_index T)")
            if n_neg:
                notes.append(f"qa batch: {n_neg} {k} < 0: HF clamps them to position 0 (not ignored)")
        if not any(n.startswith("qa batch") for n in notes):
            notes.append("qa batch: no start/end position outside the sequence (that path not exercised)")
        # Reported under the load line: the loss and grads cases below are what check this path.
        cases[0].extra += [f"note: {n}" for n in notes if n.startswith("qa batch")]

    # loss
    if "loss" not in expected:
        cases.append(Case(names["loss"], False, "expected.safetensors has no 'loss'"))
    else:
        b = expected["loss"].reshape(-1)
        a = out.loss.detach().reshape(-1)
        e = rel_err(a, b)
        cases.append(Case(names["loss"], e < REL_TOL,
                          f"rel err {fmt_err(e)} (HF {a.tolist()}, engine {b.tolist()})"))

    # logits
    got = {}
    if task == "mlm":
        # The engine stores only the P labelled positions, in row-major (b, t) order: exactly what
        # boolean indexing of [B, T, V] with a [B, T] mask yields.
        got["logits"] = out.logits.detach()[inputs["labels"] != -100]
    elif task == "classification":
        got["logits"] = out.logits.detach()
    else:
        got["start_logits"], got["end_logits"] = out.start_logits.detach(), out.end_logits.detach()
    parts, ok = [], True
    for k in LOGIT_NAMES[task]:
        if k not in expected:
            parts.append(f"{k}: missing from expected.safetensors")
            ok = False
            continue
        if tuple(got[k].shape) != tuple(expected[k].shape):
            parts.append(f"{k}: shape engine {tuple(expected[k].shape)} != HF {tuple(got[k].shape)}")
            ok = False
            continue
        e = rel_err(got[k], expected[k])
        ok &= e < REL_TOL
        parts.append(f"{k} {tuple(got[k].shape)} rel err {fmt_err(e)}")
    cases.append(Case(names["logits"], ok, "; ".join(parts)))

    # gradients
    grads_expected = {k[5:]: v for k, v in expected.items() if k.startswith("grad.")}
    problems, errs = [], []
    gnorm = math.sqrt(sum(float(v.double().norm()) ** 2 for v in grads_expected.values()))
    floor = GRAD_FLOOR * gnorm
    for name, w in weights.items():
        if name not in grads_expected:
            problems.append(f"grad.{name}: missing from expected.safetensors")
            continue
        p = model.get_parameter(name)
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        b = grads_expected[name]
        if tuple(g.shape) != tuple(b.shape):
            problems.append(f"grad.{name}: shape engine {tuple(b.shape)} != HF {tuple(g.shape)}")
            continue
        errs.append((rel_err(g, b, floor), name, float(b.double().norm()), float((g.double() - b.double()).norm())))
    for name in grads_expected:
        if name not in weights:
            problems.append(f"grad.{name}: no such tensor in model.safetensors")
    errs.sort(key=lambda x: -x[0])
    bad = [x for x in errs if not x[0] < REL_TOL]
    ok = not problems and not bad
    worst = f", worst {fmt_err(errs[0][0])} {errs[0][1]}" if errs else ""
    extra = problems[:20]
    shown = bad if bad else errs[: (5 if verbose else 0)]
    for e, name, nb, nd in shown[:25]:
        extra.append(f"{'FAIL' if not e < REL_TOL else 'ok  '} {fmt_err(e):>8}  {name}  "
                     f"(|engine| {nb:.3e}, |HF - engine| {nd:.3e}){' (floor)' if nb < floor else ''}")
    if len(bad) > 25:
        extra.append(f"... and {len(bad) - 25} more failing tensors")
    cases.append(Case(names["grads"], ok,
                      f"{len(errs)} tensors compared, {len(bad)} over {REL_TOL:g}{worst}; "
                      f"{sum(1 for x in errs if x[2] < floor)} judged against the floor "
                      f"{GRAD_FLOOR:g} x global grad norm {gnorm:.3e}", extra))
    return cases


# ---- self-test -------------------------------------------------------------------------------------

def tiny_config(task):
    """A config.json like the engine's dump writes: the HF BertConfig fields, dropout off."""
    cfg = {
        "model_type": "bert",
        "architectures": [ARCH[task].__name__],
        "vocab_size": 97,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": 24,
        "type_vocab_size": 2,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "layer_norm_eps": 1e-12,
        "initializer_range": 0.02,
        "hidden_act": "gelu",
        "pad_token_id": 0,
    }
    if task == "classification":
        cfg["num_labels"] = 3
    return cfg


def tiny_batch(task, cfg, gen):
    B, T, V = 4, 16, cfg["vocab_size"]
    lengths = [16, 11, 7, 16]  # rows 1 and 2 are padded
    ids = torch.randint(5, V, (B, T), generator=gen)
    tt = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        tt[i, n // 2:n] = 1  # a second segment, as in sentence pairs
        ids[i, n:] = 0
    batch = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask}
    if task == "mlm":
        labels = torch.full((B, T), -100, dtype=torch.long)
        for i, n in enumerate(lengths):
            pick = torch.randperm(n, generator=gen)[: max(1, n // 4)]
            labels[i, pick] = ids[i, pick]
            ids[i, pick[: len(pick) // 2 + 1]] = 3  # a [MASK]-like id at most picked positions
        batch["labels"] = labels
    elif task == "classification":
        batch["labels"] = torch.randint(0, cfg["num_labels"], (B,), generator=gen)
    else:
        sp = torch.tensor([int(torch.randint(0, n, (1,), generator=gen)) for n in lengths])
        ep = torch.minimum(sp + 2, torch.tensor(lengths) - 1)
        sp[2] = T + 5  # outside the sequence: HF ignores this term
        batch["start_positions"], batch["end_positions"] = sp, ep
    return batch


def write_selftest_dump(task, d, seed):
    """Writes config/model/batch/expected in the engine's layout, expected computed by HF in float64."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = tiny_config(task)
    model = ARCH[task](BertConfig(**cfg)).eval()
    with torch.no_grad():
        # HF's init leaves biases 0 and LayerNorm weights 1, which would hide swapped names.
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    # named_parameters() drops tied duplicates: the decoder weight/bias, as save_pretrained does.
    weights = {n: p.detach().clone().contiguous() for n, p in model.named_parameters()}
    assert not set(weights) & set(TIED), sorted(set(weights) & set(TIED))
    batch = tiny_batch(task, cfg, gen)

    # float64 stands in for an independent implementation: its float32 rounding differs from HF's
    # float32 run, as the engine's will, so a pass shows the tolerance is achievable, not just 0 == 0.
    m64 = copy.deepcopy(model).double()
    out = m64(**model_inputs(task, batch))
    out.loss.backward()
    exp = {"loss": out.loss.detach().float().reshape(())}
    if task == "mlm":
        exp["logits"] = out.logits.detach()[batch["labels"] != -100].float()
    elif task == "classification":
        exp["logits"] = out.logits.detach().float()
    else:
        exp["start_logits"], exp["end_logits"] = out.start_logits.detach().float(), out.end_logits.detach().float()
    for n in weights:
        exp["grad." + n] = m64.get_parameter(n).grad.float().contiguous()

    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_file(weights, os.path.join(d, "model.safetensors"))
    save_file({k: v.contiguous() for k, v in batch.items()}, os.path.join(d, "batch.safetensors"))
    save_file(exp, os.path.join(d, "expected.safetensors"))


def _edit(path, fn):
    t = load_file(path)
    fn(t)
    save_file({k: v.contiguous() for k, v in t.items()}, path)


def _noise(t, rel, seed=1):
    g = torch.Generator().manual_seed(seed)
    n = torch.randn(t.shape, generator=g)
    return t + n * (rel * t.norm() / n.norm())


# Each mutation: (task, description, edit(dir), the cases that must fail).
MUTATIONS = [
    ("mlm", "grad of layer.1 query.weight off by 1e-3 (relative)",
     lambda d: _edit(os.path.join(d, "expected.safetensors"), lambda t: t.__setitem__(
         "grad.bert.encoder.layer.1.attention.self.query.weight",
         _noise(t["grad.bert.encoder.layer.1.attention.self.query.weight"], 1e-3))),
     ["grads"]),
    ("mlm", "layer.0 output.LayerNorm.bias missing from model.safetensors",
     lambda d: _edit(os.path.join(d, "model.safetensors"),
                     lambda t: t.pop("bert.encoder.layer.0.output.LayerNorm.bias")),
     ["load"]),
    ("mlm", "layer.0 query.weight stored transposed (Linear layout bug)",
     lambda d: _edit(os.path.join(d, "model.safetensors"), lambda t: t.__setitem__(
         "bert.encoder.layer.0.attention.self.query.weight",
         t["bert.encoder.layer.0.attention.self.query.weight"].t().contiguous())),
     ["loss", "logits", "grads"]),
    ("classification", "loss off by 1e-3 (relative)",
     lambda d: _edit(os.path.join(d, "expected.safetensors"),
                     lambda t: t.__setitem__("loss", t["loss"] * (1 + 1e-3))),
     ["loss"]),
    ("qa", "end_logits off by 1e-3 (relative)",
     lambda d: _edit(os.path.join(d, "expected.safetensors"),
                     lambda t: t.__setitem__("end_logits", _noise(t["end_logits"], 1e-3))),
     ["logits"]),
    ("qa", "word embedding gradient scaled by 0.999",
     lambda d: _edit(os.path.join(d, "expected.safetensors"), lambda t: t.__setitem__(
         "grad.bert.embeddings.word_embeddings.weight",
         t["grad.bert.embeddings.word_embeddings.weight"] * 0.999)),
     ["grads"]),
]


def run_self_test(tasks, seed, work, report):
    for task in tasks:
        d = os.path.join(work, f"selftest-{task}")
        write_selftest_dump(task, d, seed)
        for c in compare_dump(d, task, f"self-test {task}"):
            report(c)
    for i, (task, desc, edit, must_fail) in enumerate(MUTATIONS):
        if task not in tasks:
            continue
        src = os.path.join(work, f"selftest-{task}")
        d = os.path.join(work, f"mutant-{i}")
        shutil.copytree(src, d)
        edit(d)
        cases = compare_dump(d, task, f"mutant {i}", verbose=False)
        failed = {c.name.split(": ", 1)[1] for c in cases if not c.ok}
        missed = [k for k in must_fail if k not in failed]
        detail = (f"failed as it must ({', '.join(sorted(failed))})" if not missed
                  else f"NOT detected: {missed} passed")
        extra = []
        for c in cases:
            if not c.ok:
                extra.append(f"{c.name}: {c.detail}")
                extra.extend("  " + x for x in c.extra[:3])
        report(Case(f"self-test mutant {task}: {desc}", not missed, detail, extra))


# ---- the engine ------------------------------------------------------------------------------------

def find_driver(arg, root):
    if arg:
        return os.path.abspath(arg)
    if os.environ.get("LSHLAB_NATIVE"):
        return os.path.abspath(os.environ["LSHLAB_NATIVE"])
    for rel in ("build/Release/lshlab-native", "build-native/lshlab-native"):
        p = os.path.join(root, rel)
        if os.path.isfile(p):
            return p
    return os.path.join(root, "build/Release/lshlab-native")


def run_engine(driver, tasks, seed, work, report, timeout):
    if not (os.path.isfile(driver) and os.access(driver, os.X_OK)):
        report(Case("driver", False, f"{driver} not found or not executable (build the native "
                                     f"engine first, or pass --driver PATH)"))
        return
    age = time.time() - os.path.getmtime(driver)
    print(f"driver: {driver} (built {age / 60:.0f} min ago)")
    for task in tasks:
        d = os.path.join(work, f"engine-{task}")
        cmd = [driver, "dump-reference", "--task", task, "--out", d, "--seed", str(seed)]
        t0 = time.time()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            report(Case(f"{task}: dump-reference", False, f"timed out after {timeout}s: {' '.join(cmd)}"))
            continue
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-8:]
            report(Case(f"{task}: dump-reference", False, f"exit {r.returncode}: {' '.join(cmd)}", tail))
            continue
        report(Case(f"{task}: dump-reference", True, f"{time.time() - t0:.1f}s"))
        for c in compare_dump(d, task, task):
            report(c)


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", help="lshlab-native binary (default: $LSHLAB_NATIVE, "
                                     "build/Release/lshlab-native, build-native/lshlab-native)")
    ap.add_argument("--self-test", action="store_true", help="only the harness self-test (no engine)")
    ap.add_argument("--no-self-test", action="store_true", help="skip the self-test, engine only")
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma list of mlm,classification,qa")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--keep", metavar="DIR", help="write dumps under DIR and keep them")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per dump-reference run")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    tasks = [t for t in args.tasks.split(",") if t]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        ap.error(f"unknown task(s) {bad}; choose from {TASKS}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {args.threads}, "
          f"tolerance {REL_TOL:g}")

    counts = [0, 0]

    def report(c):
        counts[0 if c.ok else 1] += 1
        print(f"{'PASS' if c.ok else 'FAIL'}  {c.name}" + (f": {c.detail}" if c.detail else ""))
        for x in c.extra:
            print(f"      {x}")
        sys.stdout.flush()

    work = args.keep or tempfile.mkdtemp(prefix="lshlab-ref-")
    os.makedirs(work, exist_ok=True)
    try:
        if not args.no_self_test:
            run_self_test(tasks, args.seed, work, report)
        if not args.self_test:
            run_engine(find_driver(args.driver, root), tasks, args.seed, work, report, args.timeout)
    except Exception:  # the harness itself broke: count it, never end without the summary line
        traceback.print_exc(file=sys.stdout)
        report(Case("harness", False, "unexpected exception (traceback above)"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"dumps kept in {work}")
    print(f"{counts[0]} passed, {counts[1]} failed")
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main())
