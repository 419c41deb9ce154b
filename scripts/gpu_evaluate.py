"""The GPU training job's evaluations, all in one process, the most important first, inside a
deadline (scripts/gpu_train.sh).

    python scripts/gpu_evaluate.py --data PACK --device cuda --out-dir DIR --deadline EPOCH_S \\
        last=RUN/last.safetensors best=RUN/best.safetensors

``classpulse model evaluate`` scores one view of one file per process, and each process pays the
torch import and the CUDA start again (ten processes after training, nothing limiting them). Here
the views run in this order: ``plain`` of every file given (in the order given: ``last`` first,
the fair comparison), then ``tta``, ``small20`` (``--face-size 20``), ``tilt03`` (``--tilt
0.3``), each file in turn. Each result is written as soon as it is had: ``val_NAME_VIEW.json`` (as
``classpulse model evaluate --json`` writes it) and ``evaluate_NAME_VIEW.log`` (its printed
report) in ``--out-dir``. An evaluation is not started when the time left before ``--deadline``
is under 1.5 times the longest one so far (or ``--first-s`` before the first); it is listed as
skipped.

Exit status: 0 when every evaluation ran, 1 when one failed, 3 when none failed but one was
skipped for time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# name, evaluate_weights keywords: in the order they run (most important first)
VIEWS: tuple[tuple[str, dict], ...] = (
    ("plain", {}),
    ("tta", {"tta": True}),
    ("small20", {"face_size": 20}),
    ("tilt03", {"tilt": 0.3}),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weights", nargs="+", help="NAME=PATH of each safetensors file")
    p.add_argument("--data", required=True, help="FER2013 pack (.npz) or folder")
    p.add_argument("--split", default="val")
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--out-dir", required=True)
    p.add_argument("--deadline", type=float, default=0.0,
                   help="time.time() after which no evaluation may still run (0: none)")
    p.add_argument("--first-s", type=float, default=10.0,
                   help="seconds an evaluation is assumed to take before one has (10)")
    args = p.parse_args(argv)
    files = []
    for item in args.weights:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            p.error(f"{item!r} is not NAME=PATH")
        files.append((name, path))

    from model.evaluate import evaluate_weights
    from model.metrics import format_report

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    longest = 0.0
    failed = skipped = 0
    for view, kwargs in VIEWS:
        for name, path in files:
            label = f"{name}_{view}"
            if args.deadline:
                left = args.deadline - time.time()
                needs = 1.5 * longest if longest else args.first_s
                if left < needs:
                    print(f"val {name} {view}: skipped, {left:.0f} s left, needs ~{needs:.0f}",
                          flush=True)
                    skipped += 1
                    continue
            t0 = time.perf_counter()
            try:
                report = evaluate_weights(Path(args.data), args.split, path, args.device,
                                          **kwargs)
            except Exception:  # one file or view failing leaves the others to run
                print(f"val {name} {view}: FAILED\n{traceback.format_exc()}", flush=True)
                (out / f"evaluate_{label}.log").write_text(traceback.format_exc())
                failed += 1
                continue
            seconds = time.perf_counter() - t0
            longest = max(longest, seconds)
            (out / f"val_{label}.json").write_text(json.dumps(report, indent=2) + "\n")
            (out / f"evaluate_{label}.log").write_text(format_report(report) + "\n")
            print(f"val {name} {view}: accuracy {report['accuracy']:.4f}, macro F1 "
                  f"{report['macro_f1']:.4f} ({report['device']} {report['precision']}, "
                  f"{seconds:.1f} s)", flush=True)
    print(f"evaluations: {len(VIEWS) * len(files) - failed - skipped} done, {failed} failed, "
          f"{skipped} skipped for time")
    return 1 if failed else (3 if skipped else 0)


if __name__ == "__main__":
    sys.exit(main())
