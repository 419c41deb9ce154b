"""``classpulse bench model``: classifier faces/s per batch size, plain and with flip TTA (what the
consumers run) side by side; detector frames/s on real media, ours and facenet-pytorch's stock
MTCNN side by side on the same frames with the same settings.

Whatever is compared is timed in turn, round by round, and the median reported: on a shared
machine speeds move 2-3x within minutes, and only measurements taken side by side compare.

A benchmark, not a test: numbers go to stdout (and docs/benchmarks.md), never into assertions.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from classpulse.flags import add_device_flag, positive_float, positive_int, positive_ints
from classpulse.machine import describe_machine

if TYPE_CHECKING:
    import numpy as np

    from classpulse.settings import Settings
    from model.detector import DetectorConfig

MIN_DETECTOR_SIDE = 64  # DetectorConfig's least max_side
DEFAULT_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("model", help="emotion classifier and face detector throughput",
                              description="Classifier faces/s at several batch sizes, plain and "
                              "+flip (flip TTA, what the consumers run) timed in turn, and "
                              "detector frames/s on the crowd video and the group photo, ours and "
                              "stock MTCNN's timed in turn, on CPU and CUDA; medians of "
                              "--rounds rounds.")
    p.add_argument("--batch-sizes", type=positive_ints, default=[1, 8, 32, 128, 512],
                   help="comma-separated classifier batch sizes (default 1,8,32,128,512)")
    p.add_argument("--size", type=positive_int, default=48, help="side of the synthetic face crops")
    p.add_argument("--seconds", type=positive_float, default=3.0,
                   help="classifier: time per precision, batch size and path (plain or +flip), "
                   "spread over the --rounds turns (default 3)")
    p.add_argument("--faces-dir", default=str(DEFAULT_FACES),
                   help="folder with crowd-1080p-25fps.mp4 and group-6-faces.jpg")
    p.add_argument("--frames", type=positive_int, default=16, help="video frames to detect on")
    p.add_argument("--detector-sides", type=detector_sides, default=[1920, 960, 640],
                   help="comma-separated widths the crowd video is shrunk to before detecting, "
                   f"each {MIN_DETECTOR_SIDE} or more (default 1920,960,640)")
    p.add_argument("--rounds", type=positive_int, default=3,
                   help="interleaved timing rounds: plain and +flip per classifier measurement, "
                   "ours and stock per detector comparison; the median is printed (default 3)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: all)")
    p.add_argument("--skip-detector", action="store_true")
    p.add_argument("--skip-classifier", action="store_true")
    add_device_flag(p, help="auto: CPU, and CUDA too when present")
    p.set_defaults(handler=run_bench)


def bench_classifier(device: str, precisions: list[str], batch_sizes: list[int], size: int,
                     seconds: float, rounds: int) -> None:
    """Each precision and batch size plain and +flip, timed in turn (``_interleaved``): the
    consumers run flip TTA (``DEFAULT_TTA``), and plain is what the network alone costs; one
    line each, the shipped path marked."""
    import numpy as np
    import torch

    from classpulse.errors import UsageError
    from model.classifier import DEFAULT_TTA, EmotionClassifier

    shipped = EmotionClassifier(device=device).precision  # what "auto" picks on this device
    paths = {"plain": False, "+flip": True}
    print(f"classifier: faces/s, median of {rounds} rounds timing plain and +flip in turn (each "
          f"turn {seconds / rounds:.2g} s); * = what the consumers run ({shipped}, "
          f"{'+flip' if DEFAULT_TTA else 'plain'})", flush=True)
    rng = np.random.default_rng(0)
    for precision in precisions:
        try:
            clf = EmotionClassifier(device=device, precision=precision)
        except UsageError as exc:
            print(f"classifier  {device:<4} {precision:<4} skipped: {exc}")
            continue
        for bs in batch_sizes:
            faces = list(rng.integers(0, 256, (bs, size, size, 3), dtype=np.uint8))
            steps = {}
            for name, tta in paths.items():

                def step(faces=faces, clf=clf, tta=tta) -> None:
                    clf.predict(faces, tta=tta)
                    if clf.device.type == "cuda":
                        torch.cuda.synchronize()

                steps[name] = step
            rates = _interleaved(steps, bs, rounds, turn_s=seconds / rounds)
            cells = []
            for name, tta in paths.items():
                mark = "*" if precision == shipped and tta == DEFAULT_TTA else " "
                cells.append(f"{name:>5}{mark} {rates[name]:9.1f} faces/s")
            print(f"classifier  {device:<4} {precision:<4} batch {bs:>4}  " + " | ".join(cells)
                  + f" | +flip/plain x{rates['+flip'] / rates['plain']:.2f}", flush=True)


def _preset_configs(side: int) -> dict[str, DetectorConfig]:
    """``mtcnn``: MTCNN's own defaults on the frame as it is; ``classpulse``: our defaults (which
    shrink frames to 640 px)."""
    from model.detector import DetectorConfig

    return {"mtcnn": DetectorConfig(max_side=side, min_face_size=20, thresholds=(0.6, 0.7, 0.7)),
            "classpulse": DetectorConfig()}


def _interleaved(fns: dict[str, Callable[[], object]], items: int, rounds: int,
                 turn_s: float = 0.0) -> dict[str, float]:
    """Median items/s of each function, timed in turn round by round (A B A B ...), after one
    warm-up call each: a busy machine slows both sides alike, so their ratio survives it.

    A turn is one call, or as many calls as fill ``turn_s`` (a batch of one face takes
    milliseconds, too short for one call's time to mean much); its time per call counts."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            calls, start = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= turn_s:
                    break
            times[name].append(elapsed / calls)
    return {name: items / statistics.median(t) for name, t in times.items()}


def detector_sides(text: str) -> list[int]:
    """``--detector-sides``: widths of at least :data:`MIN_DETECTOR_SIDE` px (the detector's
    least ``max_side``)."""
    sides = positive_ints(text)
    small = [side for side in sides if side < MIN_DETECTOR_SIDE]
    if small:
        raise argparse.ArgumentTypeError(
            f"{small[0]} px is below the detector's least side of {MIN_DETECTOR_SIDE}; give "
            f"widths of {MIN_DETECTOR_SIDE} or more, e.g. 1920,960,640")
    return sides


def load_detector_media(faces_dir: Path, n_frames: int
                        ) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The crowd video's first ``n_frames`` frames and the group photo, read before any timing;
    None (said in a line) when the folder lacks them. Media that cannot be read is a
    UsageError naming the file."""
    from classpulse.errors import UsageError
    from model.detector import frames_from_video, read_rgb

    video = faces_dir / "crowd-1080p-25fps.mp4"
    photo = faces_dir / "group-6-faces.jpg"
    if not video.is_file() or not photo.is_file():
        print(f"detector: skipped, {video.name} / {photo.name} not found in {faces_dir}")
        return None
    full = frames_from_video(str(video), n_frames)
    if not full:
        raise UsageError(f"--faces-dir: no frame could be read from {video}; give a folder "
                         "whose crowd-1080p-25fps.mp4 is a playable video")
    try:
        group = read_rgb(str(photo))
    except ValueError:
        raise UsageError(f"--faces-dir: {photo} cannot be read as an image; give a folder whose "
                         "group-6-faces.jpg is a JPEG photo") from None
    if group.shape[1] < MIN_DETECTOR_SIDE:
        raise UsageError(f"--faces-dir: {photo} is {group.shape[1]} px wide, below the "
                         f"detector's least side of {MIN_DETECTOR_SIDE}; give a wider photo")
    return full, group


def bench_detector(device: str, media: tuple[list[np.ndarray], np.ndarray], sides: list[int],
                   rounds: int) -> None:
    """Ours and facenet-pytorch's stock MTCNN side by side, same settings, same frames."""
    import cv2

    from model.detector import FaceDetector
    from model.stock import StockDetector, match_faces

    full, group = media
    print("detector: frames/s (median of interleaved rounds), faces per frame; 'matched' = "
          "stock's faces that ours finds with IoU >= 0.9")
    for side in sides:
        h, w = full[0].shape[:2]
        size = (side, round(h * side / w))
        frames = full if side == w else [cv2.resize(f, size, interpolation=cv2.INTER_AREA)
                                         for f in full]
        runners: dict[str, Callable[[], object]] = {}
        found: dict[str, list] = {}
        for name, cfg in _preset_configs(side).items():
            ours = FaceDetector(cfg, device=device)
            detectors = [("stock", StockDetector(cfg, device=device)), ("ours", ours)]
            if name == "mtcnn" and ours.workers > 1:
                # how much of ours' speed is two frames at once, and how much the pipeline
                detectors.append(("ours1", FaceDetector(replace(cfg, frame_workers=1),
                                                        device=device)))
            for who, det in detectors:

                def run(det=det, key=f"{who} {name}", frames=frames, found=found) -> None:
                    found[key] = det.detect(frames)
                    if device == "cuda":
                        import torch

                        torch.cuda.synchronize()

                runners[f"{who} {name}"] = run
        rates = _interleaved(runners, len(frames), rounds)
        for name, cfg in _preset_configs(side).items():
            a, b = found[f"stock {name}"], found[f"ours {name}"]
            n_a, n_b = sum(len(d) for d in a), sum(len(d) for d in b)
            ious = [iou for x, y in zip(a, b, strict=True) for _, _, iou in match_faces(x, y)]
            matched = sum(iou >= 0.9 for iou in ious)
            r_a, r_b = rates[f"stock {name}"], rates[f"ours {name}"]
            one = rates.get(f"ours1 {name}")
            alone = "" if one is None else f" (one frame at a time: x{one / r_a:.2f})"
            print(f"detector    {device:<4} crowd {size[0]}x{size[1]} {name:<10} (min face "
                  f"{cfg.min_face_size}, thresholds {cfg.thresholds}, side {cfg.max_side}): "
                  f"stock {r_a:6.2f} frames/s {n_a / len(a):5.2f} faces/frame | ours {r_b:6.2f} "
                  f"frames/s {n_b / len(b):5.2f} faces/frame | x{r_b / r_a:.2f}{alone}, "
                  f"matched {matched}/{n_a}", flush=True)
        ours_defaults = found["ours classpulse"]
        print(f"detector    {device:<4} crowd {size[0]}x{size[1]} our defaults vs stock MTCNN's: "
              f"{sum(map(len, ours_defaults)) / len(frames):.2f} vs "
              f"{sum(map(len, found['stock mtcnn'])) / len(frames):.2f} faces/frame at "
              f"x{rates['ours classpulse'] / rates['stock mtcnn']:.2f} the frames/s", flush=True)
    cfg = _preset_configs(group.shape[1])["mtcnn"]
    ours, stock = FaceDetector(cfg, device=device), StockDetector(cfg, device=device)
    rates = _interleaved({"stock": lambda: stock.detect([group]),
                          "ours": lambda: ours.detect([group])}, 1, rounds)
    (a,), (b,) = stock.detect([group]), ours.detect([group])
    matched = sum(iou >= 0.9 for _, _, iou in match_faces(a, b))
    print(f"detector    {device:<4} group photo {group.shape[1]}x{group.shape[0]} mtcnn: stock "
          f"{rates['stock']:6.2f} frames/s {len(a)} faces | ours {rates['ours']:6.2f} frames/s "
          f"{len(b)} faces | x{rates['ours'] / rates['stock']:.2f}, matched {matched}/{len(a)}",
          flush=True)


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = settings.device
    devices = ["cpu", "cuda"] if device == "auto" and torch.cuda.is_available() else (
        ["cpu"] if device == "auto" else [device])
    media = None if args.skip_detector else load_detector_media(Path(args.faces_dir),
                                                                  args.frames)
    print(describe_machine().text())
    for dev in devices:
        if not args.skip_classifier:
            precisions = ["fp16"] if dev == "cuda" else ["fp32", "bf16", "int8"]
            bench_classifier(dev, precisions, args.batch_sizes, args.size, args.seconds,
                             args.rounds)
        if media is not None:
            bench_detector(dev, media, args.detector_sides, args.rounds)
    return 0
