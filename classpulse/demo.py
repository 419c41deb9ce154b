"""``classpulse demo``: the whole system on one machine, on embedded defaults.

Starts (unless configured otherwise) the embedded broker, migrates the SQLite database, then runs
the demo cameras, one consumer and the dashboard as child processes of this one, and prints the
dashboard's address. Ctrl-C (or ``--duration``, or a child or the broker that dies) stops every
child; none is left running, and the demo exits 1 if any of them ended with an error. Killed
outright (SIGKILL), the demo runs no code: on Linux its children then get a SIGTERM from the
kernel (:func:`classpulse.processes.start_child`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from classpulse import broker
from classpulse.flags import (
    DASHBOARD_HOST,
    DASHBOARD_PORT,
    MAX_FPS,
    MIN_FPS,
    add_device_flag,
    camera_fps,
    port,
    positive_float,
)
from classpulse.lifecycle import StopFlag
from classpulse.processes import (
    STOP_TIMEOUT_S,
    check_port_free,
    classpulse_command,
    start_child,
    stop_child,
)
from classpulse.settings import Settings, child_environment

if TYPE_CHECKING:
    from classpulse.broker import EmbeddedBroker

log = logging.getLogger(__name__)

DEMO_CLASSROOM = "demo-7B"
# the classroom of synthetic cameras: its frames say SYNTHETIC in their pixels, which no page
# shows, so the name a teacher reads in the dashboard's title and sidebar says it instead
SYNTHETIC_CLASSROOM = "demo-SYNTHETIC"
# The demo's cameras send half a camera's default rate (producers.config.CameraConfig.fps, 2): the
# demo runs its cameras and the consumer on one machine, a laptop's CPU as often as not, where a
# CPU consumer analyses a few frames a second at best (README.md, "Sizing"); 1 fps halves its
# work and still gives every minute 60 frames a camera.
DEMO_FPS = 1.0
# How long each process may take to stop after its SIGTERM before it (and its process group) is
# killed, in the order they stop: the cameras stop their workers and wait for the frames in flight
# (as compose's stop_grace_period of 45 s); the consumer finishes the batch under way and writes
# its last counts and offsets (compose: 60 s), which a busy two-core machine can take well over
# 10 s to do; the dashboard stops its Streamlit child, which it kills after its own timeout, so it
# gets longer than that (with equal ones, Streamlit could outlive it, holding the port); the
# embedded broker last.
STOP_TIMEOUTS_S = {"cameras": 45.0, "consumer": 60.0, "dashboard": STOP_TIMEOUT_S + 5.0,
                   "broker": broker.STOP_TIMEOUT_S}

# The exit statuses of a process that stopped as asked: 0, its own clean exit, or death by the
# SIGTERM itself, which a child gets when it is stopped before it installed its handler
# (classpulse.lifecycle.StopFlag), that is, before it started any work it could lose. Anything
# else (an error on the way out, the SIGKILL after its timeout) makes the demo fail.
CLEAN_STOP = (0, -signal.SIGTERM)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run everything on embedded defaults: broker, SQLite, cameras, consumer, dashboard",
        description="Run ClassPulse end to end on this machine. Uses the webcam when one is "
        "present, otherwise a clearly labelled synthetic classroom built from real face "
        "photographs shipped with scikit-image; --source picks any other source. Set "
        "KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL to use your own Kafka or database.",
    )
    p.add_argument("--source", help="webcam index, URL, video file or folder (default: webcam if "
                                    "present, else synthetic:classroom)")
    p.add_argument("--port", type=port, default=DASHBOARD_PORT,
                   help=f"dashboard port ({DASHBOARD_PORT})")
    p.add_argument("--fps", type=camera_fps, default=DEMO_FPS,
                   help=f"frames per second per camera, {MIN_FPS:.4g} (a frame a minute) to "
                        f"{MAX_FPS:g} (%(default)g)")
    add_device_flag(p, help=f"where the consumer runs the networks ({Settings.device})")
    p.add_argument("--duration", type=positive_float, default=None, metavar="SECONDS",
                   help="stop by itself after this long (default: until Ctrl-C)")
    p.set_defaults(handler=run_demo)


def webcam_present() -> bool:
    """True when OpenCV can open camera 0 (checked once, released at once)."""
    import cv2

    if not any(Path("/dev").glob("video*")) and Path("/dev").is_dir():
        return False
    cap = cv2.VideoCapture(0)
    try:
        return bool(cap.isOpened())
    finally:
        cap.release()


def cameras_yaml(source: str | None, fps: float, folder: Path) -> Path:
    """The demo's cameras: one for a given source or the webcam, two synthetic ones otherwise,
    in a classroom whose name says SYNTHETIC when they are (:data:`SYNTHETIC_CLASSROOM`)."""
    import yaml

    from classpulse.sources import describe_source

    if source is None and webcam_present():
        source = "0"
    if source is None:
        cameras = [("demo-front", "synthetic:classroom:0"), ("demo-back", "synthetic:classroom:1")]
    else:
        cameras = [("demo-cam", source)]
    kind = None if source is None else describe_source(source)
    looping = kind in {"file", "folder"}
    room = DEMO_CLASSROOM if kind not in (None, "synthetic") else SYNTHETIC_CLASSROOM
    doc = {"fps": fps, "loop": looping,
           "cameras": [{"id": cam, "classroom": room, "source": src} for cam, src in cameras]}
    path = folder / "cameras.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def check_demo_args(args: argparse.Namespace) -> None:
    """One :class:`UsageError` naming the demo's own flag, before anything starts (broker, topic,
    database, children), for what a child would otherwise refuse only after the demo said it
    runs: a --port another program holds (an --fps out of a camera's range is refused as the
    flag is read, :func:`classpulse.flags.camera_fps`, as `classpulse produce` refuses it). A
    --source or a --device the children cannot use is still theirs to refuse (their checks live
    in the parts, which classpulse/ does not import): the demo then stops, exit status 1, naming
    the child."""
    check_port_free(DASHBOARD_HOST, args.port)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    check_demo_args(args)
    with StopFlag() as stop, tempfile.TemporaryDirectory(prefix="classpulse-demo-") as folder:
        embedded = None
        if "kafka_bootstrap_servers" not in settings.explicit:
            embedded = broker.EmbeddedBroker()
        children: list[tuple[str, subprocess.Popen]] = []
        try:
            status = _start_and_watch(args, settings, stop, embedded, Path(folder), children)
        finally:
            # every way out, an error while starting included, stops what was started
            clean = _stop_all(children, embedded, stop)
        return status if clean else 1


def _start_and_watch(args: argparse.Namespace, settings: Settings, stop: StopFlag,
                     embedded: EmbeddedBroker | None, folder: Path,
                     children: list[tuple[str, subprocess.Popen]]) -> int:
    """Start the broker, the topic, the database and the children (into ``children``, for the
    caller to stop), one step after the other, then :func:`_watch`.

    A stop (Ctrl-C) is checked between the steps, before each child included: the steps take
    seconds, and one asked for while the broker starts must not go on to start everything else.
    """
    from classpulse.db.migrate import upgrade
    from classpulse.db.rule import requested_min_faces
    from classpulse.db.weights import requested_weights
    from classpulse.redact import hide_password
    from classpulse.topics import ensure_topic

    def stopping() -> bool:
        if stop.is_set():
            print("demo: stopped before every process had started", flush=True)
        return stop.is_set()

    if embedded is not None:
        embedded.start()
    bootstrap = settings.kafka_bootstrap_servers if embedded is None else embedded.bootstrap
    if stopping():
        return 0
    ensure_topic(bootstrap, settings.kafka_topic, partitions=2)
    if stopping():
        return 0
    upgrade(settings.database_url, min_faces_shown=requested_min_faces(settings),
            engagement_weights=requested_weights(settings))
    config = cameras_yaml(args.source, args.fps, folder)
    common = ["--bootstrap-servers", bootstrap, "--topic", settings.kafka_topic,
              "--log-level", "DEBUG" if settings.log_level == "DEBUG" else "WARNING"]
    # the URL may hold a password: it goes in the children's environment, never on a
    # command line (`ps` shows those to every local user)
    env = child_environment({"DATABASE_URL": settings.database_url})
    device = args.device or settings.device
    for name, cmd in (
        ("cameras", ["produce", "--config", str(config), *common]),
        ("consumer", ["consume", "--device", device, "--flush-interval", "3", *common]),
        ("dashboard", ["dashboard", "--port", str(args.port), *common]),
    ):
        if stopping():
            return 0
        children.append((name, start_child(name, classpulse_command(*cmd), env=env)))
    print(f"\nClassPulse demo running: broker {bootstrap}, database "
          f"{hide_password(settings.database_url)}\nDashboard: http://127.0.0.1:{args.port}  "
          f"(a minute shows about 2 minutes after it ends, so charts fill within about four; "
          "Ctrl-C stops everything)\n", flush=True)
    return _watch(children, embedded, stop, args.duration)


def _watch(children: list[tuple[str, subprocess.Popen]], embedded: EmbeddedBroker | None,
           stop: StopFlag, duration: float | None) -> int:
    """Wait for Ctrl-C, the duration, or a child or the embedded broker that dies (which stops
    the demo with status 1: say which)."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.wait(0.5):
        ended = [f"the {name} process {_ending(child.returncode, ' (its error is printed above)')}"
                 for name, child in children if child.poll() is not None]
        if embedded is not None and not embedded.running():
            # its output is not kept: `classpulse broker` runs it in the foreground
            ended.append(f"the embedded broker {_ending(embedded.returncode)}")
        if ended:
            print(f"demo: {'; '.join(ended)}; stopping the demo", flush=True)
            return 1
        if deadline is not None and time.monotonic() >= deadline:
            break
    return 0


