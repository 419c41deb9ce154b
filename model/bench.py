"""``classpulse bench model``: classifier faces/s per batch size, detector frames/s on real media.

A benchmark, not a test: numbers go to stdout (and docs/benchmarks.md), never into assertions.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from classpulse.settings import Settings

DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("model", help="emotion classifier and face detector throughput",
                              description="Classifier faces/s at several batch sizes and detector "
                              "frames/s on the crowd video and the group photo, on CPU and CUDA.")
    p.add_argument("--batch-sizes", default="1,8,32,128,512",
                   help="comma-separated classifier batch sizes")
    p.add_argument("--size", type=int, default=48, help="side of the synthetic face crops")
    p.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    p.add_argument("--faces-dir", default=str(DEFAULT_FACES),
                   help="folder with crowd-1080p-25fps.mp4 and group-6-faces.jpg")
    p.add_argument("--frames", type=int, default=48, help="video frames to detect on")
    p.add_argument("--max-side", type=int, default=960, help="detector's maximum detection side")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    p.add_argument("--skip-detector", action="store_true")
    p.add_argument("--skip-classifier", action="store_true")
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                   help="auto: CPU, and CUDA too when present")
    p.set_defaults(handler=run_bench)


def describe_machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    text = (f"CPU: {cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads)")
    if torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    return text


def _rate(fn, items: int, seconds: float) -> float:
    """items per second of ``fn``, after one warm-up call, over at least ``seconds``."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n * items / elapsed


def bench_classifier(device: str, precisions: list[str], batch_sizes: list[int], size: int,
                     seconds: float) -> None:
    import numpy as np
    import torch

    from classpulse.errors import UsageError
    from model.classifier import EmotionClassifier

    rng = np.random.default_rng(0)
    for precision in precisions:
        try:
            clf = EmotionClassifier(device=device, precision=precision)
        except UsageError as exc:
            print(f"classifier  {device:<4} {precision:<4} skipped: {exc}")
            continue
        for bs in batch_sizes:
            faces = list(rng.integers(0, 256, (bs, size, size, 3), dtype=np.uint8))

            def step(faces=faces, clf=clf) -> None:
                clf.predict(faces)
                if clf.device.type == "cuda":
                    torch.cuda.synchronize()

            rate = _rate(step, bs, seconds)
            print(f"classifier  {device:<4} {precision:<4} batch {bs:>4}  {rate:>9.1f} faces/s",
                  flush=True)


def bench_detector(device: str, faces_dir: Path, n_frames: int, max_side: int,
                   seconds: float) -> None:
    from model.detector import DetectorConfig, FaceDetector, frames_from_video, read_rgb

    video = faces_dir / "crowd-1080p-25fps.mp4"
    photo = faces_dir / "group-6-faces.jpg"
    if not video.is_file() or not photo.is_file():
        print(f"detector: skipped, {video.name} / {photo.name} not found in {faces_dir}")
        return
    frames = frames_from_video(str(video), n_frames)
    group = read_rgb(str(photo))
    presets = {"default": DetectorConfig(max_side=max_side),
               "pnet0.7": DetectorConfig(max_side=max_side, thresholds=(0.7, 0.7, 0.7)),
               "min20": DetectorConfig(max_side=max_side, min_face_size=20)}
    for name, cfg in presets.items():
        det = FaceDetector(cfg, device=device)
        found: list[int] = []

        def run_video(det=det, found=found) -> None:
            found[:] = [len(d) for d in det.detect(frames)]

        rate = _rate(run_video, len(frames), seconds)
        faces = sum(found) / len(found)
        print(f"detector    {device:<4} {name:<8} crowd video {frames[0].shape[1]}x"
              f"{frames[0].shape[0]} -> side {max_side}: {rate:6.2f} frames/s "
              f"({faces:.1f} faces/frame)", flush=True)
        n = len(det.detect([group])[0])
        rate = _rate(lambda det=det: det.detect([group]), 1, seconds)
        print(f"detector    {device:<4} {name:<8} group photo {group.shape[1]}x{group.shape[0]}: "
              f"{rate:6.2f} frames/s ({n} faces)", flush=True)


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = settings.device
    devices = ["cpu", "cuda"] if device == "auto" and torch.cuda.is_available() else (
        ["cpu"] if device == "auto" else [device])
    print(describe_machine())
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    for dev in devices:
        if not args.skip_classifier:
            precisions = ["fp16"] if dev == "cuda" else ["fp32", "bf16", "int8"]
            bench_classifier(dev, precisions, sizes, args.size, args.seconds)
        if not args.skip_detector:
            bench_detector(dev, Path(args.faces_dir), args.frames, args.max_side, args.seconds)
    return 0
