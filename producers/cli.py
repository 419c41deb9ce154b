"""``classpulse produce``: one camera from flags, or many from cameras.yaml, in one process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from classpulse.flags import positive_float, positive_int
from classpulse.settings import Settings
from classpulse.wire import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_SIDE
from producers.config import CameraConfig
from producers.publisher import (
    DEFAULT_CLOSE_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_PENDING,
)

if TYPE_CHECKING:  # the handler imports them: `classpulse --help` stays light
    from producers.camera import CameraResult
    from producers.publisher import Publisher


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "produce",
        help="publish camera frames to Kafka",
        description="Publish frames from a webcam index, an rtsp:// or http(s):// URL, a video "
        "file or a folder of images; --config cameras.yaml runs many cameras in one process.",
    )
    one = p.add_argument_group("one camera")
    one.add_argument("--source", help="webcam index (0), rtsp:// or http(s):// URL, video file, "
                                      "or folder of images")
    one.add_argument("--camera", help="camera id (letters, digits, . _ -)")
    one.add_argument("--classroom", help="classroom id")
    p.add_argument("--config", help="cameras.yaml with many cameras (see README); --fps, "
                   "--max-side, --jpeg-quality, --loop and --realtime, when given, apply to "
                   "every camera of the file, over its own values")
    p.add_argument("--fps", type=float, default=None,
                   help=f"frames per second to publish ({CameraConfig.fps:g})")
    p.add_argument("--max-side", type=int, default=None,
                   help=f"downscale so the longer side is at most this ({DEFAULT_MAX_SIDE})")
    p.add_argument("--jpeg-quality", type=int, default=None,
                   help=f"JPEG quality 10-100 ({DEFAULT_JPEG_QUALITY})")
    p.add_argument("--loop", action=argparse.BooleanOptionalAction, default=None,
                   help="start a file or folder over at its end")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=None,
                   help="pace a file like a live camera (default); --no-realtime sends as fast "
                        "as the broker takes it, each frame stamped when it is sent (on the "
                        "video's own timeline it would run ahead of the clock and consumers "
                        "would refuse it as future)")
    p.add_argument("--partitions", type=int, default=0,
                   help="create the topic with this many partitions if it does not exist "
                        "(without it the topic must exist: ClassPulse never lets the broker "
                        "create it with the broker's own retention)")
    p.add_argument("--max-pending", type=positive_int, default=DEFAULT_MAX_PENDING,
                   help="unacknowledged frames buffered while the broker is away; more are "
                        f"dropped and counted ({DEFAULT_MAX_PENDING})")
    p.add_argument("--connect-timeout", type=positive_float, default=DEFAULT_CONNECT_TIMEOUT_S,
                   metavar="SECONDS", help="give up when Kafka cannot be reached for this long "
                   f"at start ({DEFAULT_CONNECT_TIMEOUT_S:g})")
    p.add_argument("--close-timeout", type=positive_float, default=DEFAULT_CLOSE_TIMEOUT_S,
                   metavar="SECONDS", help="at exit, wait this long for Kafka to acknowledge the "
                   "frames in flight; those it did not are reported as pending "
                   f"({DEFAULT_CLOSE_TIMEOUT_S:g})")
    p.set_defaults(handler=run_produce)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """The camera options given as flags (their default None means not given): they win over
    cameras.yaml, so they cannot default to a value."""
    names = ("fps", "max_side", "jpeg_quality", "loop", "realtime")
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def cameras_from_args(args: argparse.Namespace) -> list[CameraConfig]:
    from classpulse.errors import UsageError
    from producers.config import load_cameras
    from producers.sources import SourceError, check_source

    if args.config and args.source:
        raise UsageError("give either --config FILE or --source/--camera/--classroom, not both")
    if args.config:
        cameras = load_cameras(args.config, overrides=_overrides(args))
    else:
        missing = [f"--{n}" for n in ("source", "camera", "classroom") if not getattr(args, n)]
        if missing:
            raise UsageError(f"missing {', '.join(missing)} (or give --config cameras.yaml)")
        cameras = [CameraConfig(id=args.camera, classroom=args.classroom, source=args.source,
                                **_overrides(args))]
    for cam in cameras:
        try:
            check_source(cam.source)
        except SourceError as exc:
            raise UsageError(f"camera {cam.id!r}: {exc}") from None
    return cameras


def run_produce(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from classpulse.lifecycle import StopFlag
    from classpulse.topics import ensure_topic
    from producers.camera import run_cameras
    from producers.publisher import Publisher

    log = logging.getLogger("producers")
    cameras = cameras_from_args(args)
    if args.partitions:
        ensure_topic(settings.kafka_bootstrap_servers, settings.kafka_topic, args.partitions)
    publisher = Publisher(settings.kafka_bootstrap_servers, settings.kafka_topic,
                          max_pending=args.max_pending, connect_timeout_s=args.connect_timeout)
    with StopFlag() as stop:
        log.info("producing cameras=%s topic=%s", ",".join(c.id for c in cameras),
                 settings.kafka_topic)
        results = run_cameras(cameras, publisher, stop)
        publisher.close(args.close_timeout)
    return report(results, publisher)


def report(results: Mapping[str, CameraResult], publisher: Publisher) -> int:
    """Print each camera's totals; the exit status: 1 when a camera's worker died, else 0.

    ``pending``: frames handed to Kafka that it had not acknowledged when the publisher closed
    (the broker down at shutdown), lost.
    """
    for camera, r in results.items():
        s = publisher.stats(camera)
        skipped = ",".join(f"{reason}:{n}" for reason, n in sorted(r.skipped.items())) or "0"
        print(f"camera={camera} published={r.published} sent={s.sent} failed={s.failed} "
              f"dropped={s.dropped} skipped={skipped} outages={r.outages} pending={s.pending}",
              flush=True)
    dead = [r for r in results.values() if r.died]
    for r in dead:
        print(f"classpulse produce: camera {r.camera!r} stopped: {r.died}; exiting with status 1 "
              "so that a supervisor restarts the cameras", file=sys.stderr, flush=True)
    return 1 if dead else 0
