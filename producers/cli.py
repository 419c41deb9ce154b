"""``classpulse produce``: one camera from flags, or many from cameras.yaml, in one process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from classpulse.flags import (
    MAX_FPS,
    MAX_PARTITIONS,
    MIN_FPS,
    camera_fps,
    partition_count,
    positive_int,
    timeout_seconds,
)
from classpulse.settings import Settings
from classpulse.topics import DEFAULT_CONNECT_TIMEOUT_S
from classpulse.wire import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_SIDE
from producers.config import CameraConfig
from producers.publisher import DEFAULT_CLOSE_TIMEOUT_S, DEFAULT_MAX_PENDING

if TYPE_CHECKING:  # the handler imports them: `classpulse --help` stays light
    from producers.camera import CameraResult
    from producers.publisher import Publisher

# the exit status of `classpulse produce` (2: a mistake to fix, said in one line, before anything
# is sent), besides 0 (every camera ended as it should, and every frame of a file or folder
# without --loop reached Kafka)
EXIT_RESTART = 1  # a camera's worker died, or the frames topic went away: a supervisor restarts it
# a file or folder without --loop: frames lost or skipped, the source failed, or the run was
# stopped (SIGINT, SIGTERM) before its end
EXIT_INCOMPLETE = 3


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
                   "every camera of the file, over its own values; a file or folder there needs "
                   "loop: true (send one once with --source)")
    p.add_argument("--fps", type=camera_fps, default=None,
                   help=f"frames per second to publish, {MIN_FPS:.4g} (a frame a minute) to "
                        f"{MAX_FPS:g} ({CameraConfig.fps:g})")
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
    p.add_argument("--partitions", type=partition_count, default=None, metavar="N",
                   help=f"create the topic with this many partitions (1 to {MAX_PARTITIONS}) "
                        "if it does not exist, at start and whenever it goes away while the "
                        "cameras run (without it the "
                        "topic must exist, and its going away stops the producer with status "
                        f"{EXIT_RESTART}: ClassPulse never lets the broker create it with the "
                        "broker's own retention)")
    p.add_argument("--max-pending", type=positive_int, default=DEFAULT_MAX_PENDING,
                   help="unacknowledged frames buffered while the broker is away; more are "
                        "dropped and counted, except a file or folder sent once (without "
                        "--loop), which waits for room while the broker acknowledges frames "
                        f"({DEFAULT_MAX_PENDING})")
    p.add_argument("--connect-timeout", type=timeout_seconds, default=DEFAULT_CONNECT_TIMEOUT_S,
                   metavar="SECONDS", help="give up when Kafka cannot be reached for this long "
                   "at start, to create the topic and to connect, and, while a file or folder "
                   "sent once waits for room (--max-pending), to acknowledge a frame "
                   f"({DEFAULT_CONNECT_TIMEOUT_S:g})")
    p.add_argument("--close-timeout", type=timeout_seconds, default=DEFAULT_CLOSE_TIMEOUT_S,
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
    from classpulse.sources import describe_source
    from producers.config import load_cameras
    from producers.sources import SourceError, check_source, is_live

    given = [f"--{n}" for n in ("source", "camera", "classroom") if getattr(args, n)]
    if args.config and given:
        raise UsageError(f"give either --config FILE or --source/--camera/--classroom, not both "
                         f"(got --config and {', '.join(given)}); a cameras.yaml names each "
                         "camera's source, id and classroom itself")
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
        if args.config and not cam.loop and not is_live(cam.source):
            kind = {"file": "video file", "folder": "folder of images"}[
                describe_source(cam.source)]
            raise UsageError(
                f"{args.config}: camera {cam.id!r}: a {kind} needs loop: true in a camera file "
                "(a supervisor, compose's restart: or systemd, starts the producer again after "
                "any exit, and each start would send it again from its first frame, counted "
                "twice); "
                "set loop: true, or send it once with `classpulse produce --source FILE "
                "--camera ID --classroom ID`")
        if cam.loop and not cam.realtime and not is_live(cam.source):
            where = f"{args.config}: " if args.config else ""
            raise UsageError(
                f"{where}camera {cam.id!r}: a looped {describe_source(cam.source)} with realtime "
                "off is sent as fast as it decodes, hundreds of frames a second, each stamped "
                "with the time it is sent: it would outweigh every other camera of its classroom "
                "for as long as it runs; leave realtime on (the default) to pace it like a live "
                "camera, or send it once, without loop")
    return cameras


def run_produce(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from classpulse.lifecycle import StopFlag
    from classpulse.topics import ensure_topic
    from producers.camera import run_cameras
    from producers.publisher import Publisher
    from producers.topic_watch import TopicWatch

    log = logging.getLogger("producers")
    cameras = cameras_from_args(args)
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.kafka_topic
    if args.partitions:
        ensure_topic(bootstrap, topic, args.partitions, connect_timeout_s=args.connect_timeout)
    watch = TopicWatch(bootstrap, topic, args.partitions or 0,
                       connect_timeout_s=args.connect_timeout)
    publisher = Publisher(bootstrap, topic, max_pending=args.max_pending,
                          connect_timeout_s=args.connect_timeout, on_failure=watch.wake)
    with StopFlag() as stop:
        log.info("producing cameras=%s topic=%s", ",".join(c.id for c in cameras), topic)
        watch.start(stop)
        results = run_cameras(cameras, publisher, stop, camera_file=bool(args.config))
        publisher.close(args.close_timeout)
        found = watch.finish()
    return report(results, publisher, topic_gone=found.gone, topic_vanished=found.vanished)


def report(results: Mapping[str, CameraResult], publisher: Publisher,
           topic_gone: str | None = None, topic_vanished: int = 0) -> int:
    """Print each camera's totals, and return the exit status:

    - :data:`EXIT_RESTART` (1) when a camera's worker died or the topic went away
      (``topic_gone``, :mod:`producers.topic_watch`), so that a supervisor starts it again;
    - else :data:`EXIT_INCOMPLETE` (3) when a camera with an end (a file or folder without
      ``--loop``) did not get every frame to Kafka: frames failed, dropped or left pending, its
      source failed before its end, it was stopped (SIGINT, SIGTERM) before its end, frames were
      skipped for any reason but ``unencodable`` (a deliberate skip, said in its log line: lower
      ``--max-side``), or the topic went away and came back during the run (``topic_vanished``
      times: its frames until then are lost, though the embedded broker acknowledges those sent
      in between); a camera that runs until stopped (live, looped) loses frames in an outage by
      design, counted, and never sets it;
    - else 0.

    ``published``: frames the publisher took; each ended ``sent``, ``failed`` or ``pending``
    (handed to Kafka, not acknowledged when the publisher closed: the broker down at shutdown,
    lost). ``dropped``: frames the publisher did not take (its buffer full, the broker away).
    """
    for camera, r in results.items():
        s = publisher.stats(camera)
        skipped = ",".join(f"{reason}:{n}" for reason, n in sorted(r.skipped.items())) or "0"
        print(f"camera={camera} published={r.published} sent={s.sent} failed={s.failed} "
              f"dropped={s.dropped} skipped={skipped} outages={r.outages} pending={s.pending}",
              flush=True)
    dead = [r for r in results.values() if r.died]
    for r in dead:
        print(f"classpulse produce: camera {r.camera!r} stopped: {r.died}; exiting with status "
              f"{EXIT_RESTART} so that a supervisor restarts the cameras", file=sys.stderr,
              flush=True)
    if topic_gone:
        print(f"classpulse produce: {topic_gone}; exiting with status {EXIT_RESTART}",
              file=sys.stderr, flush=True)
    if dead or topic_gone:
        return EXIT_RESTART
    incomplete = []
    for camera, r in results.items():
        s = publisher.stats(camera)
        if r.source_lost:
            incomplete.append(f"camera {camera!r} stopped before its end: {r.source_lost}")
        elif r.finite and topic_vanished:
            incomplete.append(f"camera {camera!r} lost frames (the frames topic went away and "
                              "was created again during the run)")
        elif r.finite:
            why = []
            if not r.reached_end:
                why.append("was stopped before its end (SIGINT or SIGTERM)")
            if s.failed + s.dropped + s.pending:
                why.append(f"lost frames (failed={s.failed} dropped={s.dropped} "
                           f"pending={s.pending})")
            if lost := r.lost_skips():
                skips = " ".join(f"{reason}={n}" for reason, n in lost.items())
                why.append(f"skipped frames ({skips})")
            if why:
                incomplete.append(f"camera {camera!r} {', '.join(why)}")
    if incomplete:
        print(f"classpulse produce: {'; '.join(incomplete)}; exiting with status "
              f"{EXIT_INCOMPLETE}", file=sys.stderr, flush=True)
        return EXIT_INCOMPLETE
    return 0
