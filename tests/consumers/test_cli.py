"""``classpulse consume``'s flags: defaults come from ConsumerConfig, declared once."""

from __future__ import annotations

import time
import uuid

import pytest

from classpulse.cli import build_parser
from classpulse.errors import UsageError
from consumers.cli import config_from_args
from consumers.config import ConsumerConfig


def test_flag_defaults_are_the_config_defaults() -> None:
    args = build_parser().parse_args(["consume"])
    assert config_from_args(args) == ConsumerConfig()


def test_flags_reach_the_config_and_bad_ones_are_named() -> None:
    args = build_parser().parse_args(["consume", "--duplicate-window", "30", "--max-lag", "60",
                                      "--db-timeout", "5"])
    config = config_from_args(args)
    assert (config.duplicate_window_s, config.max_lag_s, config.db_timeout_s) == (30.0, 60.0, 5.0)
    bad = build_parser().parse_args(["consume", "--duplicate-window", "0", "--db-timeout", "-1"])
    with pytest.raises(UsageError, match="--duplicate-window, --db-timeout must be positive"):
        config_from_args(bad)


@pytest.mark.parametrize("given", ["inf", "nan", "1e7", "2147484"])
def test_a_db_timeout_postgresql_cannot_hold_is_refused_before_anything_loads(given: str) -> None:
    """inf was an OverflowError and 1e7 s a DataError (statement_timeout holds 32-bit
    milliseconds) at the first connect, after the networks had loaded."""
    args = build_parser().parse_args(["consume", "--db-timeout", given])
    with pytest.raises(UsageError) as refused:
        config_from_args(args)
    assert str(refused.value) == (
        f"--db-timeout {float(given)} is not a number of seconds up to 2147483 (about 24 days, "
        "PostgreSQL's longest statement timeout); give e.g. 30")
    longest = build_parser().parse_args(["consume", "--db-timeout", "2147483"])
    assert config_from_args(longest).db_timeout_s == 2147483


@pytest.mark.parametrize(("flag", "given", "expected"), [
    ("--batch-wait-ms", "600000", "--batch-wait-ms 600000 is over 10000: a stop is seen only "
     "between polls; give 1 to 10000, e.g. 250"),
    ("--max-poll-interval-ms", "0", "--max-poll-interval-ms 0 is not from 10000 (the consumer's "
     "session timeout) to 2147483647; give e.g. 300000"),
    ("--max-poll-interval-ms", "-5", "--max-poll-interval-ms -5 is not from 10000 (the "
     "consumer's session timeout) to 2147483647; give e.g. 300000"),
    ("--max-poll-interval-ms", "99999999999999", "--max-poll-interval-ms 99999999999999 is not "
     "from 10000 (the consumer's session timeout) to 2147483647; give e.g. 300000"),
])
def test_poll_waits_the_consumer_cannot_live_with_are_refused_naming_the_flag(
        flag: str, given: str, expected: str) -> None:
    """A 600000 ms batch wait was the poll's timeout, and SIGTERM went unseen for 10 minutes; a
    max poll interval of 0 lost the partitions every 5 s for ever, and one over 32 bits hung
    kafka-python. The largest values allowed are taken."""
    with pytest.raises(UsageError) as refused:
        config_from_args(build_parser().parse_args(["consume", flag, given]))
    assert str(refused.value) == expected
    longest = build_parser().parse_args(["consume", "--batch-wait-ms", "10000",
                                         "--max-poll-interval-ms", "2147483647"])
    config = config_from_args(longest)
    assert (config.batch_wait_ms, config.max_poll_interval_ms) == (10_000, 2**31 - 1)


