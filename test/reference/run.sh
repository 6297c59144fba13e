#!/usr/bin/env bash
# run.sh: the Hugging Face reference suite. Sets up the reference venv (scripts/setup-python.sh),
# then runs every test/reference/test_hf_*.py in it (BERT models against transformers' BertFor*,
# YOSO against transformers' YOSO, Reformer against transformers' LSHSelfAttention, fine-tuning
# initialisation from folders transformers wrote, the optimiser step against torch.optim.AdamW,
# clip_grad_norm_ and transformers' schedule and weight-decay rule), each of
# which ends with `N passed, N failed`, and prints the totals as its own last line.
# A dev/test tool only: lshlab never needs Python at run time.
#
# Usage: test/reference/run.sh [--driver PATH]
#   default driver: $LSHLAB_NATIVE, else build/Release/lshlab-native (else build-native/lshlab-native)
# Exit 1 if anything failed or a harness broke (a script that ends without its summary counts as
# one failure).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${LSHLAB_REF_VENV:-$ROOT/.venv-ref}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

DRIVER="${LSHLAB_NATIVE:-}"
if [ "${1:-}" = "--driver" ] && [ -n "${2:-}" ]; then DRIVER="$2"; shift 2; fi
if [ -z "$DRIVER" ]; then
  DRIVER="$ROOT/build/Release/lshlab-native"
  [ -x "$DRIVER" ] || DRIVER="$ROOT/build-native/lshlab-native"
fi
export LSHLAB_NATIVE="$DRIVER"

if ! "$ROOT/scripts/setup-python.sh"; then
  echo "FAIL  harness: scripts/setup-python.sh failed (see above)"
  echo "0 passed, 1 failed"
  exit 1
fi

LOG="$(mktemp "${TMPDIR:-/tmp}/lshlab-ref-log.XXXXXX")"
trap 'rm -f "$LOG"' EXIT
passed=0
failed=0
for script in "$ROOT"/test/reference/test_hf_*.py; do
  name="$(basename "$script")"
  echo "=== $name"
  "$VENV/bin/python" -u "$script" --driver "$DRIVER" 2>&1 | tee "$LOG"
  rc=${PIPESTATUS[0]}
  last="$(tail -n 1 "$LOG")"
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
      echo "FAIL  harness: $name exited $rc without reporting a failure"
      failed=$((failed + 1))
    fi
  else
    echo "FAIL  harness: $name ended without its summary (exit $rc)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
