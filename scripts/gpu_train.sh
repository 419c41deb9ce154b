#!/usr/bin/env bash
# The sgd300 recipe trained, selected on val and exported in ONE device call (issue 15):
# about 8 minutes on one H100/H200.
#   1. classpulse model train --recipe sgd300 on the packed FER2013 (.gpu-data/fer2013.npz),
#      ending cleanly before TRAIN_BUDGET seconds, into a new folder of its own (a warm machine
#      keeps /tmp between calls: nothing of an earlier call is read or sent back);
#   2. classpulse model export --calibrate of BOTH checkpoints: last.pt (the last epoch, chosen by
#      nothing: the fair comparison with the shipped weights, themselves a last epoch) and best.pt
#      (the best val epoch of up to 300: its val score is optimistic); each file records which
#      (val_metrics.selected_on). Skipped, and said so, when training fails;
#   3. classpulse model evaluate of each on val, plain, with flip TTA, at 20 px and tilted 0.3
#      (the classroom view), on the GPU (fp16);
#   4. each weights file split into <= 15 MiB parts as soon as it is exported (three each), their
#      sha256 in one file, and everything else (logs, metrics.csv, curves.png, the evaluations'
#      JSON, machine.txt, status.txt) in report.tgz: at most 8 files of 16 MiB, 64 MiB in all,
#      come back from $OUT, so it holds 8 (62.4 MiB).
# scripts/README.md gives the preparation (the data pack) and the exact device call.
# A rehearsal on a CPU: SMOKE=1 DEVICE=cpu (a few steps on a few hundred faces).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_train}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu-data/fer2013.npz}
PY=${PYTHON:-python3}
SMOKE=${SMOKE:-0}
TRAIN_BUDGET=${TRAIN_BUDGET:-400}  # seconds of training; the rest of the call is ~80 s
# checkpoints (~200 MB each) stay off $OUT, in a folder new to this call
RUN=$(mktemp -d "${RUN_PARENT:-/tmp}/gpu_train_run.XXXXXX") || exit 2
REPORT=$RUN/report  # packed into $OUT/report.tgz after every step, so a timeout keeps the rest
mkdir -p "$OUT" "$REPORT"
# what an earlier call (a rehearsal's reused OUT) left under the names this job writes
rm -f "$OUT"/*.safetensors.part* "$OUT/weights.sha256" "$OUT/report.tgz"
pack() { tar czf "$OUT/report.tgz" -C "$REPORT" .; }
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ "$SMOKE" = 1 ]; then
  TRAIN_ARGS=(--epochs 2 --limit-train 512 --limit-val 128 --batch-size 64 --warmup-epochs 1
              --save-every 1)
else
  TRAIN_ARGS=(--save-every 10)
fi
started=$(date +%s)
step() {  # name, command...: output to $REPORT/name.log, exit status noted and returned
  local name=$1 rc; shift
  echo "=== $name ($(( $(date +%s) - started )) s in)"
  "$@" 2>&1 | tee "$REPORT/$name.log"
  rc=${PIPESTATUS[0]}
  echo "$name exit $rc" | tee -a "$REPORT/status.txt"
  pack
  return "$rc"
}
{ echo "run folder $RUN"; nvidia-smi || true; "$PY" -c "import torch, sys; print(sys.version); \
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; nproc
} > "$REPORT/machine.txt" 2>&1
[ -f "$DATA" ] || { echo "no $DATA: pack it first (scripts/README.md)" | tee "$REPORT/status.txt"
                    pack; exit 2; }
step train "$PY" -m classpulse model train --recipe sgd300 --data "$DATA" --out "$RUN" \
  --device "$DEVICE" --time-budget "$TRAIN_BUDGET" --threads "$(nproc)" "${TRAIN_ARGS[@]}"
trained=$?
cp "$RUN/metrics.csv" "$RUN/curves.png" "$REPORT/" 2>/dev/null; pack
if [ "$trained" != 0 ]; then
  echo "training failed (exit $trained, train.log says why): nothing exported or evaluated" \
    | tee -a "$REPORT/status.txt"
  pack
  exit 1
fi
exported=()
for ckpt in last best; do  # last first: the fair comparison, kept if the call is cut short
  weights=$RUN/$ckpt.safetensors
  if step "export_$ckpt" "$PY" -m classpulse model export --checkpoint "$RUN/$ckpt.pt" \
      --out "$weights" --calibrate "$DATA"; then
    split -b 15M -d "$weights" "$OUT/$ckpt.safetensors.part"
    (cd "$RUN" && sha256sum "$ckpt.safetensors") >> "$OUT/weights.sha256"
    exported+=("$ckpt")
  fi
done
for view in plain tta small20 tilt03; do
  case $view in
    plain) flag=() ;; tta) flag=(--tta) ;; small20) flag=(--face-size 20) ;; tilt03) flag=(--tilt 0.3) ;;
  esac
  for ckpt in "${exported[@]}"; do
    step "evaluate_${ckpt}_$view" "$PY" -m classpulse model evaluate --data "$DATA" --split val \
      --weights "$RUN/$ckpt.safetensors" --device "$DEVICE" \
      --json "$REPORT/val_${ckpt}_$view.json" "${flag[@]}"
  done
done
pack
echo "=== summary ($(( $(date +%s) - started )) s)"
grep -h -E "torch|NVIDIA H|cuda" "$REPORT/machine.txt" | head -3
cat "$REPORT/status.txt"
grep -h -E "time budget|early stop|best epoch" "$REPORT/train.log"
tail -n 4 "$REPORT/metrics.csv" 2>/dev/null
(cd "$REPORT" && grep -h "selected_on" export_*.log; grep -E "^accuracy|macro" evaluate_*.log)
ls -l "$OUT"; tar tzf "$OUT/report.tgz"
