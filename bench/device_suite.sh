#!/usr/bin/env bash
# Everything a session with a GPU should run, in ONE call of the device tool (<= 10 minutes).
#
#   bash bench/device_suite.sh                     # from the repository root, on the GPU machine
#
# Environment (all optional):
#   OUT            folder for the results (the device tool sets it; default out/device_suite)
#   SUITE_BUDGET_S wall-clock budget of the whole script in seconds (default 570: the device
#                  tool's limit is 600 per call); a step that no longer fits is skipped, a
#                  running step is cut at its own limit, and the next steps still run
#   STEPS          comma-separated subset of: env,tests,checks,vs_ref,bench_f1024,bench_256,
#                  bench_f1024_b64,bench_sg3,train (default: all, in that order)
#                  vs_ref: bench/vs_nvidia.py --device cuda (no NVIDIA code there): the public
#                  default path against our reference ops, PSNR (its parity check on the GPU)
#                  and median/min ms, paper256 and config-f-1024, batch 1 and 8
#   DEVICE         cuda (default) or cpu: a CPU smoke run of the same steps (`DEVICE=cpu
#                  STEPS=vs_ref SUITE_BUDGET_S=300 bash bench/device_suite.sh` on any machine)
#   TRAIN_MINUTES  > 0: continue training the run in RUN_DIR on cuda for that many minutes
#                  (`main.py train --resume`, stopped with SIGTERM, which writes a final
#                  snapshot), then put the newest snapshot into $OUT in parts (the tool
#                  returns files of at most 16 MiB): cat NAME.part0 NAME.part1 ... > NAME
#                  Its time is reserved before the benches start. Default 0 (no training).
#   RUN_DIR        run folder carried to the machine (default runs/portraits64): config.json
#                  plus the newest network-snapshot-*.pt (runs/ is git-ignored; name it in carry)
#   TRAIN_KIMG     optional new total length for the resumed run (--kimg)
#
# Results in $OUT: suite.log (every step's output, step headers with exit status and
# seconds, and a summary at its end), bench-*.json (one per bench that finished), and the
# snapshot parts. A summary is also printed to stdout (the device tool returns its tail).
set -u
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # the repo itself; no pip install needed
export QT_QPA_PLATFORM=offscreen
unset TRITON_INTERPRET EXPLORER_KERNELS                # compiled Triton, fast paths on

OUT=${OUT:-out/device_suite}
mkdir -p "$OUT"
LOG="$OUT/suite.log"
PY=${PYTHON:-python3}
START=$(date +%s)
BUDGET=${SUITE_BUDGET_S:-570}
STEPS=${STEPS:-env,tests,checks,vs_ref,bench_f1024,bench_256,bench_f1024_b64,bench_sg3,train}
DEVICE=${DEVICE:-cuda}
TRAIN_MINUTES=${TRAIN_MINUTES:-0}
RUN_DIR=${RUN_DIR:-runs/portraits64}
SUMMARY=""
RESERVE=0                       # seconds kept free for the training step
if [[ ",$STEPS," == *",train,"* ]] && (( TRAIN_MINUTES > 0 )); then
  RESERVE=$(( TRAIN_MINUTES * 60 + 120 ))
fi

left() { echo $(( BUDGET - ($(date +%s) - START) )); }
want() { [[ ",$STEPS," == *",$1,"* ]]; }

# step NAME LIMIT_S CMD...: run CMD with at most LIMIT_S seconds (less if the budget is
# short), output appended to the log, status recorded; never stops the script.
step() {
  local name=$1 secs=$2; shift 2
  local avail=$(( $(left) - RESERVE - 5 ))
  if [[ $name == train ]]; then avail=$(( $(left) - 5 )); fi
  if (( avail < 20 )); then
    echo "=== SKIP $name: only ${avail}s of the budget left" | tee -a "$LOG"
    SUMMARY+="$(printf '%-16s skipped (budget)' "$name")"$'\n'
    return 0
  fi
  (( secs > avail )) && secs=$avail
  echo "=== $name: start $(date +%T), limit ${secs}s: $*" | tee -a "$LOG"
  local t0; t0=$(date +%s)
  timeout -k 60 "$secs" "$@" >>"$LOG" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  local what="rc=$rc"
  (( rc == 124 || rc == 137 )) && what="rc=$rc (time limit)"
  echo "=== $name: $what after ${dt}s" | tee -a "$LOG"
  SUMMARY+="$(printf '%-16s %-22s %4ss' "$name" "$what" "$dt")"$'\n'
  return 0
}

bench() {  # bench STEP LIMIT CONFIG JSON_NAME EXTRA_ARGS...
  local name=$1 secs=$2 config=$3 json=$4; shift 4
  step "$name" "$secs" "$PY" main.py bench --config "$config" --device "$DEVICE" --json "$OUT/$json" "$@"
}

: >"$LOG"
echo "device suite: $(date -Is), device $DEVICE, budget ${BUDGET}s, steps $STEPS, train ${TRAIN_MINUTES} min" \
  | tee -a "$LOG"

if want env; then
  step env 60 bash -c "
    command -v nvidia-smi >/dev/null && nvidia-smi
    $PY - <<'EOF'
