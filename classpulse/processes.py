"""Child processes that must never outlive their parent (demo, dashboard, embedded broker)."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from classpulse.errors import UsageError

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# from a child's SIGTERM to its SIGKILL unless its parent gives another: what `classpulse
# dashboard` gives its Streamlit child; the demo waits longer for `classpulse dashboard` itself
# (classpulse.demo.STOP_TIMEOUTS_S), so that Streamlit is never left holding the port
STOP_TIMEOUT_S = 10.0


def start_child(name: str, command: Sequence[str], **popen: Any) -> subprocess.Popen:
    """Start ``command``; its output goes to ours unless ``popen`` redirects it.

    The child gets a session (and so a process group) of its own, because its parent alone
    decides when it stops: a terminal's Ctrl-C signals the whole foreground process group, and a
    child signalled by the terminal and then by its parent's :func:`stop_child` would take the
    second signal as "cut the shutdown short" (``classpulse.lifecycle.StopFlag``) and drop what it
    had not saved yet. The parent therefore stops it on every way out it lives through, closing
    the terminal included (``StopFlag`` turns SIGHUP into a stop as well). A parent that is killed
    outright (SIGKILL, the OOM killer) runs no code at all: on Linux the kernel then sends the
    child SIGTERM (:func:`_die_with_parent`), which it takes as an ordinary stop. Elsewhere such a
    child runs on. Call this from the thread that lives as long as the child should (the main
    thread): Linux sends that signal when the *thread* that started the child ends.
    """
    log.info("starting %s: %s", name, " ".join(command[:6]))
    try:
        return subprocess.Popen(list(command), start_new_session=True,
                                preexec_fn=_die_with_parent(), **popen)
    except OSError as exc:
        raise UsageError(f"cannot start the {name} process {command[0]!r} ({exc.strerror or exc});"
                         " check that it is installed and that this system allows another "
                         "process") from None


def _die_with_parent() -> Callable[[], None] | None:
    """What a child runs between fork and exec so that it gets SIGTERM when its parent dies
    (Linux's PR_SET_PDEATHSIG, kept across exec); None where there is no such thing.

    The parent may die between the fork and the prctl, before the kernel knew to signal the
    child: a child whose parent is no longer the one that forked it exits at once instead. (The
    prctl fails only for a signal number the kernel does not know, which SIGTERM is not.)
    """
    if not sys.platform.startswith("linux"):
        return None
    # looked up in the parent: between fork and exec the child only calls it
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return set_parent_death_signal


def stop_child(child: subprocess.Popen, name: str = "child",
               timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit status.

    The SIGKILL goes to the child's whole process group (it leads one: :func:`start_child`), so
    that what it started in its group dies with it rather than holding a port or a file on. A
    wait cut short (a second Ctrl-C: KeyboardInterrupt) kills them too: in a session of their
    own, they would otherwise run on after their parent, out of the terminal's reach.
    """
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s, killing pid=%d and its process group",
                        name, timeout_s, child.pid)
        finally:
            if child.poll() is None:
                _kill_group(child)
                child.wait()
    return int(child.returncode)


def _kill_group(child: subprocess.Popen) -> None:
    """SIGKILL the process group ``child`` leads, or ``child`` alone where it leads none.

    Called only while ``child`` is not yet reaped, so its pid, and the group id equal to it,
    cannot have been given to another process.
    """
    try:
        if hasattr(os, "killpg") and os.getpgid(child.pid) == child.pid:
            os.killpg(child.pid, signal.SIGKILL)
            return
    except ProcessLookupError:
        return
    child.kill()


def classpulse_command(*args: str) -> list[str]:
    """``classpulse ARGS`` run by this very interpreter (works without the console script)."""
    return [sys.executable, "-m", "classpulse", *args]


def check_port_free(host: str, port: int) -> None:
    """Fail with the fix when the dashboard cannot listen on ``host:port``: another program
    already listens there, the port needs root, or ``host`` is no address of this machine (or a
    name that does not resolve)."""
    import errno

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            anywhere = "127.0.0.1 (this machine only) or 0.0.0.0 (every network)"
            if isinstance(exc, socket.gaierror):  # a name, or no address at all
                why = (f"--host {host!r} is no IP address and no name this machine can resolve; "
                       f"give one of its addresses, {anywhere}")
            elif exc.errno == errno.EADDRINUSE:
                why = ("another program (a running dashboard?) uses it: stop it or pass another "
                       "--port")
            elif exc.errno == errno.EACCES:  # a port below 1024, which only root may listen on
                why = "ports below 1024 need root: pass a --port of 1024 or above"
            else:  # EADDRNOTAVAIL: an address this machine (or container) does not have
                why = (f"--host {host} is not an address of this machine; give one of its "
                       f"addresses, {anywhere}")
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); {why}") from None
