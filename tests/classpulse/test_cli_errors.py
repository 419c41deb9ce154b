"""Mistakes a user can fix end the real ``classpulse`` command in one line, without a traceback.

Each test runs the installed console script in a child process, as a user would, and reads what
it printed: exit status 2, one line naming the offending value and the fix, nothing before it
from the libraries underneath.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLASSPULSE = Path(sys.executable).with_name("classpulse")


def run(*args: str, cwd: Path, timeout_s: float = 60) -> tuple[int, list[str]]:
    """Exit status and the lines of stdout and stderr together."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAFKA_", "DATABASE_URL", "CLASSPULSE_", "DASHBOARD_"))}
    done = subprocess.run([str(CLASSPULSE), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout_s)
    return done.returncode, (done.stdout + done.stderr).splitlines()


def one_line(status: int, lines: list[str]) -> str:
    assert status == 2, lines
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [["db", "upgrade"], ["dashboard"]])
def test_an_unsupported_database_url(command: list[str], tmp_path: Path) -> None:
    line = one_line(*run(*command, "--database-url", "mysql://ops:pw@db/cp", cwd=tmp_path))
    assert line == ("classpulse: configuration error: DATABASE_URL 'mysql://ops:***@db/cp' is a "
                    "mysql database, which ClassPulse does not support; use "
                    "sqlite:///classpulse.db or postgresql+psycopg://user@host/db")


@pytest.mark.parametrize(("command", "flag", "value"), [
    (["dashboard"], "--port", "70000"),
    (["dashboard"], "--port", "0"),
    (["consume"], "--metrics-port", "70000"),
    (["consume"], "--metrics-port", "-1"),
    (["broker"], "--port", "65536"),
])
def test_a_port_outside_1_to_65535(command: list[str], flag: str, value: str,
                                   tmp_path: Path) -> None:
    line = one_line(*run(*command, flag, value, cwd=tmp_path))
    name = " ".join(command)
    off = " (or 0 for off)" if flag == "--metrics-port" else ""
    assert line == (f"classpulse {name}: error: argument {flag}: {value} is not a port; give a "
                    f"number from 1 to 65535{off} (see classpulse {name} --help)")


def test_an_unreachable_broker_is_one_line_per_retry_window(tmp_path: Path) -> None:
    started = time.monotonic()
    status, lines = run("produce", "--source", "synthetic:classroom", "--camera", "c",
                        "--classroom", "r", "--bootstrap-servers", "127.0.0.1:1",
                        "--connect-timeout", "3", cwd=tmp_path)
    took = time.monotonic() - started
    assert status == 2, lines
    assert lines[-1] == (
        "classpulse produce: cannot reach Kafka at 127.0.0.1:1 after 3 s (KafkaTimeoutError("
        "'Unable to bootstrap from 127.0.0.1:1')); check KAFKA_BOOTSTRAP_SERVERS and that the "
        "broker runs")
    library = [line for line in lines if " kafka." in line]
    assert len(library) <= 1, lines  # was 38 to 45 lines of kafka-python's
    assert len(lines) <= 2 and not any("Traceback" in line for line in lines), lines
    assert took < 15


def test_a_file_that_is_not_a_video_fails_at_start(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.mp4"
    text_file.write_text("not a video\n", encoding="utf-8")
    line = one_line(*run("produce", "--source", str(text_file), "--camera", "c", "--classroom",
                         "r", "--bootstrap-servers", "127.0.0.1:1", cwd=tmp_path))
    assert line == (f"classpulse produce: camera 'c': file '{text_file}' is not a video OpenCV "
                    "can read (no frame could be decoded); give a video file (mp4, avi, mkv, "
                    "...), a folder of images, a webcam index or a stream URL")


def test_missing_weights_name_the_real_flag(tmp_path: Path) -> None:
    """Imports torch: about 5 s of CPU, the one slow case here."""
    (tmp_path / "faces" / "happy").mkdir(parents=True)
    line = one_line(*run("model", "evaluate", "--data", "faces", "--weights", "nope.safetensors",
                         cwd=tmp_path, timeout_s=120))
    assert "pass --weights FILE (or set CLASSPULSE_WEIGHTS)" in line
    assert "--model-weights" not in line


# every command that reads what the consumers wrote, and would otherwise create an empty file
READERS = [["dashboard"], ["lessons", "list"], ["lessons", "import", "timetable.csv"],
           ["db", "current"]]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_reader_on_a_missing_sqlite_file_says_so(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "timetable.csv").write_text("classroom,date,start,end,title\n")
    line = one_line(*run(*command, "--database-url", "sqlite:///gone.db", cwd=tmp_path))
    assert line == (f"classpulse {command[0]}: database file {tmp_path / 'gone.db'} does not "
                    "exist; point --database-url (or DATABASE_URL) at the consumers' database, "
                    "or create it with `classpulse db upgrade`")
    assert not (tmp_path / "gone.db").exists()


@pytest.mark.parametrize("command", READERS[:3], ids=" ".join)
def test_a_reader_on_a_database_never_migrated_says_so(command: list[str],
                                                        tmp_path: Path) -> None:
    (tmp_path / "timetable.csv").write_text("classroom,date,start,end,title\n")
    (tmp_path / "empty.db").touch()
    line = one_line(*run(*command, "--database-url", "sqlite:///empty.db", cwd=tmp_path))
    assert line == (f"classpulse {command[0]}: database sqlite:///empty.db has no ClassPulse "
                    "tables; create them with `classpulse db upgrade` (same DATABASE_URL / "
                    "--database-url)")


def test_no_library_info_lines_before_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()  # exists, never migrated: alembic used to log first
    line = one_line(*run("dashboard", "--database-url", "sqlite:///empty.db", cwd=tmp_path))
    assert line.startswith("classpulse dashboard: database sqlite:///empty.db has no ClassPulse "
                           "tables; create them with `classpulse db upgrade`")