import sys, torch
print('python', sys.version.split()[0], sys.executable)
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())
print('device', torch.cuda.get_device_name(0), 'capability', torch.cuda.get_device_capability(0))
print('bf16 supported', torch.cuda.is_bf16_supported(), 'tf32 cudnn', torch.backends.cudnn.allow_tf32,
      'tf32 matmul', torch.backends.cuda.matmul.allow_tf32)
try:
    import triton
    print('triton', triton.__version__)
except ImportError as e:
    print('triton missing:', e)
import numpy, PIL
print('numpy', numpy.__version__, 'pillow', PIL.__version__)
EOF
    $PY -m pip list 2>/dev/null | grep -iE '^(torch|triton|numpy|pillow|pytest|pyqt6|pyqtgraph) ' || true"
fi

if want tests; then
  # Triton parity on CUDA (compiled, not interpreted), then the CUDA-only tests (marker gpu)
  # and the rest of the fast-render tests. No UI tests: PyQt6 is not installed there.
  step tests_triton 240 "$PY" -m pytest -q -rA -p no:cacheprovider tests/kernels/test_kernels_triton.py
  step tests_gpu 200 "$PY" -m pytest -q -rA -p no:cacheprovider tests/engine/test_fast_render.py \
    tests/training/test_training.py -m gpu
  step tests_render 120 "$PY" -m pytest -q -p no:cacheprovider tests/engine/test_fast_render.py \
    tests/engine/test_fast_threads.py -m 'not gpu'
fi

if want checks; then
  step checks 150 "$PY" bench/cuda_checks.py --device cuda
fi

if want vs_ref; then
  # Public default path vs reference ops on the device: PSNR column = parity, then timings.
  step vs_ref_256 90 "$PY" bench/vs_nvidia.py --device "$DEVICE" --config paper256 --threads 1 \
    --rounds 20 --json "$OUT/vs-ref-paper256.json"
  step vs_ref_f1024 120 "$PY" bench/vs_nvidia.py --device "$DEVICE" --config config-f-1024 --threads 1 \
    --rounds 10 --json "$OUT/vs-ref-config-f-1024.json"
  step vs_ref_f1024_b8 120 "$PY" bench/vs_nvidia.py --device "$DEVICE" --config config-f-1024 --threads 1 \
    --rounds 5 --batch 8 --json "$OUT/vs-ref-config-f-1024-b8.json"
fi

# Benches: each writes its JSON only when it finishes, so the risky sizes run separately.
want bench_f1024 && bench bench_f1024 240 config-f-1024 bench-h200-config-f-1024.json \
  --iters 50 --batches 1,8,32
want bench_256 && bench bench_256 120 paper256 bench-h200-paper256.json --iters 50 --batches 1,8,32,64
want bench_f1024_b64 && bench bench_f1024_b64 150 config-f-1024 bench-h200-config-f-1024-b64.json \
  --iters 10 --batches 1,64 --no-preview
want bench_sg3 && bench bench_sg3 180 sg3-t-1024 bench-h200-sg3-t-1024.json --iters 20 --batches 1,8 \
  --max-seconds 60

if want train && (( TRAIN_MINUTES > 0 )); then
  if [[ -f $RUN_DIR/config.json ]] && ls "$RUN_DIR"/network-snapshot-*.pt >/dev/null 2>&1; then
    extra=()
    [[ -n ${TRAIN_KIMG:-} ]] && extra=(--kimg "$TRAIN_KIMG")
    # SIGTERM at the limit: the CLI finishes the step and writes a snapshot (timeout's -k 60
    # kills it if that takes more than a minute).
    step train $(( TRAIN_MINUTES * 60 )) "$PY" main.py train --outdir "$RUN_DIR" --resume --device cuda \
      ${extra[@]+"${extra[@]}"}
    newest=$(ls -1 "$RUN_DIR"/network-snapshot-*.pt | sort | tail -n 1)
    name=$(basename "$newest")
    sha256sum "$newest" | tee -a "$LOG"
    tail -n 3 "$RUN_DIR/stats.jsonl" >>"$LOG" 2>/dev/null
    # Parts below the tool's 16 MiB per file (the 64x64 default model's snapshot, ~33 MB: 3 parts).
    parts=$(( ($(stat -c %s "$newest") + 15999999) / 16000000 ))
    split -n "$parts" -d -a 1 "$newest" "$OUT/$name.part"
    ls -l "$OUT"/"$name".part* | tee -a "$LOG"
    SUMMARY+="snapshot         $name -> $parts parts in $OUT: cat $name.part* > $name"$'\n'
  else
    echo "=== SKIP train: no config.json + network-snapshot-*.pt in $RUN_DIR" | tee -a "$LOG"
    SUMMARY+="train            skipped (no run folder $RUN_DIR)"$'\n'
  fi
fi

{
  echo "=== summary ($(( $(date +%s) - START ))s of ${BUDGET}s)"
  printf '%s' "$SUMMARY"
  echo "--- test results and check lines"
  grep -E '^(PASS|FAIL) |^[0-9]+ failed: |passed|failed|error' "$LOG" | grep -vE '^=== ' | tail -n 60
  echo "--- bench lines"
  grep -E '^bench: |^  [a-z0-9+]+: |^\| |^check: |^public ' "$LOG" | tail -n 80
  echo "--- files in $OUT"
  ls -l "$OUT"
} | tee -a "$LOG"
exit 0