def _ending(status: int | None, printed: str = "") -> str:
    """How a process ended, from its return code: a signal's death by name (``-9``: killed by
    SIGKILL), since nothing of it is printed, or its exit status, ``printed`` after that."""
    if status is not None and status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}{printed}"


def _stop_all(children: list[tuple[str, subprocess.Popen]], embedded: EmbeddedBroker | None,
              stop: StopFlag) -> bool:
    """Stop the children one by one, in the order that loses nothing: the cameras first, so that
    their last frames reach the broker; then the consumer, which commits what it has counted;
    then the dashboard; the embedded broker last. Returns whether each ended cleanly
    (:data:`CLEAN_STOP`), having named those that did not: a consumer that failed its last flush
    lost counts.

    Each gets one SIGTERM and its :data:`STOP_TIMEOUTS_S`; a second Ctrl-C or SIGTERM meanwhile
    is only logged (``StopFlag.shielded``), since cutting this short would leave the ones not yet
    signalled running.
    """
    failed: list[str] = []
    with stop.shielded():
        for name, child in children:
            status = stop_child(child, name, STOP_TIMEOUTS_S[name])
            if status not in CLEAN_STOP:
                failed.append(f"the {name} process with status {status}")
        if embedded is not None:
            status = embedded.stop(STOP_TIMEOUTS_S["broker"])
            if status is not None and status not in CLEAN_STOP:  # None: it never started
                failed.append(f"the embedded broker with status {status}")
    if failed:
        print(f"demo: every process stopped, but not cleanly: {', '.join(failed)}", flush=True)
        return False
    print("demo: every process stopped", flush=True)
    return True
