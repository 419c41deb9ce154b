"""``classpulse demo``: the whole system on one machine, on embedded defaults.

Starts (unless configured otherwise) the embedded broker, migrates the SQLite database, then runs
the demo cameras, one consumer and the dashboard as child processes of this one, and prints the
dashboard's address. Ctrl-C (or ``--duration``) stops every child; none is left running.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from classpulse.flags import DASHBOARD_PORT, add_device_flag, port, positive_float
from classpulse.lifecycle import StopFlag
from classpulse.processes import classpulse_command, start_child, stop_child
from classpulse.settings import Settings, child_environment

log = logging.getLogger(__name__)

DEMO_CLASSROOM = "demo-7B"
# How long each child may take to stop after its SIGTERM before it is killed: the cameras stop
# their workers and wait for the frames in flight (as compose's stop_grace_period of 45 s); the
# consumer finishes the batch under way and writes its last counts and offsets (compose: 60 s),
# which a busy two-core machine can take well over 10 s to do.
STOP_TIMEOUTS_S = {"cameras": 45.0, "consumer": 60.0, "dashboard": 10.0}


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
    p.add_argument("--fps", type=positive_float, default=1.0,
                   help="frames per second per camera (%(default)g)")
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
    """The demo's cameras: one for a given source or the webcam, two synthetic ones otherwise."""
    import yaml

    from producers.sources import describe_source

    if source is None and webcam_present():
        source = "0"
    if source is None:
        cameras = [("demo-front", "synthetic:classroom:0"), ("demo-back", "synthetic:classroom:1")]
    else:
        cameras = [("demo-cam", source)]
    looping = source is not None and describe_source(source) in {"file", "folder"}
    doc = {"fps": fps, "loop": looping,
           "cameras": [{"id": cam, "classroom": DEMO_CLASSROOM, "source": src}
                       for cam, src in cameras]}
    path = folder / "cameras.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.broker import EmbeddedBroker
    from classpulse.db.migrate import upgrade
    from classpulse.db.rule import requested_min_faces
    from classpulse.db.weights import requested_weights
    from classpulse.redact import hide_password
    from classpulse.topics import ensure_topic

    with StopFlag() as stop, ExitStack() as stack:
        if "kafka_bootstrap_servers" in settings.explicit:
            bootstrap = settings.kafka_bootstrap_servers
        else:
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
        ensure_topic(bootstrap, settings.kafka_topic, partitions=2)
        upgrade(settings.database_url, min_faces_shown=requested_min_faces(settings),
                engagement_weights=requested_weights(settings))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="classpulse-demo-")))
        config = cameras_yaml(args.source, args.fps, folder)
        common = ["--bootstrap-servers", bootstrap, "--topic", settings.kafka_topic,
                  "--log-level", "DEBUG" if settings.log_level == "DEBUG" else "WARNING"]
        # the URL may hold a password: it goes in the children's environment, never on a
        # command line (`ps` shows those to every local user)
        env = child_environment({"DATABASE_URL": settings.database_url})
        device = args.device or settings.device
        children: list[tuple[str, subprocess.Popen]] = []
        # before the first start: a failure to start a later child stops the earlier ones
        stack.callback(_stop_all, children, stop)
        for name, cmd in (
            ("cameras", ["produce", "--config", str(config), *common]),
            ("consumer", ["consume", "--device", device, "--flush-interval", "3", *common]),
            ("dashboard", ["dashboard", "--port", str(args.port), *common]),
        ):
            children.append((name, start_child(name, classpulse_command(*cmd), env=env)))
        print(f"\nClassPulse demo running: broker {bootstrap}, database "
              f"{hide_password(settings.database_url)}\nDashboard: http://127.0.0.1:{args.port}  "
              f"(charts fill within a minute or two; Ctrl-C stops everything)\n", flush=True)
        return _watch(children, stop, args.duration)


def _watch(children: list[tuple[str, subprocess.Popen]], stop: threading.Event,
           duration: float | None) -> int:
    """Wait for Ctrl-C, the duration, or a child that dies (which stops the demo: say which)."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.wait(0.5):
        for name, child in children:
            if child.poll() is not None:
                print(f"demo: the {name} process exited with status {child.returncode}; "
                      "stopping the demo (its error is printed above)", flush=True)
                return 1
        if deadline is not None and time.monotonic() >= deadline:
            break
    return 0


def _stop_all(children: list[tuple[str, subprocess.Popen]], stop: StopFlag) -> None:
    """Stop the children one by one, in the order that loses nothing: the cameras first, so that
    their last frames reach the broker; then the consumer, which commits what it has counted;
    then the dashboard. The broker, entered into the ExitStack before them, stops after them.

    Each child gets one SIGTERM and its :data:`STOP_TIMEOUTS_S`; a second Ctrl-C or SIGTERM
    meanwhile is only logged (``StopFlag.shielded``), since cutting this short would leave the
    children not yet signalled running.
    """
    with stop.shielded():
        for name, child in children:
            stop_child(child, name, STOP_TIMEOUTS_S[name])
    print("demo: every process stopped", flush=True)
