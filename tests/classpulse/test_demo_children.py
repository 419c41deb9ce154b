"""`classpulse demo` hands its children the database URL through their environment: a command line
is readable by every local user (`ps`), and the URL may hold the database's password. However the
demo's start or stop goes (a child that cannot start, a second signal, a Ctrl-C while it starts,
the demo killed outright), no child is left running; and a child or broker that fails makes the
demo fail, naming it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from classpulse import broker, demo, processes
from classpulse.cli import main
from classpulse.lifecycle import StopFlag

README = Path(__file__).resolve().parents[2] / "README.md"
# a child that takes a moment to stop, then exits with the status given as its argument
STOPS_WITH = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM,\n"
              "              lambda *_: (time.sleep(0.2), sys.exit(int(sys.argv[1]))))\n"
              "print('ready', flush=True)\n"
              "time.sleep(60)\n")


def _gone(pid: int, within_s: float) -> bool:
    """Whether no process ``pid`` runs (one that has exited but is not yet reaped counts as gone),
    waiting up to ``within_s`` for it."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.broker
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


@pytest.mark.broker
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
    children = [(name, processes.start_child(name, [sys.executable, "-c", STOPS_WITH, "0"],
                                             stdout=subprocess.PIPE, text=True))
                for name in demo.STOP_TIMEOUTS_S]  # the demo's own processes, in its order
    for _, child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    second = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        with StopFlag() as stop:
            os.kill(os.getpid(), signal.SIGINT)  # the first stop
            assert stop.wait(5)
            second.start()  # arrives while the first child takes its moment to stop
            assert demo._stop_all(children, None, stop)
    finally:
        second.cancel()
        for _, child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
    assert [child.returncode for _, child in children] == [0, 0, 0, 0]  # each left its own way


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


