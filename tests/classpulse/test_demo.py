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


def test_demo_fills_the_database_and_serves_the_dashboard(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "classpulse", "demo", "--port", str(port), "--device", "cpu",
         "--source", "synthetic:classroom", "--duration", "600", "--database-url",
         f"sqlite:///{db}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while _faces(db) == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(2)
        faces = _faces(db)
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert health.read() == b"ok"
        assert page.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    assert faces > 0, out[-3000:]
    assert proc.returncode == 0, out[-3000:]
    assert "demo: every process stopped" in out
    assert not _listening(port)
    with sqlite3.connect(db) as conn:
        cameras = conn.execute("select id, classroom_id from cameras order by id").fetchall()
    assert cameras == [("demo-cam", "demo-7B")]
