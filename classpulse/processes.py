"""Child processes that must never outlive their parent (demo, dashboard, embedded broker)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def start_child(name: str, command: Sequence[str], **popen: Any) -> subprocess.Popen:
    """Start ``command``; its output goes to ours unless ``popen`` redirects it."""
    log.info("starting %s: %s", name, " ".join(command[:6]))
    return subprocess.Popen(list(command), **popen)


def stop_child(child: subprocess.Popen, name: str = "child", timeout_s: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit status."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s, killing pid=%d", name, timeout_s, child.pid)
            child.kill()
            child.wait()
    return int(child.returncode)


def classpulse_command(*args: str) -> list[str]:
    """``classpulse ARGS`` run by this very interpreter (works without the console script)."""
    return [sys.executable, "-m", "classpulse", *args]
