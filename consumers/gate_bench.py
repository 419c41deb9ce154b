"""``classpulse bench gate``: the readability gate on the crowd video, through the wire.

For each detection side, the same frames go through the consumer's analysis twice, with the
measured gate and with an open one (every face read, as before the gate), on the same detections:
faces found, faces read, refusals per reason, the emotion mix of both (so the gate's own effect on
the mix shows), and the time. The frames go in batches of --batch-frames through one detector call
each, as a consumer hands a batch to ``FrameAnalyzer.analyze`` (on a CPU the detector then works on
two frames at once), and the detection sides take turns batch by batch. The gate's own cost (pose
from the landmarks and the checks) is timed on the same detections and set against the analysis
time of the gated path.

A benchmark, not a test: numbers go to stdout (and docs/benchmarks.md), never into assertions.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from classpulse.emotions import EMOTIONS
from classpulse.flags import add_device_flag, positive_int, positive_ints
from classpulse.wire import DEFAULT_MAX_SIDE

if TYPE_CHECKING:
    from classpulse.settings import Settings
    from consumers.analyze import FrameAnalyzer
    from consumers.gate import FrameReading

DEFAULT_VIDEO = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
                 / "crowd-1080p-25fps.mp4")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="the readability gate: faces read, its effect on the emotion "
                       "mix, its cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=str(DEFAULT_VIDEO), help="video file (the crowd video)")
    p.add_argument("--frames", type=positive_int, default=12, help="frames, spread over the video")
    p.add_argument("--max-side", type=positive_int, default=DEFAULT_MAX_SIDE,
                   help="the producer's --max-side the frames cross the wire at")
    p.add_argument("--detect-sides", type=positive_ints, default=[640, 960],
                   help="comma-separated FaceDetector max_side values to compare, besides the "
                   "consumer's own (640, never shrinking a readable face below the detector's "
                   "smallest)")
    p.add_argument("--batch-frames", type=positive_int, default=4,
                   help="frames per analysis call, as a consumer's batch (default 4: two per "
                   "detector frame worker, and three turns of each side over the default 12 "
                   "frames)")
    add_device_flag(p)
    p.set_defaults(handler=run_bench)


def wire_frames(video: str, n: int, max_side: int) -> list[np.ndarray]:
    """``n`` frames spread over the video, as a consumer decodes them after the producer's
    ``max_side`` and JPEG."""
    import cv2

    from classpulse.wire import decode_jpeg, encode_frame, parse_message

    capture = cv2.VideoCapture(video)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    out = []
    for seq, index in enumerate(np.linspace(0, max(total - 1, 0), n).round().astype(int)):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, bgr = capture.read()
        if not ok:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        key, value, headers = encode_frame(rgb, camera="bench", classroom="bench",
                                           captured_at_ms=1_767_000_000_000 + seq, seq=seq,
                                           max_side=max_side)
        out.append(decode_jpeg(parse_message(key, value, headers)))
    capture.release()
    return out


@dataclass
class GateEffect:
    """What the gate did to a set of frames: counts, both emotion mixes, and times (s)."""

    faces: int = 0
    read: int = 0
    refused: np.ndarray = field(default_factory=lambda: np.zeros(3, np.int64))
    n_all: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS), np.int64))
    n_read: np.ndarray = field(default_factory=lambda: np.zeros(len(EMOTIONS), np.int64))
    analysis_s: float = 0.0
    gate_s: float = 0.0

    def add(self, gated: FrameReading, open_: FrameReading) -> None:
        self.faces += open_.faces
        self.read += len(gated.probs)
        self.refused += np.asarray(gated.refused)
        self.n_all += np.bincount(open_.probs.argmax(axis=1), minlength=len(EMOTIONS))
        self.n_read += np.bincount(gated.probs.argmax(axis=1), minlength=len(EMOTIONS))

    def mix_shift(self) -> np.ndarray:
        """Per emotion, the read faces' share minus all faces' share, in points."""
        all_share = self.n_all / max(self.n_all.sum(), 1)
        read_share = self.n_read / max(self.n_read.sum(), 1)
        return (read_share - all_share) * 100


def gate_effect(gated: FrameAnalyzer, open_: FrameAnalyzer, frames: list[np.ndarray],
                effect: GateEffect) -> None:
    """Add to ``effect`` both analyzers on the same detections of ``frames`` (one detector call
    for them all, as ``FrameAnalyzer.analyze`` makes for a consumer's batch; the open path reuses
    them, so the comparison is the gate's alone), with the gated path's analysis time (detection
    and reading: what ``analyze`` does) and the gate's own time (pose and checks) on those
    detections; a run adds batch after batch to one effect per detection side."""
    from consumers.gate import judge_confidence, judge_detection, judge_geometry
    from model import head_pose

    start = time.perf_counter()
    found = gated.detector.detect(list(frames))
    readings = gated.read(frames, found)
    effect.analysis_s += time.perf_counter() - start
    everything = open_.read(frames, found)
    for reading, open_reading in zip(readings, everything, strict=True):
        effect.add(reading, open_reading)
    start = time.perf_counter()
    for frame, detections, open_reading in zip(frames, found, everything, strict=True):
        judge_geometry(detections.boxes, head_pose(detections.landmarks), gated.gate)
        judge_detection(detections.scores, detections.landmarks, frame.shape[:2], gated.gate)
        judge_confidence(open_reading.probs, gated.gate)
    effect.gate_s += time.perf_counter() - start


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.analyze import FrameAnalyzer, detector_config
    from consumers.gate import GateConfig
    from model import DetectorConfig, EmotionClassifier, FaceDetector, detection_scale

    device = args.device or settings.device
    frames = wire_frames(args.video, args.frames, args.max_side)
    if not frames:
        from classpulse.errors import UsageError

        raise UsageError(f"no frames could be read from --video {args.video}; give a video file")
    h, w = frames[0].shape[:2]
    gate = GateConfig.from_settings(settings)
    print(f"{len(frames)} frames of {args.video}, {w}x{h} after the wire (--max-side "
          f"{args.max_side}), analysed {args.batch_frames} at a time; gate {gate}")
    classifier = EmotionClassifier(settings.model_weights, device=device)
    configs = [("consumer's", detector_config(settings))]
    configs += [(str(side), DetectorConfig(max_side=side)) for side in args.detect_sides]
    runs = []
    for name, config in configs:
        side = round(max(h, w) * detection_scale(config, (h, w)))
        detector = FaceDetector(config, device=device)
        gated = FrameAnalyzer(detector, classifier, gate)
        gated.analyze(frames[:args.batch_frames])  # warm-up outside the timing
        runs.append((name, side, gated, FrameAnalyzer(detector, classifier, GateConfig.open()),
                     GateEffect()))
    for start in range(0, len(frames), args.batch_frames):  # the sides in turn, batch by batch
        batch = frames[start:start + args.batch_frames]
        for _, _, gated, open_, effect in runs:
            gate_effect(gated, open_, batch, effect)
    for name, side, _, _, effect in runs:
        shift = effect.mix_shift()
        refused = ", ".join(f"{reason} {n}" for reason, n in
                            zip(("small", "turned", "uncertain"), effect.refused, strict=True))
        print(f"\ndetection side {side} ({name}): {effect.faces} faces, {effect.read} read "
              f"({effect.read / max(effect.faces, 1):.0%}); refused: {refused}")
        print("  mix all faces : " + " ".join(
            f"{e} {n / max(effect.n_all.sum(), 1):.0%}" for e, n in zip(EMOTIONS, effect.n_all,
                                                                        strict=True)))
        print("  mix read faces: " + " ".join(
            f"{e} {n / max(effect.n_read.sum(), 1):.0%}" for e, n in zip(EMOTIONS, effect.n_read,
                                                                         strict=True)))
        print(f"  largest shift {np.abs(shift).max():.1f} points ("
              + ", ".join(f"{e} {s:+.1f}" for e, s in zip(EMOTIONS, shift, strict=True)) + ")")
        # two significant digits: a dozen frames' gate takes a few milliseconds in all, so
        # more would be noise, and fixed decimals print 0.00% for a share this small
        print(f"  analysis {effect.analysis_s / len(frames) * 1000:.0f} ms/frame, gate "
              f"{effect.gate_s / len(frames) * 1000:.2g} ms/frame "
              f"({effect.gate_s / effect.analysis_s * 100:.2g}% of the analysis)")
    return 0
