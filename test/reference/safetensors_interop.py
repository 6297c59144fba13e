#!/usr/bin/env python3
"""safetensors_interop.py: checks that lshlab's C++ safetensors files and Hugging Face's agree.

Needs `safetensors` and `numpy` (e.g. python3 -m venv /tmp/stvenv &&
/tmp/stvenv/bin/pip install safetensors numpy). Standalone on purpose: it does not drive the
C++ side itself, the test runner does.

  safetensors_interop.py write DIR
      Writes DIR/py_written.safetensors with Python's save_file (every dtype the engine knows,
      a scalar, a zero-size tensor, metadata) for the C++ reader to load, and prints
      "OK wrote <path>". The expected contents are deterministic: see expected_tensors().
  safetensors_interop.py check FILE [FILE...]
      Loads each FILE (written by the C++ writer) with safetensors.numpy.load_file, checks the
      8-byte alignment and space padding the C++ writer promises, and if the file's tensor names
      match expected_tensors() also compares values. Prints "OK <path>: N tensors" per file.
  safetensors_interop.py selftest DIR
      write + check on Python's own file (sanity check of this script).

Exit status is non-zero on the first mismatch. Not a fuzzer: the C++ tests do corruptions.
"""
import json
import os
import struct
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

METADATA = {"format": "lshlab", "step": "1200", "note": "caf\u00e9"}


def expected_tensors():
    """Deterministic tensors covering every engine dtype, a scalar and a zero-size tensor."""
    t = {}
    t["f64"] = np.arange(6, dtype=np.float64).reshape(2, 3) / 7.0
    t["f32"] = (np.arange(12, dtype=np.float32) - 5.5).reshape(3, 4)
    t["f16"] = np.linspace(-2, 2, 5).astype(np.float16)
    t["i64"] = np.array([-(2**40), 0, 2**62], dtype=np.int64)
    t["i32"] = np.array([[1, -2], [3, -4]], dtype=np.int32)
    t["i16"] = np.array([-32768, 32767], dtype=np.int16)
    t["i8"] = np.array([-128, 0, 127], dtype=np.int8)
    t["u8"] = np.arange(250, 256, dtype=np.uint8)
    t["bool"] = np.array([True, False, True])
    t["scalar"] = np.array(3.25, dtype=np.float32)
    t["empty"] = np.zeros((4, 0, 2), dtype=np.float32)
    return t


def check_layout(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = raw[8 : 8 + n]
    json.loads(header.decode("utf-8"))  # strict UTF-8 JSON
    if (8 + n) % 8 != 0:
        raise SystemExit(f"FAIL {path}: data section starts at byte {8 + n}, not 8-byte aligned")
    body = header.rstrip(b" ")
    if not body.endswith(b"}") or len(header) - len(body) >= 8:
        raise SystemExit(f"FAIL {path}: header padding is not 0..7 trailing spaces")


def check_file(path):
    check_layout(path)
    loaded = load_file(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
    expected = expected_tensors()
    if set(loaded) == set(expected):
        for name, want in expected.items():
            got = loaded[name]
            if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
                raise SystemExit(f"FAIL {path}: tensor '{name}' differs: got {got.dtype}{got.shape}")
        if meta != METADATA:
            raise SystemExit(f"FAIL {path}: metadata {meta} != {METADATA}")
    print(f"OK {path}: {len(loaded)} tensors")


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "py_written.safetensors")
    save_file(expected_tensors(), path, metadata=METADATA)
    print(f"OK wrote {path}")
    return path


def main(argv):
    if len(argv) >= 2 and argv[0] == "write":
        write(argv[1])
    elif len(argv) >= 2 and argv[0] == "check":
        for p in argv[1:]:
            check_file(p)
    elif len(argv) >= 2 and argv[0] == "selftest":
        p = write(argv[1])
        loaded = load_file(p)
        for name, want in expected_tensors().items():
            assert np.array_equal(loaded[name], want) and loaded[name].dtype == want.dtype, name
        print(f"OK selftest {p}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
