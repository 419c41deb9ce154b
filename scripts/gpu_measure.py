"""The consumer's analysis path on a GPU, checked against the CPU path and timed.

Run by scripts/gpu_measure.sh (one device call, in two steps: the check, then the speed); also
runs on a CPU, where ``--precision bf16`` (or fp16) gives the checked side other numerics than the
fp32 reference, so that the comparison has been seen to pass and to fail before a GPU session
spends time on it.

1. The crowd video goes through the producer's encoding (``encode_frame``: its default 1920-px
   side, JPEG) and the consumer's decoding, ``--per-minute`` frames to a minute, evenly spaced
   from a minute boundary; ``--frames`` must fill whole minutes (the video's 105 frames: three
   minutes of 35, 150-200 faces each), so that no minute is judged on a handful of faces (105
   frames 2 s apart left a last minute of 15 frames and 81 faces, where two faces are 2%).
2. Check (issue 16: "its per-minute counts match the CPU path's on the same frames within 2%"):
   decode -> detect -> classify -> aggregate, two comparisons of the aggregator's rows:

   - the verdict, AS SHIPPED: the CPU path as the consumer runs it by default (classifier
     ``auto``: int8 with the shipped weights) against ``--device`` as the consumer runs it
     (classifier ``--precision``, auto: fp16 on CUDA; TF32 as the consumer leaves it, i.e.
     PyTorch's defaults: cuDNN convolutions in TF32, matmuls not);
   - a DIAGNOSTIC, fp32 against fp32: the CPU path with the classifier in fp32 against
     ``--device`` with the classifier in fp32 and TF32 off, which separates precision (int8,
     fp16, TF32) from pipeline differences (the detector's kernels, batching, decoding). It is
     reported, not judged: it does not change the exit status.

   The CPU's two classifiers share one detection pass (the detector runs fp32 either way). Every
   per-minute count must agree within ``--tolerance`` (2%): frames, frames with faces, faces and
   faces read each relative to the CPU's own count; each emotion's count (faces whose top emotion
   it is) twice: as points of the minute's faces read (its share moves by at most 2 points) and
   relative to its own count with a floor of ``--floor`` faces (it differs by at most
   max(2% of the CPU's count, 2 faces)). The faces whose top emotion moved (sum of the emotion
   count differences / 2, as a share of the minute's faces) are reported beside, not judged. The
   result is printed and written to ``--json`` at once.
3. Speed (``--batch-frames``, none with ``--batch-frames ''``): the same path on ``--device``
   flat out, TF32 as the consumer runs it (the defaults), batches of each size for ``--seconds``,
   decoding in a thread pool as the consumer does; ``--json`` is rewritten after each size (with
   ``--no-check`` it is added to the file an earlier check wrote).

Exit status: 0, 1 if the as-shipped check failed (the speed is still measured; the
diagnostic's verdict never changes it), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS, EMOTIONS  # noqa: E402
from classpulse.settings import Settings  # noqa: E402
from classpulse.wire import decode_jpeg, encode_frame, parse_message  # noqa: E402
from consumers.aggregate import MinuteAggregator  # noqa: E402
from consumers.analyze import FrameAnalyzer, detector_config  # noqa: E402
from consumers.gate import GateConfig  # noqa: E402
from model.classifier import PRECISIONS  # noqa: E402
from model.detector import frames_from_video  # noqa: E402

START_MS = 1_767_000_000_000  # a minute boundary in 2025
TOLERANCE = 0.02  # issue 16: per-minute counts within 2% of the CPU path's
SHIPPED_PRECISION = "auto"  # the consumer's default: int8 on a CPU, fp16 on CUDA
DIAGNOSTIC_PRECISION = "fp32"  # both sides, TF32 off: what is left is the pipeline's own
FLOOR = 2  # faces: an emotion's count may always differ by this many (relative judgement)
OWN_SCALE = ("frames", "frames_with_faces", "faces", "faces_read")  # judged against themselves
EMOTION_COUNTS = tuple(f"n_{e}" for e in EMOTIONS)  # judged against the minute's faces read


def encoded_messages(video: Path, n: int, per_minute: int = 30) -> list:
    """The video's first ``n`` frames as the consumer receives them (parsed wire messages),
    ``per_minute`` to a minute, evenly spaced (30: 2 s apart)."""
    out = []
    for seq, rgb in enumerate(frames_from_video(str(video), n)):
        at = START_MS + 60_000 * (seq // per_minute) + (60_000 // per_minute) * (seq % per_minute)
        key, value, headers = encode_frame(rgb, camera="cam-1", classroom="room-1",
                                           captured_at_ms=at, seq=seq)
        out.append(parse_message(key, value, headers))
    return out


def whole_minutes_error(frames: int, per_minute: int) -> str | None:
    """Why ``frames`` frames, ``per_minute`` to a minute, do not fill whole minutes, or None."""
    if per_minute < 1 or frames < per_minute or frames % per_minute:
        return (f"--frames {frames} must be a multiple of --per-minute {per_minute}, so that "
                f"every minute is whole")
    return None


def analyzer(device: str, precision: str, detector=None) -> FrameAnalyzer:
    """The consumer's analyser (``FrameAnalyzer.load``) with the classifier in ``precision``
    (and ``detector`` if given, to share one between analysers of one device)."""
    from model import EmotionClassifier, FaceDetector

    settings = Settings(device=device)
    classifier = EmotionClassifier(weights=settings.model_weights, device=device,
                                   precision=precision)
    if detector is None:
        detector = FaceDetector(detector_config(settings), device=device)
    return FrameAnalyzer(detector, classifier, GateConfig.from_settings(settings))


def per_minute(analyzer: FrameAnalyzer, messages: list, batch: int,
               pool: ThreadPoolExecutor) -> dict[str, dict[str, int]]:
    return per_minute_shared([analyzer], messages, batch, pool)[0]


def per_minute_shared(analyzers: list[FrameAnalyzer], messages: list, batch: int,
                      pool: ThreadPoolExecutor) -> list[dict[str, dict[str, int]]]:
    """``per_minute`` of each analyser, one detection pass (the first's detector) for all."""
    aggs = [MinuteAggregator([DEFAULT_ENGAGEMENT_WEIGHTS[e] for e in EMOTIONS])
            for _ in analyzers]
    for i in range(0, len(messages), batch):
        chunk = messages[i:i + batch]
        frames = list(pool.map(decode_jpeg, chunk))
        found = analyzers[0].detector.detect(frames)
        for a, agg in zip(analyzers, aggs, strict=True):
            for m, reading in zip(chunk, a.read(frames, found), strict=True):
                agg.add_frame(m.camera, m.classroom, m.captured_at_ms, reading)
    return [_rows(agg) for agg in aggs]


def _rows(agg: MinuteAggregator) -> dict[str, dict[str, int]]:
    return {row.minute_start.isoformat(): {"frames": row.frames,
                                          "frames_with_faces": row.frames_with_faces,
                                          "faces": row.faces,
                                          "faces_read": row.faces_read,
                                          **{f"n_{e}": n for e, n in zip(EMOTIONS, row.n,
                                                                         strict=True)}}
            for row in agg.rows()}


def compare(cpu: dict, dev: dict, tolerance: float = TOLERANCE, floor: int = FLOOR) -> dict:
    """Every per-minute count of ``dev`` against the CPU reference's (module docstring, 2):
    the worst relative difference of each kind, the counts over ``tolerance`` (``failing``), and
    ``ok``. Each emotion's count is judged twice: against the minute's faces read
    (``emotion_count``) and against its own CPU count, a difference of up to ``floor`` faces
    always allowed (``emotion_relative``: the worst difference over its own count among those
    over the floor). A minute only one side has fails."""
    worst = {k: 0.0 for k in (*OWN_SCALE, "emotion_count", "emotion_relative", "emotion_moved")}
    failing: list[str] = []

    def judge(minute: str, key: str, diff: int, scale: int, kind: str) -> None:
        share = diff / max(scale, 1)
        worst[kind] = max(worst[kind], share)
        if share > tolerance:
            failing.append(f"{minute} {key} differs by {diff} of {scale} ({share:.1%})")

    def judge_own(minute: str, key: str, diff: int, own: int) -> None:
        if diff <= floor:
            return
        share = diff / max(own, 1)
        worst["emotion_relative"] = max(worst["emotion_relative"], share)
        if diff > tolerance * own:
            failing.append(f"{minute} {key} differs by {diff} of its own {own} ({share:.1%}, "
                           f"over {floor} faces)")

    for minute in sorted(set(cpu) | set(dev)):
        if minute not in cpu or minute not in dev:
            failing.append(f"{minute} only on the {'cpu' if minute in cpu else 'device'} side")
            continue
        a, b = cpu[minute], dev[minute]
        for k in OWN_SCALE:
            judge(minute, k, abs(a[k] - b[k]), a[k], k)
        for k in EMOTION_COUNTS:
            judge(minute, k, abs(a[k] - b[k]), a["faces_read"], "emotion_count")
            judge_own(minute, k, abs(a[k] - b[k]), a[k])
        moved = sum(abs(a[k] - b[k]) for k in EMOTION_COUNTS) / 2
        worst["emotion_moved"] = max(worst["emotion_moved"], moved / max(a["faces"], 1))
    return {**worst, "tolerance": tolerance, "floor": floor, "same_minutes": set(cpu) == set(dev),
            "failing": failing, "ok": not failing}


@contextmanager
def without_tf32() -> Iterator[dict[str, bool]]:
    """cuDNN convolutions and CUDA matmuls in full fp32 inside, the flags as they were after;
    yields the flags in force inside (recorded with the check)."""
    import torch

    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield {"cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
               "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def throughput(analyzer: FrameAnalyzer, messages: list, batch: int, seconds: float,
               pool: ThreadPoolExecutor, sync: Callable[[], None]) -> dict:
    agg = MinuteAggregator([DEFAULT_ENGAGEMENT_WEIGHTS[e] for e in EMOTIONS])
    frames = faces = 0
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds:
        chunk = [messages[(i + k) % len(messages)] for k in range(batch)]
        i += batch
        decoded = list(pool.map(decode_jpeg, chunk))
        for m, reading in zip(chunk, analyzer.analyze(decoded), strict=True):
            agg.add_frame(m.camera, m.classroom, m.captured_at_ms, reading)
            faces += reading.faces
        frames += len(chunk)
    sync()
    elapsed = time.perf_counter() - start
    return {"batch": batch, "frames": frames, "faces": faces, "seconds": round(elapsed, 2),
            "frames_per_s": round(frames / elapsed, 1), "faces_per_s": round(faces / elapsed, 1)}


def write_json(path: str | None, summary: dict) -> None:
    """Replace ``path`` whole (a kill mid-write leaves the previous version)."""
    if path:
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, path)


