"""`classpulse demo` hands its children the database URL through their environment: a command line
is readable by every local user (`ps`), and the URL may hold the database's password. However the
demo's start or stop goes (a child that cannot start, a second signal), no child is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from classpulse import demo, processes
from classpulse.cli import main
from classpulse.lifecycle import StopFlag

pytestmark = pytest.mark.broker


def test_the_database_url_never_reaches_a_childs_command_line(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    started: list[tuple[str, list[str], dict[str, Any]]] = []

    def start_child(name: str, command: list[str], **popen: Any) -> subprocess.Popen:
        """Record what the demo would run; run a real child that just waits to be stopped."""
        started.append((name, list(command), popen))
        return subprocess.Popen(["sleep", "60"])

    monkeypatch.setattr(demo, "start_child", start_child)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///not-this-one.db")  # the flag wins
    status = main(["demo", "--source", "synthetic:classroom", "--duration", "0.5",
                   "--bootstrap-servers", kafka_bootstrap, "--database-url", url])
    assert status == 0
    assert [name for name, _, _ in started] == ["cameras", "consumer", "dashboard"]
    for name, command, popen in started:
        assert "--database-url" not in command, name
        assert not any(url in part for part in command), name
        assert popen["env"]["DATABASE_URL"] == url, name
        assert "--bootstrap-servers" in command  # the rest still comes as flags
    assert (tmp_path / "demo.db").exists()  # migrated by the demo itself


def test_a_child_that_cannot_start_stops_the_ones_started_before_it(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The children were put in the demo's ExitStack only once all three had started: a failure
    to start the dashboard left the cameras and the consumer running, with nobody to stop them."""
    started: list[subprocess.Popen] = []

    def start_child(name: str, command: list[str], **popen: Any) -> subprocess.Popen:
        """Real children that wait to be stopped; the dashboard's program does not exist."""
        if name == "dashboard":
            return processes.start_child(name, [str(tmp_path / "no-such-program")], **popen)
        started.append(processes.start_child(name, ["sleep", "60"]))
        return started[-1]

    monkeypatch.setattr(demo, "start_child", start_child)
    try:
        status = main(["demo", "--source", "synthetic:classroom", "--duration", "30",
                       "--bootstrap-servers", kafka_bootstrap,
                       "--database-url", f"sqlite:///{tmp_path / 'demo.db'}"])
        assert status == 2
        assert len(started) == 2
        assert [child.poll() for child in started] == [-signal.SIGTERM, -signal.SIGTERM]
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"classpulse demo: cannot start the dashboard process "
                       f"'{tmp_path / 'no-such-program'}' (No such file or directory); check "
                       "that it is installed and that this system allows another process"]
    finally:
        for child in started:
            child.kill()
            child.wait()


def test_a_second_signal_while_stopping_still_stops_every_child() -> None:
    """A supervisor's second SIGTERM while the demo stopped its children raised
    KeyboardInterrupt in the middle: the children not yet signalled ran on."""
    slow = ("import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1), sys.exit(3)))\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    children = [(name, processes.start_child(name, [sys.executable, "-c", slow],
                                             stdout=subprocess.PIPE, text=True))
                for name in demo.STOP_TIMEOUTS_S]  # the demo's own children, in its order
    for _, child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    second = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        with StopFlag() as stop:
            os.kill(os.getpid(), signal.SIGINT)  # the first stop
            assert stop.wait(5)
            second.start()  # arrives while the first child takes its second to stop
            demo._stop_all(children, stop)
    finally:
        second.cancel()
        for _, child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
    assert [child.returncode for _, child in children] == [3, 3, 3]  # each left its own way


def test_a_stop_cut_short_still_leaves_no_child_running() -> None:
    """A child in a session of its own (where a terminal's Ctrl-C no longer reaches it) outlived
    its parent when a second Ctrl-C cut the wait for it short."""
    stubborn = ("import signal, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ready', flush=True)\n"
                "time.sleep(60)\n")
    child = processes.start_child("stubborn", [sys.executable, "-c", stubborn],
                                  stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    second = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    try:
        with StopFlag() as stop, pytest.raises(KeyboardInterrupt):
            stop.set()  # stopping already: the next signal cuts the shutdown short
            second.start()
            processes.stop_child(child, "stubborn", timeout_s=30)
        assert child.poll() == -signal.SIGKILL
    finally:
        second.cancel()
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