@pytest.mark.parametrize(("flags", "expected"), [
    (["--backfill", "--max-lag", "inf", "--duplicate-window", "inf"], "--max-lag inf"),
    (["--backfill", "--max-lag", "1e299", "--duplicate-window", "1e300"], "--max-lag 1e+299"),
    (["--exit-when-idle", "inf"], "--exit-when-idle inf"),
])
def test_time_flags_past_what_a_frame_carries_are_refused_naming_the_flag(
        flags: list[str], expected: str) -> None:
    """--max-lag inf with --backfill was an OverflowError traceback once the networks had loaded;
    1e299 failed every flush (bigint out of range) and exited blaming the database."""
    with pytest.raises(UsageError) as refused:
        config_from_args(build_parser().parse_args(["consume", *flags]))
    assert str(refused.value) == (f"{expected} is not a number of seconds up to 3155760000 (the "
                                  "100 years of times a frame carries); give a finite number")
    backfill = build_parser().parse_args(["consume", "--backfill", "--max-lag", "3155760000",
                                          "--duplicate-window", "3155760000"])
    assert config_from_args(backfill).max_lag_s == 3155760000


def _three_frames(kafka_bootstrap: str, prefix: str) -> str:
    """A new topic holding three grey frames of camera cam-x, captured now."""
    import numpy as np

    from classpulse.topics import ensure_topic
    from classpulse.wire import encode_frame
    from producers.publisher import Publisher

    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    publisher = Publisher(kafka_bootstrap, topic)
    now_ms = int(time.time() * 1000)
    for seq in range(3):
        publisher.publish(*encode_frame(np.full((48, 64, 3), 90, np.uint8), camera="cam-x",
                                        classroom="7X", captured_at_ms=now_ms + seq, seq=seq))
    publisher.close()
    return topic


class _FailedDevice:
    """What a GPU whose context died answers: every call raises, whatever the frames."""

    def analyze(self, frames: object) -> list:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


