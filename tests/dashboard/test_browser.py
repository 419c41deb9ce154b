"""``classpulse dashboard`` in Debian's headless Chromium, on a seeded database.

Starts the real command (which starts Streamlit), waits until the browser has drawn the charts,
checks the page names the classroom and shows no error, and keeps a screenshot under
``artifacts/dashboard/`` (git-ignored; CI keeps it as an artifact).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from classpulse.db.engine import make_engine
from classpulse.db.seed import synthetic_minute_rows
from tests.dashboard import expected
from tests.dashboard.chromium import Chromium, chromium_path

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts" / "dashboard"
CHARTS_DRAWN = """(() => {
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].filter(
    c => c.querySelector('canvas, svg') && c.getBoundingClientRect().height > 100);
  return charts.length >= 3 && document.querySelectorAll('[data-testid="stMetric"]').length >= 4;
})()"""
HISTORY_DRAWN = """(() => {
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].filter(
    c => c.querySelector('canvas, svg') && c.getBoundingClientRect().height > 100);
  return charts.length >= 4 && document.querySelector('[data-testid="stDataFrame"] canvas') !== null
    && document.body.innerText.includes('History');
})()"""
ERRORS_SHOWN = """document.querySelectorAll(
  '[data-testid="stException"], [data-testid="stAlertContentError"]').length"""


@pytest.fixture
def chromium() -> str:
    path = chromium_path()
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"classpulse dashboard exited {server.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    pytest.fail(f"dashboard not healthy after {timeout_s} s: {log.read_text()}")


def seed(url: str) -> None:
    """SYNTHETIC rows for two classrooms: the last 90 minutes, and a week of school hours before."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    live_start = now - timedelta(minutes=89)
    history_start = now.replace(hour=0, minute=0) - timedelta(days=7)
    history_minutes = int((live_start - history_start).total_seconds() // 60)
    rooms = ("7A", "7B")
    rows = [*synthetic_minute_rows(rooms, 2, history_start, history_minutes, seed=7,
                                   school_hours=(7, 14)),
            *synthetic_minute_rows(rooms, 2, live_start, 90, seed=7)]
    engine = make_engine(url)
    try:
        expected.write(engine, rows, {"7A": ("Class 7A (synthetic data)", "Europe/Berlin"),
                                      "7B": ("Class 7B (synthetic data)", "Europe/Berlin")})
    finally:
        engine.dispose()


def test_dashboard_renders_in_chromium(
    chromium: str, migrated_sqlite_url: str, tmp_path: Path
) -> None:
    seed(migrated_sqlite_url)
    port = free_port()
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "classpulse", "dashboard", "--port", str(port),
             "--database-url", migrated_sqlite_url],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    try:
        wait_healthy(port, server, log, timeout_s=60)
        with Chromium(chromium, tmp_path / "profile", width=1400, height=1800) as browser:
            browser.navigate(f"http://127.0.0.1:{port}/")
            browser.wait_for(CHARTS_DRAWN, timeout_s=90, settle_s=2.0)
            page = browser.text()
            errors = browser.evaluate(ERRORS_SHOWN)
            browser.screenshot(ARTIFACTS / "live.png")
            browser.click_text('[data-testid="stRadio"] label', "Date range")
            browser.wait_for(HISTORY_DRAWN, timeout_s=90, settle_s=2.0)
            history = browser.text()
            errors += browser.evaluate(ERRORS_SHOWN)
            browser.resize(1400, 2600)
            time.sleep(1.0)
            browser.screenshot(ARTIFACTS / "history.png")
    finally:
        server.send_signal(signal.SIGTERM)
        status = server.wait(30)
    assert errors == 0, page + history
    assert "Class 7A (synthetic data)" in page
    for words in ("Main emotion now", "Engagement index", "Emotion mix", "Faces in view",
                  "Europe/Berlin", "Data is fresh", "What these numbers mean"):
        assert words in page, words
    for words in ("History", "Engagement by hour of the week", "each point covers 15 minutes"):
        assert words in history, words
    for shot in ("live.png", "history.png"):
        assert (ARTIFACTS / shot).stat().st_size > 50_000
    assert status == 0, log.read_text()
