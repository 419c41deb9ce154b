"""Long-running commands stop through their normal exit path on SIGINT, SIGTERM and SIGHUP; a
process started under ``nohup`` keeps ignoring the hangup."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import os, signal, sys
from classpulse.lifecycle import StopFlag
if sys.argv[2] == "nohup":
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
with StopFlag() as stop:
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    print("stopping" if stop.wait(1) else "running", flush=True)
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_each_stop_signal_sets_the_flag(sig: str) -> None:
    """SIGHUP killed the process outright: the demo's children, in sessions of their own where
    no hangup reaches them, were left running when its terminal closed."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, sig, "-"], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "stopping\n"), done.stderr


def test_a_hangup_ignored_by_nohup_stays_ignored() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, "SIGHUP", "nohup"], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "running\n"), done.stderr
