"""The consumer's analysis path on a GPU, checked against the CPU path and timed.

Run by scripts/gpu_measure.sh (one device call); also runs on a CPU (``--device cpu --frames 8``)
so that every line of it has been tried before a GPU session spends time on it.

1. The crowd video goes through the producer's encoding (``encode_frame``: its default 1920-px
   side, JPEG) and the consumer's decoding, with capture times 2 s apart (four cameras' worth of
   minutes).
2. Check: decode -> detect -> classify -> aggregate on the CPU and on ``--device``, the
   per-minute counts of the two compared (faces, frames with faces, faces per top emotion).
3. Speed: the same path on ``--device`` flat out over the frames again and again, batches of
   ``--batch-frames``, decoding in a thread pool as the consumer does, for ``--seconds``.

Writes a JSON summary to ``--json`` and prints a table; exit status 1 if the check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS, EMOTIONS  # noqa: E402
from classpulse.settings import Settings  # noqa: E402
from classpulse.wire import decode_jpeg, encode_frame, parse_message  # noqa: E402
from consumers.aggregate import MinuteAggregator  # noqa: E402
from consumers.analyze import FrameAnalyzer  # noqa: E402
from model.detector import frames_from_video  # noqa: E402

START_MS = 1_767_000_000_000  # a minute boundary in 2025
TOLERANCE = 0.02


def encoded_messages(video: Path, n: int) -> list:
    """The video's first ``n`` frames as the consumer receives them (parsed wire messages)."""
    out = []
    for seq, rgb in enumerate(frames_from_video(str(video), n)):
        key, value, headers = encode_frame(rgb, camera="cam-1", classroom="room-1",
                                           captured_at_ms=START_MS + 2000 * seq, seq=seq)
        out.append(parse_message(key, value, headers))
    return out


def per_minute(analyzer: FrameAnalyzer, messages: list, batch: int,
               pool: ThreadPoolExecutor) -> dict[str, dict[str, int]]:
    agg = MinuteAggregator([DEFAULT_ENGAGEMENT_WEIGHTS[e] for e in EMOTIONS])
    for i in range(0, len(messages), batch):
        chunk = messages[i:i + batch]
        frames = list(pool.map(decode_jpeg, chunk))
        for m, reading in zip(chunk, analyzer.analyze(frames), strict=True):
            agg.add_frame(m.camera, m.classroom, m.captured_at_ms, reading)
    return {row.minute_start.isoformat(): {"frames": row.frames,
                                          "frames_with_faces": row.frames_with_faces,
                                          "faces": row.faces,
                                          "faces_read": row.faces_read,
                                          **{f"n_{e}": n for e, n in zip(EMOTIONS, row.n,
                                                                         strict=True)}}
            for row in agg.rows()}


def compare(cpu: dict, dev: dict) -> dict:
    """Per minute: faces and frames with faces within 2%; faces whose top emotion differs (sum of
    per-emotion count differences / 2) within 2% of the minute's faces."""
    worst = {"faces": 0.0, "frames_with_faces": 0.0, "emotion_moved": 0.0}
    for minute, a in cpu.items():
        b = dev.get(minute, {})
        for k in ("faces", "frames_with_faces"):
            worst[k] = max(worst[k], abs(a[k] - b.get(k, 0)) / max(a[k], 1))
        moved = sum(abs(a[f"n_{e}"] - b.get(f"n_{e}", 0)) for e in EMOTIONS) / 2
        worst["emotion_moved"] = max(worst["emotion_moved"], moved / max(a["faces"], 1))
    worst["same_minutes"] = float(set(cpu) == set(dev))
    worst["ok"] = float(set(cpu) == set(dev) and max(worst["faces"], worst["frames_with_faces"],
                                                      worst["emotion_moved"]) <= TOLERANCE)
    return worst


def throughput(analyzer: FrameAnalyzer, messages: list, batch: int, seconds: float,
               pool: ThreadPoolExecutor, sync) -> dict:
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--faces-dir", default=str(REPO.parent / "shared" / "data" / "faces"))
    p.add_argument("--frames", type=int, default=105, help="video frames for the check (105)")
    p.add_argument("--batch-frames", default="32,128", help="batch sizes timed (32,128)")
    p.add_argument("--seconds", type=float, default=20.0, help="time per batch size (20)")
    p.add_argument("--json", default=None, help="write the summary here")
    args = p.parse_args(argv)

    import torch

    video = Path(args.faces_dir) / "crowd-1080p-25fps.mp4"
    if not video.is_file():
        print(f"gpu_measure: {video} not found; pass --faces-dir", file=sys.stderr)
        return 2
    messages = encoded_messages(video, args.frames)
    summary: dict = {"device": args.device, "frames": len(messages),
                     "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                     "torch": torch.__version__, "cpu_threads": torch.get_num_threads()}
    pool = ThreadPoolExecutor(8)
    t0 = time.perf_counter()
    cpu = per_minute(FrameAnalyzer.load(Settings(device="cpu")), messages, 16, pool)
    summary["cpu_path_s"] = round(time.perf_counter() - t0, 1)
    analyzer = FrameAnalyzer.load(Settings(device=args.device))
    summary["precision"] = analyzer.classifier.precision  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    dev = per_minute(analyzer, messages, 32, pool)
    summary["device_path_s"] = round(time.perf_counter() - t0, 1)
    summary["per_minute_cpu"], summary["per_minute_device"] = cpu, dev
    summary["check"] = compare(cpu, dev)

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    summary["throughput"] = [throughput(analyzer, messages, int(b), args.seconds, pool, sync)
                             for b in args.batch_frames.split(",") if b.strip()]
    pool.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    c = summary["check"]
    print(f"check {args.device} vs cpu on {len(messages)} frames, {len(cpu)} minutes: "
          f"{'OK' if c['ok'] else 'FAILED'} (worst minute: faces {c['faces']:.1%}, frames with "
          f"faces {c['frames_with_faces']:.1%}, top emotion moved {c['emotion_moved']:.1%}; "
          f"faces cpu {sum(m['faces'] for m in cpu.values())} "
          f"{args.device} {sum(m['faces'] for m in dev.values())})")
    for t in summary["throughput"]:
        print(f"analysis path {args.device} ({summary['gpu'] or 'CPU'}, classifier "
              f"{summary['precision']}): batch {t['batch']:>4}: {t['frames_per_s']:8.1f} frames/s, "
              f"{t['faces_per_s']:9.1f} faces/s (decode -> detect -> classify -> aggregate)")
    return 0 if c["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
