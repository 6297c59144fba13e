#!/usr/bin/env bash
# setup-python.sh: creates (or checks) the reference venv .venv-ref in the repo root with pinned
# CPU PyTorch + Hugging Face transformers, for the dev/test tools only: the HF reference test
# (test/reference/) and the PyTorch peer benchmark (bench/). lshlab itself never needs Python.
# It is idempotent: a venv whose recorded pins match is left alone.
#
# Usage: scripts/setup-python.sh            (venv at <repo>/.venv-ref)
#        LSHLAB_REF_VENV=/path scripts/setup-python.sh
#        PYTHON=python3.11 scripts/setup-python.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LSHLAB_REF_VENV:-$ROOT/.venv-ref}"
PY="${PYTHON:-python3}"

# Exact pins: the reference results and bench figures are only comparable across machines when
# the same torch/transformers produce them. torch 2.13.0 also matters because plain `torch` (or a
# range) can resolve to a multi-GB CUDA build; 2.13.0 is the CPU wheel this project's machines carry.
REQS=(torch==2.13.0 transformers==5.23.0 safetensors==0.8.0 numpy==2.4.6)
STAMP="$VENV/.lshlab-requirements"

say() { echo "setup-python: $*"; }
die() { echo "setup-python: ERROR: $*" >&2; exit 1; }

# Serialise concurrent callers (test runner and bench started together) so that two pips never
# write into the same venv at once.
if command -v flock >/dev/null 2>&1; then
  LOCK="${TMPDIR:-/tmp}/lshlab-setup-python.$(echo "$VENV" | cksum | cut -d' ' -f1).lock"
  exec 9>"$LOCK"
  flock 9
fi

# Up to date = the stamp records these pins and the installed distributions still carry them (read
# from their metadata: much faster than importing torch).
venv_ok() {
  [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${REQS[*]}" ] &&
    "$VENV/bin/python" - "${REQS[@]}" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
for req in sys.argv[1:]:
    name, want = req.split("==")
    got = version(name)
    assert got == want or got.startswith(want + "+"), (name, got, want)  # torch is 2.13.0+cpu
EOF
}

# Some machines' pip config names extra file:// indexes that do not exist, and pip warns about
# each one for every package. Drop just those lines so that real errors stay readable.
quiet_pip() {
  "$VENV/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file://.*is ignored" >&2)
}

if venv_ok; then
  say "$VENV is up to date (${REQS[*]})"
  exit 0
fi

command -v "$PY" >/dev/null 2>&1 || die "'$PY' not found; set PYTHON=/path/to/python3.10+"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
  die "$("$PY" --version 2>&1) is too old: transformers 5 needs Python >= 3.10 (set PYTHON=...)"

if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV with $("$PY" --version 2>&1)"
  "$PY" -m venv "$VENV" || die "'$PY -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
else
  say "venv $VENV exists but its packages differ from the pins; updating it"
fi
# Keep the venv out of git without touching the repo's .gitignore.
echo '*' > "$VENV/.gitignore"
rm -f "$STAMP"


# Dry-run first: refuse before downloading anything if pip would resolve torch to a CUDA build
# (it then pulls nvidia-* and triton wheels, several GB). On these machines pip finds the CPU
# wheel through its configured find-links; elsewhere point PIP_EXTRA_INDEX_URL at a CPU wheel index.
REPORT="$(mktemp "${TMPDIR:-/tmp}/lshlab-pip-report.XXXXXX.json")"
trap 'rm -f "$REPORT"' EXIT
say "resolving ${REQS[*]}"
quiet_pip install --quiet --dry-run --ignore-installed --report "$REPORT" "${REQS[@]}" ||
  die "pip could not resolve ${REQS[*]} (is a package index reachable?)"
CUDA_PKGS="$("$VENV/bin/python" - "$REPORT" <<'EOF'
import json, sys
items = json.load(open(sys.argv[1])).get("install", [])
names = [i["metadata"]["name"].lower() for i in items]
print(" ".join(n for n in names if n.startswith(("nvidia-", "cuda-")) or n == "triton"))
EOF
)"
[ -z "$CUDA_PKGS" ] || die "pip would install a CUDA build of torch (it pulls: $CUDA_PKGS).
  Make pip find the CPU wheel torch-2.13.0+cpu (e.g. a find-links directory or a CPU wheel index
  in PIP_EXTRA_INDEX_URL) and run this again."

say "installing ${REQS[*]} into $VENV"
quiet_pip install --quiet "${REQS[@]}" || die "pip install failed"

"$VENV/bin/python" - <<'EOF' || die "the installed packages do not import"
import numpy, safetensors, torch, transformers
print(f"setup-python: torch {torch.__version__} (cuda: {torch.version.cuda}), "
      f"transformers {transformers.__version__}, safetensors {safetensors.__version__}, "
      f"numpy {numpy.__version__}")
EOF
echo "${REQS[*]}" > "$STAMP"
say "ready: $VENV"
