#!/usr/bin/env bash
# The sgd300 recipe trained, selected on val and exported in ONE device call (issue 15):
# about 8 minutes on one H100/H200.
#   1. classpulse model train --recipe sgd300 on the packed FER2013 (.gpu-data/fer2013.npz),
#      ending cleanly before TRAIN_BUDGET seconds (best.pt = the best val epoch so far);
#   2. classpulse model export --calibrate: fp16 safetensors with int8 activation ranges;
#   3. classpulse model evaluate on val, plain, with flip TTA, at 20 px and tilted 0.3 (the
#      classroom view), on the GPU (fp16);
#   4. the weights split into <= 15 MiB parts, with their sha256, and everything else (logs,
#      metrics.csv, curves.png, the evaluations' JSON, machine.txt, status.txt) in report.tgz:
#      at most 8 files of 16 MiB come back from $OUT, so it holds 5.
# scripts/README.md gives the preparation (the data pack) and the exact device call.
# A rehearsal on a CPU: SMOKE=1 DEVICE=cpu (a few steps on a few hundred faces).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_train}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu-data/fer2013.npz}
PY=${PYTHON:-python3}
SMOKE=${SMOKE:-0}
TRAIN_BUDGET=${TRAIN_BUDGET:-420}  # seconds of training; the rest of the call is ~40 s
RUN=${RUN:-/tmp/gpu_train_run}  # checkpoints (~200 MB each) stay off $OUT
REPORT=$RUN/report  # packed into $OUT/report.tgz after every step, so a timeout keeps the rest
mkdir -p "$OUT" "$RUN" "$REPORT"
pack() { tar czf "$OUT/report.tgz" -C "$REPORT" .; }
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ "$SMOKE" = 1 ]; then
  TRAIN_ARGS=(--epochs 2 --limit-train 512 --limit-val 128 --batch-size 64 --warmup-epochs 1
              --save-every 1)
else
  TRAIN_ARGS=(--save-every 10)
fi
started=$(date +%s)
step() {  # name, command...: output to $OUT/name.log, exit status noted
  local name=$1; shift
  echo "=== $name ($(( $(date +%s) - started )) s in)"
  "$@" 2>&1 | tee "$REPORT/$name.log"
  echo "$name exit ${PIPESTATUS[0]}" | tee -a "$REPORT/status.txt"
  pack
}
{ nvidia-smi || true; "$PY" -c "import torch, sys; print(sys.version); print('torch', \
torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; nproc
} > "$REPORT/machine.txt" 2>&1
[ -f "$DATA" ] || { echo "no $DATA: pack it first (scripts/README.md)" | tee "$REPORT/status.txt"
                    pack; exit 2; }
step train "$PY" -m classpulse model train --recipe sgd300 --data "$DATA" --out "$RUN" \
  --device "$DEVICE" --time-budget "$TRAIN_BUDGET" --threads "$(nproc)" "${TRAIN_ARGS[@]}"
cp "$RUN/metrics.csv" "$RUN/curves.png" "$REPORT/" 2>/dev/null; pack
WEIGHTS=$RUN/emotion_vgg16.safetensors
step export "$PY" -m classpulse model export --checkpoint "$RUN/best.pt" --out "$WEIGHTS" \
  --calibrate "$DATA"
for view in plain tta small20 tilt03; do
  case $view in
    plain) flag=() ;; tta) flag=(--tta) ;; small20) flag=(--face-size 20) ;; tilt03) flag=(--tilt 0.3) ;;
  esac
  step "evaluate_$view" "$PY" -m classpulse model evaluate --data "$DATA" --split val \
    --weights "$WEIGHTS" --device "$DEVICE" --json "$REPORT/val_$view.json" "${flag[@]}"
done
if [ -f "$WEIGHTS" ]; then
  split -b 15M -d "$WEIGHTS" "$OUT/emotion_vgg16.safetensors.part"
  (cd "$OUT" && sha256sum "$WEIGHTS" | sed "s#  .*#  emotion_vgg16.safetensors#" > weights.sha256)
fi
pack
echo "=== summary ($(( $(date +%s) - started )) s)"
grep -h -E "torch|NVIDIA H|cuda" "$REPORT/machine.txt" | head -3
cat "$REPORT/status.txt"
grep -h -E "time budget|early stop|best epoch" "$REPORT/train.log"
tail -n 4 "$REPORT/metrics.csv" 2>/dev/null
grep -h -E "^accuracy|macro" "$REPORT"/evaluate_*.log
ls -l "$OUT"; tar tzf "$OUT/report.tgz"
