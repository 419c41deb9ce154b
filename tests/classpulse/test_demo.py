"""`classpulse demo` headless for a bounded time: real rows are written, the dashboard answers,
and Ctrl-C leaves nothing running."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from classpulse.broker import free_port

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _faces(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select coalesce(sum(faces), 0) from emotion_minutes").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_demo(tmp_path: Path, db: Path, port: int, *extra: str) -> subprocess.Popen:
    """``classpulse demo`` on the synthetic classroom and a SQLite file, in a session of its own
    (so a test can signal its process group as a terminal would), its output captured."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "classpulse", "demo", "--port", str(port), "--device", "cpu",
         "--source", "synthetic:classroom", "--duration", "600", "--database-url",
         f"sqlite:///{db}", *extra],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)


def _wait_for_faces(db: Path, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    """Until the demo has counted faces, has exited, or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while _faces(db) == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(2)


def _committed(db: Path) -> tuple[int, int, int]:
    """Frames counted in minutes, frames rejected, and messages the stored offsets have passed."""
    with sqlite3.connect(db) as conn:
        return (conn.execute("select coalesce(sum(frames), 0) from emotion_minutes").fetchone()[0],
                conn.execute("select coalesce(sum(count), 0) from rejected_frames").fetchone()[0],
                conn.execute("select coalesce(sum(next_offset), 0) from consumer_offsets")
                .fetchone()[0])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_the_demo_counts_serves_and_a_terminal_stop_lets_everything_finish(
        tmp_path: Path, sig: signal.Signals) -> None:
    """The demo fills its database and serves the dashboard. A terminal's Ctrl-C (or its
    closing) then signals the whole foreground process group. Every child must still get exactly
    one stop signal: a second one cuts its shutdown short, and the consumer then drops what it
    counted since its last flush (the embedded broker dies with those frames). The demo's
    children are in sessions of their own, out of the terminal's reach, so the demo must also
    live through a hangup to stop them."""
    db = tmp_path / "demo.db"
    port = free_port()
    proc = _start_demo(tmp_path, db, port, "--fps", "4")
    try:
        _wait_for_faces(db, proc)
        faces_while_running = _faces(db)
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert (health.read(), page.status) == (b"ok", 200)
        time.sleep(2)  # the consumer is in the middle of its next, unflushed batches
    finally:
        os.killpg(proc.pid, sig)  # what the terminal does: the demo's whole group
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
    assert "demo: every process stopped" in out, out[-3000:]
    assert not _listening(port)
    summary = [line for line in out.splitlines() if line.startswith("frames=")]
    assert len(summary) == 1, out[-3000:]  # the consumer left through its final flush
    frames_reported = int(summary[0].split()[0].removeprefix("frames="))
    frames, rejected, passed = _committed(db)
    assert frames_reported == frames > 0
    assert faces_while_running > 0, out[-3000:]
    assert passed == frames + rejected  # every message read was counted and committed
    cameras = [line for line in out.splitlines() if line.startswith("camera=demo-cam ")]
    assert len(cameras) == 1, out[-3000:]  # the cameras closed their publisher and reported
    with sqlite3.connect(db) as conn:
        stored = conn.execute("select id, classroom_id from cameras order by id").fetchall()
    assert stored == [("demo-cam", "demo-SYNTHETIC")]  # a synthetic class, named so
