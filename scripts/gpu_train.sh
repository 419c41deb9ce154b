#!/usr/bin/env bash
# The sgd300 recipe trained, selected on val and exported in ONE device call (issue 15), the
# whole call inside TOTAL_BUDGET seconds (400 with the session's full 900 s; the call's timeout_s
# is TOTAL_BUDGET + 20; scripts/README.md, "One session, both jobs", gives the plan):
#   1. classpulse model train --recipe sgd300 on the packed FER2013 (.gpu-data/fer2013.npz) into
#      a new folder of its own (a warm machine keeps /tmp between calls: nothing of an earlier
#      call is read or sent back), its --time-budget what is left of TOTAL_BUDGET after LOAD_S
#      (its start, before its own clock runs) and RESERVE_S (everything after it); --save-every
#      1000, so last.pt (187 MiB, and each write flushes the kept best.pt) is written once, at
#      the stop, not every 10 epochs: a killed training exports nothing here anyway;
#   2. classpulse model export --calibrate of BOTH checkpoints: last.pt (the last epoch, chosen by
#      nothing: the fair comparison with the shipped weights, themselves a last epoch) and best.pt
#      (the best val epoch: its val score is optimistic); each file records which
#      (val_metrics.selected_on). Skipped, and said so, when training fails;
#   3. scripts/gpu_evaluate.py, one process: each file on val, plain first (last, then best),
#      then with flip TTA, at 20 px and tilted 0.3 (the classroom view), on the GPU (fp16); an
#      evaluation that would not end before the budget is skipped, the least important first;
#   4. each weights file split into <= 15 MiB parts as soon as it is exported (three each), their
#      sha256 in one file, and everything else (logs, metrics.csv, curves.png, the evaluations'
#      JSON, machine.txt, status.txt) in report.tgz, rebuilt after every step under another name
#      and renamed: at most 8 files of 16 MiB, 64 MiB in all, come back from $OUT (it holds 8).
# Exit status, real failures first: training failed: 1 (124 when its time limit stopped it),
# nothing exported; else the first failed step's own status (2: an export failed); else 124 if a
# step ran out of its time; else 3 if an export or evaluation was skipped for want of time; else
# 0. status.txt says which step. Every step runs under `timeout -k 10` (SIGTERM, then SIGKILL 10 s
# later): training turns SIGTERM into SystemExit, so its kept best.pt is still written.
# A rehearsal on a CPU: SMOKE=1 DEVICE=cpu TOTAL_BUDGET=1500 (scripts/README.md).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
OUT=${OUT:-/tmp/gpu_train}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu-data/fer2013.npz}
PY=${PYTHON:-python3}
SMOKE=${SMOKE:-0}
TOTAL_BUDGET=${TOTAL_BUDGET:-400}  # seconds for this whole script, from its first line
LOAD_S=${LOAD_S:-30}        # train's start before its clock: torch, CUDA, the pack onto the GPU
RESERVE_S=${RESERVE_S:-80}  # after training: two exports (~15 s each), evaluations, the bundle
PACK_S=8                    # kept at the end: the last bundle and the summary
# checkpoints (~200 MB each) stay off $OUT, in a folder new to this call
RUN=$(mktemp -d "${RUN_PARENT:-/tmp}/gpu_train_run.XXXXXX") || exit 2
REPORT=$RUN/report  # packed into $OUT/report.tgz after every step, so a timeout keeps the rest
mkdir -p "$OUT" "$REPORT"
# what an earlier call (a rehearsal's reused OUT) left under the names this job writes
rm -f "$OUT"/*.safetensors.part* "$OUT/weights.sha256" "$OUT/report.tgz" "$OUT/report.tgz.new"
# a kill mid-tar or mid-copy leaves the last whole bundle: written beside the run, copied into
# $OUT under another name, then renamed within $OUT (a rename across filesystems is a copy)
pack() {
  tar czf "$RUN/report.tgz.tmp" -C "$REPORT" . && cp "$RUN/report.tgz.tmp" "$OUT/report.tgz.new" \
    && mv -f "$OUT/report.tgz.new" "$OUT/report.tgz"
}
left() { echo $(( started + TOTAL_BUDGET - $(date +%s) )); }
. scripts/gpu_status.sh  # worse, verdict: the job's exit status
note() { echo "$*" | tee -a "$REPORT/status.txt"; }
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ "$SMOKE" = 1 ]; then
  TRAIN_ARGS=(--epochs 2 --limit-train 512 --limit-val 128 --batch-size 64 --warmup-epochs 1
              --save-every 1)
else
  TRAIN_ARGS=(--save-every 1000)  # last.pt once, at the stop (header)
fi
step() {  # name, time limit s, command...: output to $REPORT/name.log, exit status noted
  local name=$1 limit=$2 rc; shift 2
  echo "=== $name ($(( $(date +%s) - started )) s in, limit $limit s)"
  timeout -k 10 "$limit" "$@" 2>&1 | tee "$REPORT/$name.log"
  rc=${PIPESTATUS[0]}
  note "$name exit $rc"
  pack
  return "$rc"
}
{ echo "run folder $RUN"; nvidia-smi || true; "$PY" -c "import torch, sys; print(sys.version); \
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''); \
print('quantized engines', torch.backends.quantized.supported_engines)"; echo "cpus $(nproc)"
} > "$REPORT/machine.txt" 2>&1
[ -f "$DATA" ] || { echo "no $DATA: pack it first (scripts/README.md)" | tee "$REPORT/status.txt"
                    pack; exit 2; }
TRAIN_BUDGET=${TRAIN_BUDGET:-$(( $(left) - LOAD_S - RESERVE_S ))}
echo "budget: $TOTAL_BUDGET s in all, $(left) s left at training's start; --time-budget" \
  "$TRAIN_BUDGET s, $LOAD_S s for its start, $RESERVE_S s after it" | tee -a "$REPORT/machine.txt"
if [ "$TRAIN_BUDGET" -lt 30 ]; then
  echo "TOTAL_BUDGET $TOTAL_BUDGET s leaves $TRAIN_BUDGET s of training: nothing run" \
    | tee "$REPORT/status.txt"
  pack
  exit 2
fi
# the time budget ends training cleanly; the limit only catches a start far slower than LOAD_S
step train $(( $(left) - PACK_S )) "$PY" -m classpulse model train --recipe sgd300 \
  --data "$DATA" --out "$RUN" --device "$DEVICE" --time-budget "$TRAIN_BUDGET" \
  --threads "$(nproc)" "${TRAIN_ARGS[@]}"
trained=$?
cp "$RUN/metrics.csv" "$RUN/curves.png" "$REPORT/" 2>/dev/null; pack
if [ "$trained" != 0 ]; then
  code=1
  case $trained in 124|137) code=124 ;; esac  # stopped by its time limit: passed through
  note "training failed (exit $trained, train.log says why): nothing exported or evaluated"
  note "job exit $code ($(( $(date +%s) - started )) s of $TOTAL_BUDGET)"
  pack
  exit "$code"
fi
exported=()
for ckpt in last best; do  # last first: the fair comparison, kept if the call is cut short
  weights=$RUN/$ckpt.safetensors
  room=$(( $(left) - PACK_S ))
  if [ "$room" -lt 20 ]; then  # an export takes ~15 s
    note "export_$ckpt skipped: $room s of the budget left"
    worse 3
    continue
  fi
  if step "export_$ckpt" "$room" "$PY" -m classpulse model export \
      --checkpoint "$RUN/$ckpt.pt" --out "$weights" --calibrate "$DATA"; then
    split -b 15M -d "$weights" "$OUT/$ckpt.safetensors.part"
    (cd "$RUN" && sha256sum "$ckpt.safetensors") >> "$OUT/weights.sha256"
    exported+=("$ckpt=$weights")
  else
    worse $?
  fi
done
room=$(( $(left) - PACK_S ))
if [ "${#exported[@]}" = 0 ]; then
  note "evaluate skipped: no file exported"
elif [ "$room" -lt 15 ]; then
  note "evaluate skipped: $room s of the budget left"
  worse 3
else
  # its deadline 5 s before its limit: time to exit on its own, saying what it skipped
  step evaluate "$room" "$PY" scripts/gpu_evaluate.py --data "$DATA" --device "$DEVICE" \
    --out-dir "$REPORT" --deadline $(( started + TOTAL_BUDGET - PACK_S - 5 )) "${exported[@]}"
  worse $?
fi
worst=$(verdict)
note "job exit $worst ($(( $(date +%s) - started )) s of $TOTAL_BUDGET)"
pack
echo "=== summary ($(( $(date +%s) - started )) s of $TOTAL_BUDGET; exit $worst)"
grep -h -E "torch|NVIDIA H|cuda|budget" "$REPORT/machine.txt" | head -4
cat "$REPORT/status.txt"
grep -h -E "time budget|early stop|best epoch" "$REPORT/train.log"
tail -n 4 "$REPORT/metrics.csv" 2>/dev/null
(cd "$REPORT" && grep -h "selected_on" export_*.log; grep -h -E "^(val |evaluations)" evaluate.log) \
  2>/dev/null
ls -l "$OUT"; echo "report.tgz: $(tar tzf "$OUT/report.tgz" | wc -l) entries"
exit "$worst"