def check_line(summary: dict, which: str = "check") -> str:
    """One line for the verdict (``check``: as shipped) or the ``diagnostic`` (fp32 vs fp32)."""
    c = summary[which]
    sides = summary["sides"][which]
    suffix = "" if which == "check" else "_fp32"
    cpu, dev = summary[f"per_minute_cpu{suffix}"], summary[f"per_minute_device{suffix}"]
    label = ("check (as shipped)" if which == "check"
             else "check diagnostic (fp32 vs fp32, TF32 off; not judged)")
    return (f"{label}: {sides['device']} vs {sides['cpu']} on {summary['frames']} frames, "
            f"{len(cpu)} minutes, tolerance {c['tolerance']:.0%}: "
            f"{'OK' if c['ok'] else 'FAILED'} (worst minute: faces {c['faces']:.1%}, faces read "
            f"{c['faces_read']:.1%}, frames with faces {c['frames_with_faces']:.1%}, an emotion's "
            f"count {c['emotion_count']:.1%} of faces read, {c['emotion_relative']:.1%} of its "
            f"own (beyond {c['floor']} faces); top emotion moved {c['emotion_moved']:.1%} of "
            f"faces; faces cpu {sum(m['faces'] for m in cpu.values())} {summary['device']} "
            f"{sum(m['faces'] for m in dev.values())})")