def test_a_broken_analyser_ends_consume_with_one_line_and_nothing_committed(
        kafka_bootstrap: str, tmp_path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Real broker, real database, the CLI production runs; only the device is made to fail.
    The process exits non-zero (a supervisor restarts it) and commits no offset, so the frames are
    read again; before, every frame was counted as analysis_failed and its offset committed."""
    from sqlalchemy import create_engine, text

    from classpulse.cli import main
    from consumers.analyze import FrameAnalyzer

    topic = _three_frames(kafka_bootstrap, "broken")
    monkeypatch.setattr(FrameAnalyzer, "load", classmethod(lambda cls, *a, **k: _FailedDevice()))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code = main(["consume", "--bootstrap-servers", kafka_bootstrap, "--topic", topic,
                 "--database-url", url, "--exit-when-idle", "5", "--device", "cpu"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("classpulse consume: the analyser fails on a blank frame too "
                              "(RuntimeError('CUDA error: an illegal memory access")
    assert err[-1].endswith("stopped without committing the frames in hand, which a restart reads "
                            "again")
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from consumer_offsets")).scalar_one() == 0
        assert conn.execute(text("select count(*) from rejected_frames")).scalar_one() == 0
    engine.dispose()


def test_consume_that_cannot_commit_at_exit_says_how_many_and_exits_non_zero(
        kafka_bootstrap: str, tmp_path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """--exit-when-idle (or SIGTERM) while the database refuses writes: the frames read are
    uncommitted, and the run is not complete. It used to exit 0; now status 1, with one line
    saying how many, why, and what happens to them."""
    from sqlalchemy import create_engine, text

    from classpulse.cli import main
    from classpulse.db.migrate import upgrade
    from consumers.analyze import FrameAnalyzer
    from tests.consumers.test_runner import OneFaceAnalyzer

    topic = _three_frames(kafka_bootstrap, "refused")
    monkeypatch.setattr(FrameAnalyzer, "load", classmethod(lambda cls, *a, **k: OneFaceAnalyzer()))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # every flush fails
        conn.execute(text("alter table emotion_minutes rename to emotion_minutes_away"))
    code = main(["consume", "--bootstrap-servers", kafka_bootstrap, "--topic", topic,
                 "--database-url", url, "--exit-when-idle", "1", "--device", "cpu",
                 "--group", topic])  # its own: joining a group other tests left waits longer
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "classpulse consume: 3 records read are uncommitted: the database refused the last "
        "flush (OperationalError: no such table: emotion_minutes); start the consumer again "
        "once the database takes writes: it reads them again from the stored offsets, and "
        "counts those captured within --max-lag (120 s) of that read (older ones as stale)")
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from consumer_offsets")).scalar_one() == 0
    engine.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_metrics_listen_on_this_host_unless_told_otherwise(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """They listened on 0.0.0.0 whatever one asked: every network of the host could read the
    cameras' frame counts, and the faces of a consumer that reads one camera alone. The CLI as
    production runs it, with the networks and the Kafka loop left out."""
    from classpulse.cli import main
    from consumers.analyze import FrameAnalyzer
    from consumers.report import ConsumerReport
    from consumers.runner import FrameConsumer

    served: list[tuple[int, str]] = []
    monkeypatch.setattr("consumers.metrics.start_http_server",
                        lambda port, addr, registry: served.append((port, addr)))
    monkeypatch.setattr(FrameAnalyzer, "load", classmethod(lambda cls, *a, **k: object()))
    monkeypatch.setattr(FrameConsumer, "run", lambda self, stop: ConsumerReport())
    monkeypatch.delenv("CLASSPULSE_METRICS_HOST", raising=False)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    port = _free_port()
    consume = ["consume", "--metrics-port", str(port), "--database-url", url, "--device", "cpu"]
    assert main(consume) == 0
    monkeypatch.setenv("CLASSPULSE_METRICS_HOST", "0.0.0.0")
    assert main(consume) == 0
    assert main([*consume, "--metrics-host", "127.0.0.1"]) == 0  # the flag wins
    assert served == [(port, "127.0.0.1"), (port, "0.0.0.0"), (port, "127.0.0.1")]


@pytest.mark.parametrize("backfill", [False, True], ids=["live", "backfill"])
def test_consume_backfill_reaches_the_sink_and_revises_no_minute(
        backfill: bool, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--backfill`` is handed to the sink ``classpulse consume`` builds: two flushes into a
    minute closed long ago (recorded footage) leave it shown, where a live consumer's second
    flush marks it revised. The CLI as production runs it, the networks and the Kafka loop left
    out, the sink it built writing what a run would."""
    from datetime import datetime, timezone

    from sqlalchemy import create_engine, text

    from classpulse.cli import main
    from classpulse.db.writes import MinuteRow, OffsetMove
    from consumers.analyze import FrameAnalyzer
    from consumers.report import ConsumerReport
    from consumers.runner import FrameConsumer
    from consumers.sink import Commit

    minute = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)  # closed long ago
    row = MinuteRow("cam-a", "7B", minute, 30, 30, 4, (0, 0, 0, 4, 0, 0, 0),
                    (0.0, 0.0, 0.0, 2.8, 0.0, 0.0, 1.2), 1.68)

    def two_flushes(self: FrameConsumer, stop: object) -> ConsumerReport:
        self.checkpoint.sink.write(Commit([row], [], {0: OffsetMove(None, 30)}))
        self.checkpoint.sink.write(Commit([row], [], {0: OffsetMove(30, 60)}))
        return ConsumerReport()

    monkeypatch.setattr(FrameAnalyzer, "load", classmethod(lambda cls, *a, **k: object()))
    monkeypatch.setattr(FrameConsumer, "run", two_flushes)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    consume = ["consume", "--database-url", url, "--device", "cpu"]
    assert main([*consume, "--backfill"] if backfill else consume) == 0
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("select frames, revised from emotion_minutes")).one() == (
            60, not backfill)
    engine.dispose()


