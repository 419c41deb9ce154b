"""Every classpulse process turns core dumps off before anything else: a crash in FFmpeg, OpenCV
or torch would otherwise write its memory, frames of children included, to disk (systemd-coredump
keeps them under /var/lib/systemd/coredump)."""

from __future__ import annotations

import subprocess
import sys

import pytest

resource = pytest.importorskip("resource", reason="core dump limits are a Unix matter")

# a child that runs the real entry point (here `classpulse --help`), then says its core size limit
# and whether it is dumpable (PR_GET_DUMPABLE), before and after
CHILD = """
import ctypes, resource, sys
libc = ctypes.CDLL(None)
dumpable = lambda: libc.prctl(3, 0, 0, 0, 0) if sys.platform.startswith("linux") else 0
print(*resource.getrlimit(resource.RLIMIT_CORE), dumpable())
from classpulse.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(*resource.getrlimit(resource.RLIMIT_CORE), dumpable())
"""


def test_a_classpulse_process_cannot_dump_core() -> None:
    def allow_core_dumps() -> None:  # as on a host whose shell allows them (ulimit -c)
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          timeout=60, preexec_fn=allow_core_dumps)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.splitlines()[0], done.stdout.splitlines()[-1]
    if before.startswith("0 0"):
        pytest.skip("core dumps are off here already (hard limit 0): nothing to turn off")
    # soft and hard: no child can raise it again; and not dumpable (PR_GET_DUMPABLE 0), which a
    # kernel piping core dumps to a program (Ubuntu's Apport) heeds where it ignores the limit
    assert after == "0 0 0"