def tf32_flags() -> dict[str, bool]:
    import torch

    return {"cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="the classifier's precision on --device (auto: fp16 on CUDA, int8 on a "
                   "CPU); a CPU rehearsal uses bf16 or fp16")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help="largest relative difference of a per-minute count (0.02)")
    p.add_argument("--floor", type=int, default=FLOOR,
                   help="faces an emotion's count may differ by whatever its size (2)")
    p.add_argument("--no-check", action="store_true",
                   help="time only, adding to --json as an earlier check left it")
    p.add_argument("--faces-dir", default=str(REPO.parent / "shared" / "data" / "faces"))
    p.add_argument("--frames", type=int, default=105,
                   help="video frames (105, all of the crowd video's)")
    p.add_argument("--per-minute", type=int, default=35,
                   help="frames to a minute (35: 105 frames make three whole minutes)")
    p.add_argument("--batch-frames", default="32,128", help="batch sizes timed (32,128; '': "
                   "none)")
    p.add_argument("--seconds", type=float, default=10.0, help="time per batch size (10)")
    p.add_argument("--json", default=None, help="write the summary here")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batch_frames.split(",") if b.strip()]

    import torch

    video = Path(args.faces_dir) / "crowd-1080p-25fps.mp4"
    if not video.is_file():
        print(f"gpu_measure: {video} not found; pass --faces-dir", file=sys.stderr)
        return 2
    if not args.no_check and (why := whole_minutes_error(args.frames, args.per_minute)):
        print(f"gpu_measure: {why}", file=sys.stderr)
        return 2
    messages = encoded_messages(video, args.frames, args.per_minute)
    if not args.no_check and len(messages) != args.frames:
        print(f"gpu_measure: {video} has {len(messages)} frames, not --frames {args.frames}",
              file=sys.stderr)
        return 2
    pool = ThreadPoolExecutor(8)
    summary: dict = {"device": args.device, "frames": len(messages),
                     "per_minute": args.per_minute,
                     "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                     "torch": torch.__version__, "cpu_threads": torch.get_num_threads()}
    if args.no_check and args.json and Path(args.json).is_file():
        summary = {**json.loads(Path(args.json).read_text()), **summary}
    ok = True
    dev_analyzer = None
    if not args.no_check:
        # the CPU path: as shipped (auto: int8) and fp32, one detection pass for both
        t0 = time.perf_counter()
        cpu_shipped = analyzer("cpu", SHIPPED_PRECISION)
        cpu_fp32 = analyzer("cpu", DIAGNOSTIC_PRECISION, detector=cpu_shipped.detector)
        cpu, cpu32 = per_minute_shared([cpu_shipped, cpu_fp32], messages, 16, pool)
        summary["cpu_path_s"] = round(time.perf_counter() - t0, 1)
        # the device as the consumer runs it: --precision (auto: fp16), TF32 left as it is
        dev_analyzer = analyzer(args.device, args.precision)
        shipped_tf32 = tf32_flags()
        t0 = time.perf_counter()
        dev = per_minute(dev_analyzer, messages, 32, pool)
        summary["device_path_s"] = round(time.perf_counter() - t0, 1)
        summary["precision"] = dev_analyzer.classifier.precision  # type: ignore[attr-defined]
        summary["sides"] = {"check": {
            "cpu": f"cpu {cpu_shipped.classifier.precision} (auto)",  # type: ignore[attr-defined]
            "device": f"{args.device} {summary['precision']} ({args.precision}), TF32 as left",
            "device_tf32": shipped_tf32}}
        summary["per_minute_cpu"], summary["per_minute_device"] = cpu, dev
        summary["check"] = compare(cpu, dev, args.tolerance, args.floor)
        ok = summary["check"]["ok"]
        write_json(args.json, summary)
        print(check_line(summary), flush=True)
        failing = summary["check"]["failing"]
        for line in failing[:12]:
            print(f"  over the tolerance: {line}", flush=True)
        if len(failing) > 12:
            print(f"  over the tolerance: {len(failing) - 12} more (--json has them all)")
        # the diagnostic: fp32 on both sides, TF32 off (precision separated from the pipeline)
        dev32 = analyzer(args.device, DIAGNOSTIC_PRECISION, detector=dev_analyzer.detector)
        with without_tf32() as flags:
            t0 = time.perf_counter()
            dev_fp32 = per_minute(dev32, messages, 32, pool)
            summary["device_fp32_path_s"] = round(time.perf_counter() - t0, 1)
        summary["sides"]["diagnostic"] = {"cpu": f"cpu {DIAGNOSTIC_PRECISION}",
                                          "device": f"{args.device} {DIAGNOSTIC_PRECISION}, "
                                          f"TF32 off", "device_tf32": flags}
        summary["per_minute_cpu_fp32"], summary["per_minute_device_fp32"] = cpu32, dev_fp32
        summary["diagnostic"] = compare(cpu32, dev_fp32, args.tolerance, args.floor)
        summary["verdict"] = ("as shipped: " + ("OK" if ok else "FAILED") + "; fp32 vs fp32: "
                              + ("OK" if summary["diagnostic"]["ok"] else "FAILED"))
        write_json(args.json, summary)
        print(check_line(summary, "diagnostic"), flush=True)
        for line in summary["diagnostic"]["failing"][:6]:
            print(f"  diagnostic over the tolerance: {line}", flush=True)
        print(f"check verdict: {summary['verdict']} (exit status follows as shipped)",
              flush=True)
    if batches:
        speed = dev_analyzer or analyzer(args.device, args.precision)
        summary["throughput_precision"] = speed.classifier.precision  # type: ignore[attr-defined]
        summary["throughput_tf32"] = tf32_flags()
        summary["throughput"] = []

        def sync() -> None:
            if args.device == "cuda":
                torch.cuda.synchronize()

        for b in batches:
            t = throughput(speed, messages, b, args.seconds, pool, sync)
            summary["throughput"].append(t)
            write_json(args.json, summary)
            print(f"analysis path {args.device} ({summary['gpu'] or 'CPU'}, classifier "
                  f"{summary['throughput_precision']}): batch {t['batch']:>4}: "
                  f"{t['frames_per_s']:8.1f} frames/s, {t['faces_per_s']:9.1f} faces/s "
                  f"(decode -> detect -> classify -> aggregate)", flush=True)
    pool.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
