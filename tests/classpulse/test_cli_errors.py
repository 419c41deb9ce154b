"""Mistakes a user can fix end the real ``classpulse`` command in one line, without a traceback.

Each test runs the installed console script in a child process, as a user would, and reads what
it printed: exit status 2, one line naming the offending value and the fix, nothing before it
from the libraries underneath.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.db.pg_roles import PASSWORD, REFUSED, role_urls

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


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["dashboard"],
                                     ["lessons", "list"], ["consume"]], ids=" ".join)
@pytest.mark.parametrize(("url", "problem"), [
    ("postgresql+psycopg://ops:s3cretpw@127.0.0.1:fivefour/cp",
     "has a port that is not a number; give one (host:5432) or none"),
    ("postgresql+psycopg2://ops:s3cretpw@127.0.0.1/cp",
     "names the driver postgresql+psycopg2, which is not installed or not known to SQLAlchemy"),
    ("sqlite+nodriver:///classpulse.db",
     "names the driver sqlite+nodriver, which is not installed or not known to SQLAlchemy"),
], ids=["port", "psycopg2", "unknown-driver"])
def test_an_unusable_database_url(command: list[str], url: str, problem: str,
                                  tmp_path: Path) -> None:
    """Once past the settings' check, a URL SQLAlchemy cannot use was a ValueError or
    ModuleNotFoundError traceback."""
    (tmp_path / "classpulse.db").touch()  # the SQLite case gets past the missing-file check
    line = one_line(*run(*command, "--database-url", url, cwd=tmp_path))
    assert line.startswith(f"classpulse {command[0]}: database URL ")
    assert problem in line and "(DATABASE_URL or --database-url)" in line
    assert "s3cretpw" not in line


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql:/alice:s3cret@db/cp", "postgresql:/alice:***@db/cp"),
    ("host=db user=alice password=s3cret dbname=cp", "host=db user=alice password=*** dbname=cp"),
], ids=["one-slash", "libpq-keywords"])
def test_a_mistyped_database_url_never_shows_its_password(url: str, shown: str,
                                                          tmp_path: Path) -> None:
    """A URL without `://` was printed as given, password included."""
    status, lines = run("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert "s3cret" not in "\n".join(lines)
    assert one_line(status, lines) == (
        f"classpulse: configuration error: DATABASE_URL {shown!r} is not a SQLAlchemy URL; use "
        "e.g. sqlite:///classpulse.db or postgresql+psycopg://user@host/db")


@pytest.mark.parametrize(("args", "shown"), [
    (["lessons", "list", "--databse-url", "postgresql+psycopg://ops:s3cretpw@db/cp"],
     "classpulse: error: unrecognized arguments: --databse-url postgresql+psycopg://ops:***@db/cp"
     " (see classpulse --help)"),
    (["lessons", "list", "--databse-url=ops:s3cretpw@db/cp"],
     "classpulse: error: unrecognized arguments: --databse-url=ops:***@db/cp "
     "(see classpulse --help)"),
    (["lessons", "list", "--from", "postgresql://ops:s3cretpw@db/cp"],
     "classpulse lessons list: error: argument --from: 'postgresql://ops:***@db/cp' is not a "
     "date YYYY-MM-DD (see classpulse lessons list --help)"),
], ids=["mistyped-flag", "mistyped-flag-no-scheme", "wrong-flag"])
def test_a_flag_error_never_shows_a_password(args: list[str], shown: str, tmp_path: Path) -> None:
    """argparse's error echoed the mistyped flag's value, password included."""
    status, lines = run(*args, cwd=tmp_path)
    assert "s3cretpw" not in "\n".join(lines)
    assert one_line(status, lines) == shown


def test_a_postgres_url_without_a_driver_reaches_the_server(tmp_path: Path) -> None:
    """`postgres://` was refused as an unknown database; it and `postgresql://` now get psycopg,
    the driver that is installed (nothing listens on port 1: the connection's own error)."""
    for scheme in ("postgres", "postgresql"):
        line = one_line(*run("db", "current", "--database-url",
                             f"{scheme}://ops:s3cretpw@127.0.0.1:1/cp", cwd=tmp_path))
        assert line.startswith("classpulse db: cannot connect to database "
                               "postgresql+psycopg://ops:***@127.0.0.1:1/cp: "), line


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


FPS_OUTSIDE = ("frames a second is outside what a camera sends; give 0.01667 (a frame a minute) "
               "to 60")


@pytest.mark.parametrize(("flag", "value", "says"), [
    *(("--fps", fps, FPS_OUTSIDE) for fps in ("0", "0.001")),
    *(("--duration", value, "must be a number above 0") for value in ("nan", "0", "inf"))])
def test_a_demo_rate_or_duration_out_of_range_fails_before_anything_starts(
        flag: str, value: str, says: str, tmp_path: Path) -> None:
    """`--duration nan` never ended; `--fps 0` started the broker and migrated before failing,
    and `--fps 0.001` (under a frame a minute, which its producer refuses) started everything."""
    line = one_line(*run("demo", flag, value, cwd=tmp_path))
    assert line == (f"classpulse demo: error: argument {flag}: {value!r} {says} "
                    "(see classpulse demo --help)")
    assert list(tmp_path.iterdir()) == []  # no database made


@pytest.mark.parametrize(("args", "host"), [
    (["--host", "::1"], "::1"),
    (["--bootstrap-servers", "kafka.invalid:9092"], "kafka.invalid"),  # never resolves (RFC 2606)
], ids=["ipv6", "unresolvable"])
def test_a_broker_address_it_cannot_listen_on(args: list[str], host: str,
                                              tmp_path: Path) -> None:
    """Both were socket.gaierror tracebacks. (The resolver's own words sit between.)"""
    line = one_line(*run("broker", *args, cwd=tmp_path))
    assert line.startswith(f"classpulse broker: the embedded broker cannot listen on {host!r} (")
    assert line.endswith("); give --host (or the host of KAFKA_BOOTSTRAP_SERVERS) an IPv4 "
                         "address of this machine, such as 127.0.0.1, or a name that resolves "
                         "to one")


def test_a_topic_name_kafka_refuses_fails_before_the_networks_load(tmp_path: Path) -> None:
    """The consumer loaded its networks, then died at subscribe with a traceback."""
    line = one_line(*run("consume", "--topic", "frames/7B", "--database-url",
                         "sqlite:///consumer.db", cwd=tmp_path))
    assert line == ("classpulse: configuration error: KAFKA_TOPIC (or --topic) 'frames/7B' is not "
                    "a Kafka topic name; use 1-249 letters, digits, '.', '_' or '-' (not '.' or "
                    "'..' alone)")
    assert not (tmp_path / "consumer.db").exists()


def test_a_metrics_port_in_use_fails_before_anything_starts(tmp_path: Path) -> None:
    """It was an OSError traceback after the database was migrated and the networks loaded."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(*run("consume", "--metrics-port", str(port), "--database-url",
                             "sqlite:///consumer.db", cwd=tmp_path))
    assert line == (f"classpulse consume: cannot serve metrics on 127.0.0.1:{port} (Address "
                    "already in use); another program (another consumer on this host?) uses it: "
                    "pass another --metrics-port, or 0 for none")
    assert not (tmp_path / "consumer.db").exists()  # checked before migrating


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


@pytest.mark.parametrize(("source", "shown", "problem"), [
    ("rstp://admin:s3cretpw@cam.lan:554/stream1", "rstp://admin:***@cam.lan:554/stream1",
     "is a rstp:// stream, which is not supported; use rtsp://, rtsps://, http://, https:// "
     "(a typo such as rstp://?)"),
    ("rtsp:/admin:s3cretpw@cam.lan:554/stream1", "rtsp:/admin:***@cam.lan:554/stream1",
     "is not a webcam index, an rtsp:// or http(s):// URL, a video file or a folder of images"),
    ("rtsp:admin:s3cretpw@cam.lan/x.mp4", "rtsp:admin:***@cam.lan/x.mp4",
     "is not a webcam index, an rtsp:// or http(s):// URL, a video file or a folder of images"),
], ids=["scheme-typo", "one-slash", "no-slash"])
def test_a_mistyped_stream_url_never_shows_its_password(source: str, shown: str, problem: str,
                                                        tmp_path: Path) -> None:
    """A mistyped scheme made the URL a file path, printed whole, password included."""
    status, lines = run("produce", "--source", source, "--camera", "c", "--classroom", "r",
                        "--bootstrap-servers", "127.0.0.1:1", cwd=tmp_path)
    assert "s3cretpw" not in "\n".join(lines)
    assert one_line(status, lines) == f"classpulse produce: camera 'c': source '{shown}' {problem}"


def test_a_camera_files_mistyped_stream_url_never_shows_its_password(tmp_path: Path) -> None:
    (tmp_path / "cameras.yaml").write_text(
        "cameras:\n  - {id: front, classroom: 7B, source: 'rtsp://admin:s3cretpw@cam/1'}\n"
        "  - {id: back, classroom: 7B, source: 'rtps://admin:s3cretpw@cam/2'}\n")
    line = one_line(*run("produce", "--config", "cameras.yaml", "--bootstrap-servers",
                         "127.0.0.1:1", cwd=tmp_path))
    assert line.startswith("classpulse produce: camera 'back': source "
                           "'rtps://admin:***@cam/2' is a rtps:// stream, which is not supported")


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


@pytest.fixture(scope="module")
def analyst(pg_database: Callable[[], str]) -> Iterator[tuple[str, str]]:
    """A migrated PostgreSQL database and an analysts' role of it (`db grant-reader`): its URL
    with a password, and how a message shows that URL."""
    from sqlalchemy import text

    from classpulse.db.engine import make_engine
    from classpulse.db.migrate import upgrade
    from classpulse.db.roles import READER, grant

    url = pg_database()
    upgrade(url)
    role = f"cp_cli_errors_{uuid.uuid4().hex[:10]}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        grant(url, role, READER)
        yield role_urls(url, role)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["dashboard"], ["consume", "--no-migrate"]], ids=" ".join)
def test_a_user_refused_the_schema_s_revision_is_one_line(
    command: list[str], analyst: tuple[str, str], tmp_path: Path
) -> None:
    """The start-up checks of the dashboard (`require_migrated`) and of a consumer started with
    --no-migrate (`require_head`) read alembic_version, which an analyst's role may not: a
    61-line traceback (consume imports torch first: about 5 s)."""
    url, shown = analyst
    status, lines = run(*command, "--database-url", url, cwd=tmp_path, timeout_s=120)
    assert PASSWORD not in "\n".join(lines)
    assert one_line(status, lines) == REFUSED.format(
        command=command[0], url=shown, reason="permission denied for table alembic_version")