def test_a_metrics_host_that_is_not_an_address_is_one_line(
        tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from classpulse.cli import main

    db = tmp_path / "c.db"
    with pytest.raises(SystemExit) as exited:
        main(["consume", "--metrics-port", "9100", "--metrics-host", "metrics.lan",
              "--database-url", f"sqlite:///{db}"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "classpulse consume: error: argument --metrics-host: 'metrics.lan' is not an IP "
        "address; give 127.0.0.1 (this host only), 0.0.0.0 (every network of this host or "
        "container) or one of this host's addresses (see classpulse consume --help)"]
    # an address of another host (TEST-NET-1): refused before the database is touched
    port = _free_port()
    assert main(["consume", "--metrics-port", str(port), "--metrics-host", "192.0.2.1",
                 "--database-url", f"sqlite:///{db}"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"classpulse consume: cannot serve metrics on 192.0.2.1:{port} (Cannot assign requested "
        "address); give --metrics-host (CLASSPULSE_METRICS_HOST) an address of this host, "
        "127.0.0.1 or 0.0.0.0, or --metrics-port 0 for no metrics"]
    assert not db.exists()


def test_a_metrics_port_below_1024_without_root_is_its_own_line(
        tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A privileged port (EACCES) was answered as an address this host does not have: 'give
    --metrics-host an address of this host', which no address fixes. The tests run as root here,
    which may listen on any port, so the kernel's answer to any other user is given instead."""
    import errno
    import os
    import socket

    from classpulse.cli import main

    def refuse(self: socket.socket, address: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(socket.socket, "bind", refuse)
    db = tmp_path / "c.db"
    assert main(["consume", "--metrics-port", "80", "--metrics-host", "127.0.0.1",
                 "--database-url", f"sqlite:///{db}"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "classpulse consume: cannot serve metrics on 127.0.0.1:80 (Permission denied); ports "
        "below 1024 need root: pass a --metrics-port of 1024 or above, or 0 for none"]
    assert not db.exists()


def test_bad_weights_stop_consume_before_the_database_is_touched(
        tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`consume --weights /nonexistent.safetensors` migrated the database (and created a SQLite
    file) before the model found the file missing."""
    from classpulse.cli import main

    monkeypatch.delenv("CLASSPULSE_WEIGHTS", raising=False)
    db = tmp_path / "c.db"
    missing = tmp_path / "nonexistent.safetensors"
    for weights, problem in ((missing, "not found"), (tmp_path, "is not a file")):
        assert main(["consume", "--weights", str(weights), "--database-url", f"sqlite:///{db}",
                     "--device", "cpu"]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"classpulse consume: emotion weights {weights} {problem}; pass --weights FILE (or "
            "set CLASSPULSE_WEIGHTS), or leave both unset for the shipped weights"]
        assert not db.exists()
    monkeypatch.setenv("CLASSPULSE_WEIGHTS", str(missing))  # the variable, likewise
    assert main(["consume", "--database-url", f"sqlite:///{db}", "--device", "cpu"]) == 2
    assert "emotion weights" in capsys.readouterr().err
    assert not db.exists()


def test_a_missing_gpu_stops_consume_before_the_database_is_touched(
        tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """`consume --device cuda` on a machine without a GPU migrated (and created) the database,
    then refused the device."""
    import torch

    from classpulse.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is no mistake here")
    db = tmp_path / "c.db"
    assert main(["consume", "--device", "cuda", "--database-url", f"sqlite:///{db}"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("classpulse consume: ") and "GPU" in line, line
    assert not db.exists()


def test_weights_other_than_the_database_s_stop_consume_before_the_networks_load(
        migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """They were refused once the networks had loaded, 10-20 s of their log lines later."""
    from classpulse.cli import main

    monkeypatch.setenv("ENGAGEMENT_WEIGHTS", "angry=0,disgust=0,fear=0,happy=1,sad=0,surprise=1,"
                       "neutral=1")
    caplog.set_level("INFO")
    assert main(["consume", "--device", "cpu", "--database-url", migrated_sqlite_url]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("classpulse consume: ENGAGEMENT_WEIGHTS angry=0") and (
        "differ from the database's" in line), line
    assert not [r for r in caplog.records if r.name.startswith("model.")]  # nothing loaded
