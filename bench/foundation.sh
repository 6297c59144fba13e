#!/usr/bin/env bash
# foundation.sh: the engine's foundation benchmarks in one run on one machine, as recorded in
# docs/benchmarks.md: machine facts, the measured FMA peak, lshlab's GEMM next to OpenBLAS on the
# engine's own shapes, the BERT-tiny MLM training step, and the PyTorch peer (eager and SDPA).
# Prints one JSON object per measurement (JSON Lines) on stdout; progress on stderr.
#
# Usage: bench/foundation.sh [--threads N] [--quick]  (needs `npm ci` done; the PyTorch part needs
# scripts/setup-python.sh and is skipped with a note if .venv-ref is missing)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
THREADS=2
STEPS=20
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --quick) STEPS=5; shift ;;
    *) echo "foundation.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
LSHLAB="node $ROOT/bin/lshlab.js --threads $THREADS"
note() { echo "[foundation] $*" >&2; }

note "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
$LSHLAB info --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(JSON.stringify({what:"info",cpu:j.cpu,threads:j.threads,gemm_kernel:j.gemm_kernel,cuda:j.cuda,lshlab:j.lshlab,node:j.node}))})'
build/Release/lshlab-native bench-peak --json --threads "$THREADS" | sed 's/^{/{"what": "peak", /'

note "gemm: M=4096, N and K in {128, 384, 512}; forward (B^T), dX (plain) and dW (A^T) layouts"
for n in 128 384 512; do
  for k in 128 384 512; do
    for layout in "--tb" "" "--ta"; do
      if [ "$layout" = "--ta" ]; then dims="--m $n --n $k --k 4096"; else dims="--m 4096 --n $n --k $k"; fi
      $LSHLAB bench gemm $dims $layout --openblas --json |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(JSON.stringify({what:"gemm",m:j.m,n:j.n,k:j.k,trans_a:j.trans_a,trans_b:j.trans_b,gflops:j.gflops,openblas_gflops:j.openblas_gflops,ratio:j.openblas_gflops?j.gflops/j.openblas_gflops:null,max_abs_error:j.max_abs_error,threads:j.threads}))})'
    done
  done
done

note "bench train: BERT-tiny MLM, seq 128, batch 32, $STEPS steps"
$LSHLAB bench train --seq 128 --batch 32 --steps "$STEPS" --json |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);j.what="train";console.log(JSON.stringify(j))})'

if [ -x .venv-ref/bin/python ]; then
  for attn in eager sdpa; do
    note "PyTorch peer: transformers BertForMaskedLM, attn $attn"
    .venv-ref/bin/python bench/pytorch_bert_mlm.py --attn "$attn" --threads "$THREADS" --steps "$STEPS" |
      sed 's/^{/{"what": "pytorch", /'
  done
else
  note "PyTorch peer skipped: run scripts/setup-python.sh first"
fi
note "done; load $(cut -d' ' -f1-3 /proc/loadavg)"
