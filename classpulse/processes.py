"""Child processes that must never outlive their parent (demo, dashboard, embedded broker)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from classpulse.errors import UsageError

log = logging.getLogger(__name__)


def start_child(name: str, command: Sequence[str], **popen: Any) -> subprocess.Popen:
    """Start ``command``; its output goes to ours unless ``popen`` redirects it.

    The child gets a session (and so a process group) of its own, because its parent alone
    decides when it stops: a terminal's Ctrl-C signals the whole foreground process group, and a
    child signalled by the terminal and then by its parent's :func:`stop_child` would take the
    second signal as "cut the shutdown short" (``classpulse.lifecycle.StopFlag``) and drop what it
    had not saved yet. The parent therefore stops it on every way out, closing the terminal
    included (``StopFlag`` turns SIGHUP into a stop as well).
    """
    log.info("starting %s: %s", name, " ".join(command[:6]))
    try:
        return subprocess.Popen(list(command), start_new_session=True, **popen)
    except OSError as exc:
        raise UsageError(f"cannot start the {name} process {command[0]!r} ({exc.strerror or exc});"
                         " check that it is installed and that this system allows another "
                         "process") from None


def stop_child(child: subprocess.Popen, name: str = "child", timeout_s: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit status.

    A wait cut short (a second Ctrl-C: KeyboardInterrupt) kills the child too: in a session of
    its own, it would otherwise run on after its parent, out of the terminal's reach.
    """
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s, killing pid=%d", name, timeout_s, child.pid)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return int(child.returncode)


def classpulse_command(*args: str) -> list[str]:
    """``classpulse ARGS`` run by this very interpreter (works without the console script)."""
    return [sys.executable, "-m", "classpulse", *args]