# a parent that starts a long-sleeping child the way the demo does, prints its pid, then waits
PARENT = ("import sys, time\n"
          "from classpulse.processes import start_child\n"
          "child = start_child('sleeper', [sys.executable, '-c', 'import time; time.sleep(60)'])\n"
          "print(child.pid, flush=True)\n"
          "time.sleep(60)\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_parent_killed_outright_leaves_no_child_running() -> None:
    """SIGKILL (the OOM killer, `kill -9`) lets the parent run no code: its children, in sessions
    of their own where no terminal reaches them, ran on for good."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        parent.kill()
        parent.wait(10)
        assert _gone(child, within_s=5)
    finally:
        parent.stdout.close()
        if not _gone(child, within_s=0):
            os.kill(child, signal.SIGKILL)


def test_a_child_that_will_not_stop_is_killed_with_its_process_group() -> None:
    """Only the child was killed after its timeout: what it had started in its group (as
    `classpulse dashboard` starts Streamlit) ran on, holding its port."""
    stubborn = ("import signal, subprocess, sys, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"  # inherited by the grandchild
                "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; "
                "time.sleep(60)'])\n"
                "print(grandchild.pid, flush=True)\n"
                "time.sleep(60)\n")
    child = processes.start_child("stubborn", [sys.executable, "-c", stubborn],
                                  stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())
    try:
        assert processes.stop_child(child, "stubborn", timeout_s=0.5) == -signal.SIGKILL
        assert _gone(grandchild, within_s=5)
    finally:
        child.stdout.close()
        if not _gone(grandchild, within_s=0):
            os.kill(grandchild, signal.SIGKILL)


def test_each_process_waits_longer_than_what_it_stops_and_the_readme_says_how_long() -> None:
    """The demo gave `classpulse dashboard` 10 s, which gives Streamlit 10 s: Streamlit could
    outlive a normal stop. The README said every process had 10 s."""
    assert demo.STOP_TIMEOUTS_S["dashboard"] > processes.STOP_TIMEOUT_S
    assert demo.STOP_TIMEOUTS_S["broker"] == broker.STOP_TIMEOUT_S
    text = " ".join(README.read_text(encoding="utf-8").split())
    stated = dict(re.findall(r"the (cameras|consumer|dashboard|broker) (\d+) s", text))
    assert stated == {name: f"{seconds:g}" for name, seconds in demo.STOP_TIMEOUTS_S.items()}
    assert f"its Streamlit child gets {processes.STOP_TIMEOUT_S:g} s" in text


def test_a_child_that_fails_while_stopping_fails_the_demo(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """The statuses were dropped: a consumer whose last flush failed left a demo exiting 0."""
    children = [(name, processes.start_child(
        name, [sys.executable, "-c", STOPS_WITH, "3" if name == "consumer" else "0"],
        stdout=subprocess.PIPE, text=True)) for name in ("cameras", "consumer", "dashboard")]
    try:
        for _, child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        with StopFlag() as stop:
            assert not demo._stop_all(children, None, stop)
    finally:
        for _, child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
    assert capsys.readouterr().out == ("demo: every process stopped, but not cleanly: the "
                                       "consumer process with status 3\n")


def _demo(tmp_path: Path, *extra: str) -> int:
    return main(["demo", "--source", "synthetic:classroom", "--duration", "30",
                 "--database-url", f"sqlite:///{tmp_path / 'demo.db'}", *extra])


@pytest.mark.broker
def test_a_child_failing_its_stop_makes_the_demo_exit_1(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole way: --duration ran out, every child was stopped, and the demo said 0."""
    started: list[subprocess.Popen] = []

    def start_child(name: str, command: list[str], **popen: Any) -> subprocess.Popen:
        status = "1" if name == "dashboard" else "0"
        started.append(processes.start_child(name, [sys.executable, "-c", STOPS_WITH, status],
                                             stdout=subprocess.DEVNULL))
        return started[-1]

    monkeypatch.setattr(demo, "start_child", start_child)
    try:
        status = _demo(tmp_path, "--duration", "1", "--bootstrap-servers", kafka_bootstrap)
    finally:
        for child in started:
            if child.poll() is None:
                child.kill()
            child.wait()
    assert status == 1
    assert [child.returncode for child in started] == [0, 0, 1]
    assert capsys.readouterr().out.splitlines()[-1] == (
        "demo: every process stopped, but not cleanly: the dashboard process with status 1")


@pytest.mark.broker
def test_a_dead_embedded_broker_stops_the_demo_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Only the three children were watched: with its broker gone, the demo ran on, its
    cameras and consumer retrying forever."""
    brokers: list[broker.EmbeddedBroker] = []

    class Recorded(broker.EmbeddedBroker):
        def start(self, timeout_s: float = 30.0) -> broker.EmbeddedBroker:
            brokers.append(self)
            return super().start(timeout_s)

    started: list[subprocess.Popen] = []

    def start_child(name: str, command: list[str], **popen: Any) -> subprocess.Popen:
        if name == "dashboard":  # everything runs: the broker dies
            assert brokers[0]._proc is not None
            brokers[0]._proc.kill()
        started.append(processes.start_child(name, [sys.executable, "-c", STOPS_WITH, "0"],
                                             stdout=subprocess.DEVNULL))
        return started[-1]

    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setattr(broker, "EmbeddedBroker", Recorded)
    monkeypatch.setattr(demo, "start_child", start_child)
    t0 = time.monotonic()
    try:
        status = _demo(tmp_path)
    finally:
        for child in started:
            if child.poll() is None:
                child.kill()
            child.wait()
    assert status == 1
    assert time.monotonic() - t0 < 25  # not the 30 s of --duration
    assert not brokers[0].running()
    out = capsys.readouterr().out.splitlines()
    killed = -signal.SIGKILL
    assert "demo: the embedded broker was killed by SIGKILL; stopping the demo" in out
    assert out[-1] == ("demo: every process stopped, but not cleanly: the embedded broker with "
                       f"status {killed}")


@pytest.mark.broker
def test_ctrl_c_while_the_demo_starts_starts_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A Ctrl-C during the broker's start or the migration only set the flag: the demo went on
    to start all three children, and only then stopped them."""
    from classpulse.db import migrate

    upgrade = migrate.upgrade
    brokers: list[broker.EmbeddedBroker] = []

    class Recorded(broker.EmbeddedBroker):
        def start(self, timeout_s: float = 30.0) -> broker.EmbeddedBroker:
            brokers.append(self)
            return super().start(timeout_s)

    def ctrl_c_while_migrating(*args: Any, **kwargs: Any) -> Any:
        done = upgrade(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return done

    def start_child(name: str, command: list[str], **popen: Any) -> subprocess.Popen:
        raise AssertionError(f"the demo started {name} after Ctrl-C")

    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setattr(broker, "EmbeddedBroker", Recorded)
    monkeypatch.setattr(migrate, "upgrade", ctrl_c_while_migrating)
    monkeypatch.setattr(demo, "start_child", start_child)
    assert _demo(tmp_path) == 0
    assert not brokers[0].running()
    assert capsys.readouterr().out.splitlines() == [
        "demo: stopped before every process had started", "demo: every process stopped"]


def _refused_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> int:
    """The demo with ``flags``, where starting the broker or a child fails the test."""

    class NoBroker(broker.EmbeddedBroker):
        def start(self, timeout_s: float = 30.0) -> broker.EmbeddedBroker:
            raise AssertionError("the demo started its broker")

    def start_child(name: str, command: list[str], **popen: Any) -> subprocess.Popen:
        raise AssertionError(f"the demo started {name}")

    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setattr(broker, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(demo, "start_child", start_child)
    return _demo(tmp_path, *flags)


def test_bad_demo_flags_are_one_line_naming_the_flag_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo started its broker, topic, database and every child, said it ran, and only
    then a child refused the value; the demo exited 1, not the 2 of a usage error."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        # (an --fps out of range is refused as the flag is read: test_cli_errors.py)
        cases = {("--fps", "60", "--port", busy): f"cannot listen on 127.0.0.1:{busy} ("}
        for flags, says in cases.items():
            port = () if "--port" in flags else ("--port", str(broker.free_port()))
            assert _refused_demo(tmp_path, monkeypatch, *port, *flags) == 2, flags
            err = capsys.readouterr().err
            assert err.startswith(f"classpulse demo: {says}"), err
            assert err.count("\n") == 1 and flags[-2] in err, err
    assert not (tmp_path / "demo.db").exists()


def test_a_child_killed_by_a_signal_is_reported_as_killed_by_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    """It was "exited with status -9 (its error is printed above)", though nothing was."""
    children = [(name, processes.start_child(name, [sys.executable, "-c", code]))
                for name, code in (("cameras", "import time; time.sleep(60)"),
                                   ("consumer", "import os, signal; "
                                                "os.kill(os.getpid(), signal.SIGKILL)"))]
    try:
        children[1][1].wait(10)
        with StopFlag() as stop:
            assert demo._watch(children, None, stop, duration=10) == 1
    finally:
        for _, child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
    assert capsys.readouterr().out == ("demo: the consumer process was killed by SIGKILL; "
                                       "stopping the demo\n")
