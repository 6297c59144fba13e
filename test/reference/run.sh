#!/usr/bin/env bash
# run.sh: runs the Hugging Face reference test (test_hf_reference.py) in the reference venv.
# It sets the venv up first (scripts/setup-python.sh), then compares lshlab-native's
# dump-reference output for mlm, classification and qa with transformers, after the harness
# self-test. A dev/test tool only: lshlab never needs Python at run time.
#
# Usage: test/reference/run.sh [--driver PATH] [--self-test] [other test_hf_reference.py options]
#   default driver: $LSHLAB_NATIVE, else build/Release/lshlab-native (else build-native/lshlab-native)
# Last line: `N passed, N failed`; exit 1 if anything failed or the harness itself broke.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${LSHLAB_REF_VENV:-$ROOT/.venv-ref}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if ! "$ROOT/scripts/setup-python.sh"; then
  echo "FAIL  harness: scripts/setup-python.sh failed (see above)"
  echo "0 passed, 1 failed"
  exit 1
fi

LOG="$(mktemp "${TMPDIR:-/tmp}/lshlab-ref-log.XXXXXX")"
trap 'rm -f "$LOG"' EXIT
"$VENV/bin/python" -u "$ROOT/test/reference/test_hf_reference.py" "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}

# The summary must be the last line even when Python died before printing it (import error,
# crash, kill): then the run counts as one failure.
last="$(tail -n 1 "$LOG")"
if ! [[ "$last" =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
  echo "FAIL  harness: test_hf_reference.py ended without its summary (exit $rc)"
  echo "0 passed, 1 failed"
  exit 1
fi
[ "$rc" -eq 0 ] || exit 1
