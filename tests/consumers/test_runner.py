"""The consumer loop against an in-memory Kafka and a real database (PostgreSQL and SQLite): what
is counted, what is refused and why, and where it reads again after a failed write or a reset log.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.errors import CorruptRecordError, TopicAuthorizationFailedError
from sqlalchemy import Engine, inspect, make_url, text
from sqlalchemy.exc import OperationalError

from classpulse.db.engine import make_engine
from classpulse.db.weights import store_weights
from classpulse.db.writes import OffsetMove, advance_offsets
from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS, EMOTIONS
from classpulse.errors import UsageError
from classpulse.settings import Settings
from classpulse.topics import ensure_topic
from classpulse.wire import encode_frame
from consumers.batch import AnalyzerBroken
from consumers.config import ConsumerConfig
from consumers.gate import FrameReading
from consumers.metrics import ConsumerMetrics
from consumers.runner import FrameConsumer
from consumers.sink import DatabaseSink
from tests.consumers.fake_kafka import FakeKafka, FakeRecord, Message

TOPIC = "frames"
NOW_MS = 1_780_000_000_000
HAPPY = np.array([[0.0, 0.0, 0.0, 0.8, 0.0, 0.0, 0.2]], dtype=np.float32)


class OneFaceAnalyzer:
    """One happy face per frame; a bright red frame breaks analysis, alone or in a batch."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def analyze(self, frames: Sequence[np.ndarray]) -> list[FrameReading]:
        self.calls.append(len(frames))
        if any(f[..., 0].mean() > 200 and f[..., 1].mean() < 50 for f in frames):
            raise ValueError("cannot analyse this frame")
        return [FrameReading(HAPPY.copy()) for _ in frames]


def frame(seq: int, at_ms: int | None = None, camera: str = "cam-a", red: bool = False
          ) -> Message:
    image = np.full((24, 32, 3), (250, 10, 10) if red else (90, 120, 90), np.uint8)
    return encode_frame(image, camera=camera, classroom="7B",
                        captured_at_ms=NOW_MS - 5_000 + seq if at_ms is None else at_ms, seq=seq)


def unreadable(message: Message) -> Message:
    """``message`` with a header key that is not UTF-8, as any client but kafka-python can send
    one: kafka-python cannot parse the record."""
    key, value, headers = message
    return key, value, [*headers, (b"\xff\xferoom", b"7B")]


@pytest.fixture
def engine(migrated_url: str) -> Engine:
    eng = make_engine(migrated_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(migrated_sqlite_url: str) -> Engine:
    """For what the loop decides alone, the same on either database."""
    eng = make_engine(migrated_sqlite_url)
    yield eng
    eng.dispose()


def make_consumer(engine: Engine, kafka: FakeKafka, analyzer: OneFaceAnalyzer | None = None,
                  metrics: ConsumerMetrics | None = None,
                  on_commit: Callable[[list[int], float], None] | None = None,
                  clock: Callable[[], float] = lambda: NOW_MS / 1000,
                  **config: object) -> FrameConsumer:
    settings = Settings(kafka_topic=TOPIC, database_url="sqlite://")
    cfg = ConsumerConfig(**{"batch_frames": 4, "batch_wait_ms": 20, "flush_interval_s": 0.05,
                            "exit_when_idle_s": 0.3, **config})  # type: ignore[arg-type]
    return FrameConsumer(settings, cfg, analyzer or OneFaceAnalyzer(),
                         DatabaseSink(engine, cfg.group_id, TOPIC), metrics,
                         clock=clock, on_commit=on_commit, connect=lambda: kafka,
                         probe=kafka.probe)


def consume(engine: Engine, kafka: FakeKafka, analyzer: OneFaceAnalyzer | None = None,
            metrics: ConsumerMetrics | None = None, **config: object) -> FrameConsumer:
    consumer = make_consumer(engine, kafka, analyzer, metrics, **config)
    consumer.run(threading.Event())
    assert kafka.closed
    return consumer


def totals(engine: Engine) -> tuple[int, int, dict[str, int], dict[int, int]]:
    with engine.connect() as conn:
        frames, faces = conn.execute(text(
            "select coalesce(sum(frames), 0), coalesce(sum(faces), 0) from emotion_minutes")).one()
        rejected = dict(conn.execute(text(
            "select reason, sum(count) from rejected_frames group by reason")).all())
        offsets = dict(conn.execute(text(
            "select partition, next_offset from consumer_offsets")).all())
    return int(frames), int(faces), {k: int(v) for k, v in rejected.items()}, offsets


def rename_table(engine: Engine, name: str, to: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"alter table {name} rename to {to}"))


def back_after(refusals: int, engine: Engine,
               consumer: FrameConsumer) -> Callable[[FakeKafka], None]:
    """A poll hook that puts the minutes table back once the consumer's flushes were refused
    ``refusals`` times (the table was renamed away: a real write that fails)."""
    def back(_: FakeKafka) -> None:
        if consumer.report.failed_flushes == refusals and "emotion_minutes" not in inspect(
                engine).get_table_names():
            rename_table(engine, "emotion_minutes_away", "emotion_minutes")
    return back


def test_stale_and_future_frames_are_refused_with_their_reasons(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """The first rejection of a camera for a reason is logged at WARNING, saying what was wrong
    and what to do; the next ones of that camera and reason only at DEBUG."""
    log = [frame(0), frame(1, at_ms=NOW_MS - 121_000), frame(2, at_ms=NOW_MS + 20_000),
           frame(3, at_ms=NOW_MS + 31_000), frame(4, at_ms=NOW_MS + 30 * 365 * 86_400_000),
           frame(5)]
    with caplog.at_level("WARNING", logger="consumers.rejections"):
        consumer = consume(engine, FakeKafka(TOPIC, {0: log}))
    # 20 s ahead is within the 30 s clock-skew allowance; 31 s and decades ahead are not
    assert totals(engine) == (3, 3, {"stale": 1, "future": 2}, {0: 6})
    assert consumer.report.frames == 3
    assert consumer.report.rejected == {"stale": 1, "future": 2}
    assert [m.split(": ", 1)[1] for m in caplog.messages] == [
        "captured 121 s before it was read, over --max-lag (120 s); frames waited longer than "
        "--max-lag before they were read: add consumers if the count grows, or check that the "
        "camera's clock is not behind (NTP) (further stale rejections of this camera are logged "
        "at DEBUG)",
        f"captured_at {NOW_MS + 31_000} is 31 s ahead of this machine's clock, over "
        "--max-clock-skew (30 s); the camera's clock runs ahead of this machine's: synchronise "
        "it (NTP), or raise --max-clock-skew (further future rejections of this camera are "
        "logged at DEBUG)"]
    assert caplog.messages[0].startswith("rejected a frame of camera=cam-a partition=0 offset=1 "
                                         "reason=stale: ")


@pytest.mark.parametrize(("sent_ms", "minute"), [
    (2**62, "2026-05-28 20:26"),  # year 146 million: it used to end the consumer at each restart
    (4_070_908_800_000, "2026-05-28 20:26"),  # 2099: it used to fill a minute of 2099
    (NOW_MS - 100_000, "2026-05-28 20:25"),  # sent in time to be counted: filed then
])
def test_a_broken_message_is_filed_at_its_broker_time_only_when_it_is_plausible(
        engine: Engine, caplog: pytest.LogCaptureFixture, sent_ms: int, minute: str) -> None:
    """A sender may set any record timestamp; a rejection is filed at it only within --max-lag
    before, and the clock skew allowed after, the record's first read; else in that read's
    minute. Its first rejection is logged with what was wrong, and where to look."""
    kafka = FakeKafka(TOPIC, {0: [frame(0), (b"cam-a", b"", []), frame(2)]})
    kafka.timestamp_ms = sent_ms
    with caplog.at_level("WARNING", logger="consumers.rejections"):
        consume(engine, kafka)
    assert totals(engine) == (2, 2, {"empty": 1}, {0: 3})
    with engine.connect() as conn:
        filed = conn.execute(text("select minute_start from rejected_frames")).scalar_one()
    assert str(filed).startswith(minute)  # NOW_MS is 2026-05-28 20:26:40 UTC
    assert caplog.messages == [
        "rejected a frame of camera=unknown partition=0 offset=1 reason=empty: message has no "
        "value; its producer breaks the wire format (classpulse/wire.py): fix that producer; "
        "the message is skipped and counted in rejected_frames (further empty rejections of "
        "this camera are logged at DEBUG)"]


def test_a_frame_that_breaks_analysis_costs_only_itself(engine: Engine) -> None:
    analyzer = OneFaceAnalyzer()
    log = [frame(0), frame(1, red=True), frame(2), frame(3)]
    consumer = consume(engine, FakeKafka(TOPIC, {0: log}), analyzer)
    assert totals(engine) == (3, 3, {"analysis_failed": 1}, {0: 4})
    assert analyzer.calls == [4, 1, 1, 1, 1]  # the batch, then frame by frame
    assert consumer.report.rejected == {"analysis_failed": 1}


def test_a_bad_frame_alone_in_its_batch_costs_only_itself(engine: Engine) -> None:
    """Every frame of the batch failed, but a blank frame goes through: the frame is bad, not
    the analyser."""
    analyzer = OneFaceAnalyzer()
    consume(engine, FakeKafka(TOPIC, {0: [frame(0, red=True), frame(1)]}), analyzer,
            batch_frames=1)
    assert totals(engine) == (1, 1, {"analysis_failed": 1}, {0: 2})
    assert analyzer.calls == [1, 1, 1, 1]  # the batch, the frame, the blank frame; frame 1


class BrokenAnalyzer:
    """A device that has failed: every call raises, whatever the frames."""

    def analyze(self, frames: Sequence[np.ndarray]) -> list[FrameReading]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


def test_a_broken_analyser_stops_the_consumer_and_commits_nothing(engine: Engine) -> None:
    """Counted as ``analysis_failed``, every camera's frames would be committed away for as long
    as the fault lasted; stopped uncommitted, a restart reads them all again."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    consumer = make_consumer(engine, kafka, BrokenAnalyzer())  # type: ignore[arg-type]
    with pytest.raises(AnalyzerBroken, match="fails on a blank frame too"):
        consumer.run(threading.Event())
    assert kafka.closed
    assert totals(engine) == (0, 0, {}, {})
    restarted = consume(engine, FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]}))
    assert totals(engine) == (8, 8, {}, {0: 8})
    assert restarted.report.frames == 8


def engagement_sums(engine: Engine) -> list[float]:
    with engine.connect() as conn:
        return [round(float(v), 6) for v in conn.execute(text(
            "select engagement_sum from emotion_minutes order by minute_start")).scalars()]


def test_faces_are_scored_with_the_databases_engagement_weights(engine: Engine) -> None:
    """The weights stored by `db upgrade` score the faces, whatever the consumer's defaults;
    weights stored while it runs score the frames counted after its next flush."""
    with engine.begin() as conn:
        store_weights(conn, {**DEFAULT_ENGAGEMENT_WEIGHTS, "happy": 1.0})
    minute = 60_000 * (NOW_MS // 60_000)
    kafka = FakeKafka(TOPIC, {0: [frame(0, at_ms=minute - 30_000),
                                  frame(1, at_ms=minute - 29_000)]})
    consumer = make_consumer(engine, kafka)
    happy = EMOTIONS.index("happy")

    def weights_change_then_frames_come(fake: FakeKafka) -> None:
        if consumer.report.frames == 2 and consumer._agg.weights[happy] == 1.0:
            with engine.begin() as conn:  # stored while it runs
                store_weights(conn, {**DEFAULT_ENGAGEMENT_WEIGHTS, "happy": 0.5})
        elif consumer._agg.weights[happy] == 0.5 and len(fake.logs[0]) == 2:
            fake.logs[0] += [frame(2, at_ms=minute + 1_000), frame(3, at_ms=minute + 2_000)]

    kafka.on_poll = weights_change_then_frames_come
    consumer.run(threading.Event())
    # two happy faces (confidence 0.8) a minute: at 1.0 in the first, 0.5 in the second
    assert engagement_sums(engine) == [1.6, 0.8]


def test_a_consumer_told_other_weights_than_the_databases_refuses_to_start(
        engine: Engine) -> None:
    settings = Settings.load({}, {"ENGAGEMENT_WEIGHTS": "happy=1", "KAFKA_TOPIC": TOPIC})
    kafka = FakeKafka(TOPIC, {0: [frame(0)]})
    consumer = FrameConsumer(settings, ConsumerConfig(), OneFaceAnalyzer(),
                             DatabaseSink(engine, "classpulse", TOPIC), connect=lambda: kafka)
    with pytest.raises(UsageError, match=r"ENGAGEMENT_WEIGHTS angry=0.25,.*happy=1,.* differ from "
                       r"the database's angry=0.25,.*happy=0.6,.*classpulse db upgrade "
                       r"--engagement-weights"):
        consumer.run(threading.Event())
    assert kafka.polls == 0 and totals(engine) == (0, 0, {}, {})


def test_frames_counted_while_the_database_refuses_flushes_wait_for_it(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses three flushes in a row, over five minutes (past max_lag_s, 120 s),
    while cameras go on sending: the counts wait in memory and are committed when it is back.
    Nothing is read twice (no rewind), analysed twice, lost as stale or counted twice, in the
    tables or in the metrics."""
    import consumers.runner

    monkeypatch.setattr(consumers.runner, "RETRY_AFTER_DB_ERROR_S", 0.001)  # tries come at once
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(4)]})
    rename_table(sqlite_engine, "emotion_minutes", "emotion_minutes_away")
    now = [NOW_MS / 1000]
    analyzer, metrics = OneFaceAnalyzer(), ConsumerMetrics()
    consumer = make_consumer(sqlite_engine, kafka, analyzer, metrics, clock=lambda: now[0])

    def outage(fake: FakeKafka) -> None:
        refused = consumer.report.failed_flushes
        if 0 < refused <= 3 and len(fake.logs[0]) == 2 + 2 * refused:
            now[0] += 100  # each refused flush: 100 s on, two frames more
            fake.logs[0] += [frame(len(fake.logs[0]) + i, at_ms=int(now[0] * 1000) - 1000)
                             for i in range(2)]
        elif refused == 3 and "emotion_minutes" not in inspect(sqlite_engine).get_table_names():
            rename_table(sqlite_engine, "emotion_minutes_away", "emotion_minutes")

    kafka.on_poll = outage
    done = consumer.run(threading.Event())
    assert totals(sqlite_engine) == (10, 10, {}, {0: 10})
    assert (done.frames, done.flushes > 0, done.failed_flushes) == (10, True, 3)
    assert kafka.seeks == [(0, "beginning")]  # the assignment's; no rewind
    assert sum(analyzer.calls) == 10
    assert metrics.registry.get_sample_value("classpulse_frames_total", {"camera": "cam-a"}) == 10


def test_the_partitions_pause_while_the_buffer_the_database_refuses_is_full(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded through any outage: past max_uncommitted_records (4, one batch) the
    partition pauses, with the batch polled ahead, and reads on once a flush goes through."""
    import consumers.runner

    monkeypatch.setattr(consumers.runner, "RETRY_AFTER_DB_ERROR_S", 0.001)
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(12)]})
    rename_table(sqlite_engine, "emotion_minutes", "emotion_minutes_away")
    consumer = make_consumer(sqlite_engine, kafka, max_uncommitted_records=4, exit_when_idle_s=0.6)
    during: list[tuple[int, set[int]]] = []  # (next offset to fetch, paused) at the repair

    def outage(fake: FakeKafka) -> None:
        if consumer.report.failed_flushes == 3 and not during:
            during.append((fake.positions[0], set(fake.paused)))
            rename_table(sqlite_engine, "emotion_minutes_away", "emotion_minutes")

    kafka.on_poll = outage
    done = consumer.run(threading.Event())
    assert during == [(8, {0})]
    assert totals(sqlite_engine) == (12, 12, {}, {0: 12})
    assert (done.frames, done.failed_flushes, kafka.paused) == (12, 3, set())


@contextmanager
def write_locked(engine: Engine) -> Iterator[None]:
    """Another session holds a lock that the consumer's writes wait for: on the minutes table
    (PostgreSQL), on the whole database (SQLite's one writer)."""
    other = make_engine(engine.url)
    holder = other.raw_connection()
    try:
        cursor = holder.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("begin immediate")
        else:  # psycopg opens a transaction before the statement
            cursor.execute("lock table emotion_minutes in access exclusive mode")
        yield
    finally:
        holder.rollback()
        holder.close()
        other.dispose()


def test_a_revocation_while_the_database_is_locked_returns_in_time_and_counts_once(
        engine: Engine) -> None:
    """kafka-python runs the revocation on the event loop that sends the heartbeats: its flush
    gets a quarter of the session timeout (0.5 s of 2 s), not the database timeout (30 s, or for
    ever on this PostgreSQL engine): its wait for the lock fails on the database's own timeout
    first (0.4 s, so it ends rolled back), then the buffer is dropped; a second revocation, with
    nothing left to write, does not wait for the lock. The frames are read again and counted
    once, in the tables and in the metrics (which used to count them at each read)."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    metrics = ConsumerMetrics()
    consumer = make_consumer(engine, kafka, metrics=metrics, flush_interval_s=3600.0,
                             session_timeout_ms=2000)
    took: list[float] = []

    def rebalances_while_locked(fake: FakeKafka) -> None:
        if consumer.checkpoint.position(0) == 8 and not took:  # all counted, none committed
            assert fake.listener is not None
            tps = {TopicPartition(TOPIC, 0)}
            with write_locked(engine):
                for _ in range(2):
                    started = time.monotonic()
                    fake.listener.on_partitions_revoked(tps)
                    took.append(time.monotonic() - started)
                    fake.listener.on_partitions_assigned(tps)

    kafka.on_poll = rebalances_while_locked
    done = consumer.run(threading.Event())
    # within the session timeout (2 s), not the database's 30 s; the second revocation, the
    # buffer dropped, does not wait for the lock again (0.4 s)
    assert consumer._callback_wait_s() == 0.5
    assert 0.3 < took[0] < 2.0 and took[1] < 0.4
    assert totals(engine) == (8, 8, {}, {0: 8})
    assert (done.frames, done.failed_flushes) == (8, 1)
    assert kafka.seeks.count((0, "beginning")) == 3  # the assignments: read again from there
    assert metrics.registry.get_sample_value("classpulse_frames_total", {"camera": "cam-a"}) == 8


class SilentProxy:
    """A TCP proxy to the test PostgreSQL that can go silent, as a server whose host was powered
    off or is behind a firewall that drops packets: its connections stay open, what is sent on
    them is taken and never answered, and a new connection is accepted and never answered."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.silent = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.silent.is_set():
                continue  # accepted, never answered
            server = socket.create_connection(self.upstream)
            self.sockets.append(server)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if not self.silent.is_set():  # silent: taken, never passed on
                    sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.mark.postgres
def test_a_rebalance_while_the_database_is_silent_returns_in_time_and_counts_once(
        migrated_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database's host goes silent right after a good flush (none refused yet): the pool's
    ping on the revocation's write, and the assignment's read, wait for an answer that does not
    come, where a statement or lock timeout does not help. Each is given up after a quarter of
    the session timeout (0.5 s of 2 s), in wall time, on kafka-python's event loop: the write
    counts as refused (the kept partition is sought back to its stored offset), the partition
    assigned waits, paused, and is loaded by the loop once the database answers. Every frame is
    counted once."""
    import consumers.runner

    monkeypatch.setattr(consumers.runner, "RETRY_AFTER_DB_ERROR_S", 0.05)
    proxy = SilentProxy(("127.0.0.1", 5432))
    engine = make_engine(make_url(migrated_pg_url).set(port=proxy.port))
    try:
        kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(4)],
                                  1: [frame(100 + i, camera="cam-b") for i in range(4)]})
        consumer = make_consumer(engine, kafka, flush_interval_s=3600.0, session_timeout_ms=2000)
        seen: dict[str, object] = {}

        def silent_during_a_rebalance(fake: FakeKafka) -> None:
            counted = consumer.checkpoint.position(0) == 4 and consumer.checkpoint.position(1) == 4
            if counted and not seen:  # all counted, none committed
                assert fake.listener is not None
                tps = {TopicPartition(TOPIC, 1)}  # incremental: partition 0 is kept
                proxy.silent.set()
                seeks = len(fake.seeks)
                started = time.monotonic()
                fake.listener.on_partitions_revoked(tps)
                seen["revoke"] = time.monotonic() - started
                seen["sought"] = fake.seeks[seeks:]
                seen["lock held"] = consumer._commit_lock.locked()
                seen["failure"] = consumer.checkpoint.failure
                started = time.monotonic()
                fake.listener.on_partitions_assigned(tps)
                seen["assign"] = time.monotonic() - started
                seen["paused"] = set(fake.paused)
                proxy.silent.clear()  # the database answers new connections again

        kafka.on_poll = silent_during_a_rebalance
        done = consumer.run(threading.Event())
        # each given up after 0.5 s, within the session timeout (2 s)
        assert consumer._callback_wait_s() == 0.5
        assert 0.4 < seen["revoke"] < 2.0 and 0.4 < seen["assign"] < 2.0  # type: ignore[operator]
        assert (seen["sought"], seen["lock held"], seen["paused"]) == ([(0, "beginning")], False,
                                                                       {1})
        assert seen["failure"] == ("NoAnswer: no answer from the database within 0.5 s (flush's "
                                   "write); it is unreachable or hung")
        assert totals(engine) == (8, 8, {}, {0: 4, 1: 4})
        assert (done.frames, done.failed_flushes, kafka.paused) == (8, 1, set())
    finally:
        engine.dispose()
        proxy.close()


@pytest.mark.parametrize("backoff_s", [0.05, 60.0], ids=["after-the-backoff", "in-the-backoff"])
def test_a_revocation_after_a_refused_flush_tries_the_database_again(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, backoff_s: float) -> None:
    """The database refused a flush and is back before the next try: a revocation commits what
    is counted, after the backoff and within it (it used to skip the database until a flush went
    through, then during the backoff, dropping up to 100,000 records, which their new owner
    judges by its own clock: stale, lost to the counts, once older than --max-lag)."""
    import consumers.runner

    monkeypatch.setattr(consumers.runner, "RETRY_AFTER_DB_ERROR_S", backoff_s)
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    rename_table(sqlite_engine, "emotion_minutes", "emotion_minutes_away")
    consumer = make_consumer(sqlite_engine, kafka, flush_interval_s=0.0)  # after each batch
    at_revocation: list[tuple[int, int, dict[str, int], dict[int, int]]] = []

    def back_then_rebalanced(fake: FakeKafka) -> None:
        if consumer.report.failed_flushes == 1 and not at_revocation:
            assert fake.listener is not None
            rename_table(sqlite_engine, "emotion_minutes_away", "emotion_minutes")
            if backoff_s < 1:
                time.sleep(max(0.0, consumer._retry_at - time.monotonic()) + 0.01)
            else:
                assert time.monotonic() < consumer._retry_at
            tps = {TopicPartition(TOPIC, 0)}
            fake.listener.on_partitions_revoked(tps)
            at_revocation.append(totals(sqlite_engine))
            fake.listener.on_partitions_assigned(tps)

    kafka.on_poll = back_then_rebalanced
    done = consumer.run(threading.Event())
    assert at_revocation == [(4, 4, {}, {0: 4})]  # the first batch, refused once
    assert totals(sqlite_engine) == (8, 8, {}, {0: 8})
    assert (done.frames, done.failed_flushes) == (8, 1)


def test_a_conflict_at_a_revocation_seeks_the_kept_partitions_to_the_offsets_stored_now(
        sqlite_engine: Engine) -> None:
    """An incremental rebalance takes partition 1 away; the revocation's flush conflicts,
    another consumer (or a write of ours given up, committed late) having stored partition 0's
    offset 2 meanwhile. Partition 0, kept, reads on from offset 2, read from the database again:
    not from the offset it knew, which would read records counted already and conflict again."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(4)],
                              1: [frame(100 + i, camera="cam-b") for i in range(4)]})
    consumer = make_consumer(sqlite_engine, kafka, flush_interval_s=3600.0)
    sought: list[tuple[int, int | str]] = []

    def conflict_at_a_revocation(fake: FakeKafka) -> None:
        counted = consumer.checkpoint.position(0) == 4 and consumer.checkpoint.position(1) == 4
        if counted and not sought:
            assert fake.listener is not None
            with sqlite_engine.begin() as conn:
                advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 2)})
            seeks = len(fake.seeks)
            fake.listener.on_partitions_revoked({TopicPartition(TOPIC, 1)})
            sought.extend(fake.seeks[seeks:])
            fake.listener.on_partitions_assigned({TopicPartition(TOPIC, 1)})

    kafka.on_poll = conflict_at_a_revocation
    done = consumer.run(threading.Event())
    assert sought == [(0, 2)]
    assert totals(sqlite_engine) == (6, 6, {}, {0: 4, 1: 4})
    assert (done.conflicts, done.uncommitted) == (1, 0)


def test_an_exit_whose_last_flush_was_refused_does_not_try_again_at_the_close(
        sqlite_engine: Engine) -> None:
    """The exit's flush is refused with a log reset pending: the buffer is dropped and said, but
    the reset stayed, and kafka-python's close() revoked the partitions, whose write tried the
    database again and held the exit up (a silent one: a quarter of the session timeout)."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    consumer = make_consumer(sqlite_engine, kafka)
    writes: list[int] = []
    write = consumer.checkpoint.sink.write

    def counted(commit, lock_wait_s=None):  # type: ignore[no-untyped-def]
        writes.append(len(commit.resets))
        return write(commit, lock_wait_s)

    consumer.checkpoint.sink.write = counted  # type: ignore[method-assign]

    def broker_and_database_restart(fake: FakeKafka) -> None:
        if len(fake.logs[0]) == 8 and totals(sqlite_engine)[3] == {0: 8}:
            fake.replace_log(0, [])
            rename_table(sqlite_engine, "offset_resets", "offset_resets_away")

    kafka.on_poll = broker_and_database_restart
    close = kafka.close
    at_close: list[int] = []

    def watched_close() -> None:
        before = len(writes)
        close()
        at_close.append(len(writes) - before)

    kafka.close = watched_close  # type: ignore[method-assign]
    done = consumer.run(threading.Event())
    assert done.failed_flushes >= 1 and done.failure is not None  # the exit's flush refused
    assert writes[-1] == 1  # it held the reset
    assert at_close == [0]


def test_a_conflict_at_the_exit_says_what_is_left_uncommitted(sqlite_engine: Engine) -> None:
    """The exit's flush conflicts: another consumer stored offset 5 first. The records after it,
    read by this run, are rewound unread: the run is not complete (``classpulse consume`` exits
    1 with one line), where it used to exit 0."""
    from consumers.cli import uncommitted_line

    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    consumer = make_consumer(sqlite_engine, kafka, flush_interval_s=3600.0)
    stored = []

    def stored_by_another(_: FakeKafka) -> None:
        if consumer.checkpoint.position(0) == 8 and not stored:
            with sqlite_engine.begin() as conn:
                advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 5)})
            stored.append(True)

    kafka.on_poll = stored_by_another
    done = consumer.run(threading.Event())
    assert totals(sqlite_engine) == (0, 0, {}, {0: 5})
    assert (done.conflicts, done.uncommitted, done.conflict, done.frames) == (1, 3, True, 0)
    assert uncommitted_line(done, consumer.config) == (
        "classpulse consume: 3 records read are uncommitted: the last flush conflicted: another "
        "consumer committed offsets of these partitions first, and they were rewound to them; "
        "start the consumer again: it reads them again from the stored offsets, and counts those "
        "captured within --max-lag (120 s) of that read (older ones as stale)")


def test_partitions_paused_for_a_full_buffer_are_not_idle(
        sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """--exit-when-idle: while a full buffer pauses the partitions, Kafka holds more; the
    consumer waits for the database (0.6 s, then 1.2 s) instead of exiting after 0.4 s "with no
    message" and the buffer uncommitted. (At 0.1 s idle a poll slowed by a busy machine after
    the partitions resumed ended the run with frames unread: 0.4 s leaves it room.)"""
    import consumers.runner

    monkeypatch.setattr(consumers.runner, "RETRY_AFTER_DB_ERROR_S", 0.6)
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(12)]})
    rename_table(sqlite_engine, "emotion_minutes", "emotion_minutes_away")
    consumer = make_consumer(sqlite_engine, kafka, max_uncommitted_records=4,
                             exit_when_idle_s=0.4)
    kafka.on_poll = back_after(2, sqlite_engine, consumer)
    done = consumer.run(threading.Event())
    assert totals(sqlite_engine) == (12, 12, {}, {0: 12})
    assert (done.frames, done.failed_flushes, done.uncommitted) == (12, 2, 0)


@pytest.mark.postgres
def test_a_table_locked_by_someone_else_fails_the_flush_in_time_and_it_is_retried(
        migrated_pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """An analyst's open transaction holds a lock on the minutes table: the consumer's write gives
    up after its timeout instead of waiting for the lock (its heartbeats and polls would stall
    with it), keeps what it counted, and counts every frame once when the lock is gone. The
    lock is let go after 20 s at the latest, so a consumer that waits shows as a flush that never
    failed."""
    engine = make_engine(migrated_pg_url, statement_timeout_s=0.5)
    analyst = make_engine(migrated_pg_url)
    holder = analyst.connect()
    holder.begin()
    holder.execute(text("lock table emotion_minutes in access exclusive mode"))
    pid = holder.execute(text("select pg_backend_pid()")).scalar_one()

    def end_the_holder() -> None:  # from its own connection, not across threads
        with analyst.connect() as admin:
            admin.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})

    release = threading.Timer(20, end_the_holder)
    release.start()
    try:
        kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(6)]})
        consumer = make_consumer(engine, kafka)

        def release_after_first_failure(_: FakeKafka) -> None:
            if consumer.report.failed_flushes == 1 and holder.in_transaction():
                holder.rollback()  # the analyst gives up the lock

        kafka.on_poll = release_after_first_failure
        done = consumer.run(threading.Event())
        assert totals(engine) == (6, 6, {}, {0: 6})
        assert (done.frames, done.failed_flushes) == (6, 1)
        # the log says why, in the driver's words, on one line
        failed = [m for m in caplog.messages if "database write failed" in m]
        assert len(failed) == 1 and "statement timeout" in failed[0] and "\n" not in failed[0]
    finally:
        release.cancel()
        holder.close()
        analyst.dispose()
        engine.dispose()


class InterruptedAnalyzer(OneFaceAnalyzer):
    """Its second batch is cut short as a second Ctrl-C (or a bug) would cut it."""

    def analyze(self, frames: Sequence[np.ndarray]) -> list[FrameReading]:
        if len(self.calls) == 1:
            self.calls.append(len(frames))
            raise KeyboardInterrupt
        return super().analyze(frames)


class WaitsForAPoll(OneFaceAnalyzer):
    """Returns once the loop has polled Kafka during the call, or after 5 s."""

    def __init__(self, kafka: FakeKafka) -> None:
        super().__init__()
        self.kafka = kafka
        self.polled_meanwhile: list[bool] = []

    def analyze(self, frames: Sequence[np.ndarray]) -> list[FrameReading]:
        before, give_up = self.kafka.polls, time.monotonic() + 5
        while self.kafka.polls == before and time.monotonic() < give_up:
            time.sleep(0.002)
        self.polled_meanwhile.append(self.kafka.polls > before)
        return super().analyze(frames)


def test_the_next_batch_is_polled_while_one_is_analysed(engine: Engine) -> None:
    # a batch of 4, then one frame: polling for the second batch (and then for a third) goes on
    # for batch_wait_ms, which a loop that polled only between analyses would never overlap
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(5)]})
    analyzer = WaitsForAPoll(kafka)
    consume(engine, kafka, analyzer, batch_wait_ms=1000)
    assert analyzer.polled_meanwhile == [True, True]
    assert totals(engine) == (5, 5, {}, {0: 5})


def rebalance_at_poll(number: int, *partitions: int) -> Callable[[FakeKafka], None]:
    """An ``on_poll`` that revokes and assigns ``partitions`` again at poll ``number``, as an
    eager rebalance does (the poll after the first batch's: while it is analysed)."""
    def rebalance(fake: FakeKafka) -> None:
        if fake.polls == number:
            assert fake.listener is not None
            tps = {TopicPartition(TOPIC, p) for p in partitions}
            fake.listener.on_partitions_revoked(tps)
            fake.listener.on_partitions_assigned(tps)
    return rebalance


def test_a_rebalance_while_a_batch_is_analysed_drops_it_to_be_read_again(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """Nothing of a batch is counted or committed before its analysis is done: a rebalance in the
    poll meanwhile (the partition could be another member's now) drops it instead."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    kafka.on_poll = rebalance_at_poll(2, 0)
    with caplog.at_level("INFO", logger="consumers.runner"):
        consume(engine, kafka)
    assert "dropped the analysed records of partitions=[0]" in caplog.text
    assert totals(engine) == (8, 8, {}, {0: 8})  # no frame twice, none refused as a duplicate


def test_a_partition_taken_away_while_its_batch_is_analysed_is_not_counted_here(
        engine: Engine) -> None:
    """Its records are the new owner's to count from the stored offsets: counting them here as
    well, after the revocation, would count them twice."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})

    def taken_away(fake: FakeKafka) -> None:
        if fake.polls == 2:  # the first batch is in analysis
            assert fake.listener is not None
            fake.owned.discard(0)
            fake.assign_at[0] = 10**9  # another member's from now on
            fake.listener.on_partitions_revoked({TopicPartition(TOPIC, 0)})

    kafka.on_poll = taken_away
    consume(engine, kafka)
    assert totals(engine) == (0, 0, {}, {})


def test_a_partition_assigned_while_another_s_batch_is_analysed_costs_it_nothing(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """An incremental rebalance (a cooperative assignor; kafka-python's default is eager) seeks
    only the partition it brings: partition 0's batch in analysis is counted, not dropped (and
    not lost: nothing seeks partition 0 back). A partition loaded late does the same."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)],
                              1: [frame(100 + i, camera="cam-b") for i in range(3)]})
    kafka.assign_at = {1: 2}
    with caplog.at_level("INFO", logger="consumers.runner"):
        consume(engine, kafka)
    assert "dropped" not in caplog.text
    assert totals(engine) == (11, 11, {}, {0: 8, 1: 3})


def test_a_failed_write_reads_the_next_batch_again_and_it_is_not_late(engine: Engine) -> None:
    """The periodic flush comes between batches: the next batch is polled (read in time) but not
    judged yet when the write fails. The refused buffer is kept and that batch is counted into
    it, judged by its read time, not late after an outage longer than max_lag_s, and neither is
    anything else read before the failure."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    with engine.begin() as conn:
        conn.execute(text("alter table emotion_minutes rename to emotion_minutes_away"))
    now = [NOW_MS / 1000]
    # a flush after every batch: the first batch's fails while the second waits, polled
    consumer = make_consumer(engine, kafka, flush_interval_s=0.0, clock=lambda: now[0])

    def repair_after_the_failure(_: FakeKafka) -> None:
        if consumer.report.failed_flushes == 1 and "away" in " ".join(
                inspect(engine).get_table_names()):
            with engine.begin() as conn:
                conn.execute(text("alter table emotion_minutes_away rename to emotion_minutes"))
            now[0] += 300  # the outage outlasted max_lag_s (120 s)

    kafka.on_poll = repair_after_the_failure
    done = consumer.run(threading.Event())
    assert totals(engine) == (8, 8, {}, {0: 8})
    assert (done.frames, done.failed_flushes) == (8, 1)


def test_an_error_mid_batch_commits_nothing_of_that_batch(engine: Engine) -> None:
    """kafka-python's close() revokes the partitions, and a revoke flushes: the batch cut short
    must not go out with it, or its frames would never be read again."""
    log = [frame(i) for i in range(8)]
    with pytest.raises(KeyboardInterrupt):
        make_consumer(engine, FakeKafka(TOPIC, {0: log}), InterruptedAnalyzer()
                      ).run(threading.Event())
    frames, _, _, offsets = totals(engine)
    assert frames == offsets.get(0, 0) <= 4  # what is committed is exactly what was counted
    consume(engine, FakeKafka(TOPIC, {0: log}))  # the restart reads the rest
    assert totals(engine) == (8, 8, {}, {0: 8})


def test_frames_read_again_after_a_long_database_outage_are_not_late(engine: Engine) -> None:
    """Frames read in time, then read again because the database refused their flush for longer
    than max_lag_s, are counted when it comes back, not refused as stale."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(6)]})
    with engine.begin() as conn:
        conn.execute(text("alter table emotion_minutes rename to emotion_minutes_away"))
    now = [NOW_MS / 1000]
    consumer = make_consumer(engine, kafka, clock=lambda: now[0])

    def outage_of_five_minutes(_: FakeKafka) -> None:
        if consumer.report.failed_flushes >= 1 and now[0] == NOW_MS / 1000:
            now[0] += 300  # the frames are now 305 s old: past max_lag_s (120)
            with engine.begin() as conn:
                conn.execute(text("alter table emotion_minutes_away rename to emotion_minutes"))

    kafka.on_poll = outage_of_five_minutes
    consumer.run(threading.Event())
    assert totals(engine) == (6, 6, {}, {0: 6})
    # a frame of that time read for the first time now is late, and refused as before
    later = FakeKafka(TOPIC, {0: [*kafka.logs[0], frame(6)]})
    make_consumer(engine, later, clock=lambda: now[0]).run(threading.Event())
    assert totals(engine) == (6, 6, {"stale": 1}, {0: 7})


@pytest.mark.parametrize("rebalance", ["none", "eager", "eager, offsets unreadable"])
def test_frames_read_again_after_an_outage_keep_the_verdict_of_their_first_read(
        engine: Engine, rebalance: str) -> None:
    """A frame already late at its first poll stays stale, one from the future then stays
    refused, and the others stay in time, when a failed write makes the consumer read them again
    minutes later; also when an eager rebalance (kafka-python's default) takes the partition
    away and gives it back meanwhile, and when the stored offsets cannot be read at that
    assignment (the partition waits, paused). What is counted must not depend on whether the
    database was up. The log's first two frames were counted before (stored offset 2)."""
    log = [frame(90), frame(91), frame(0, at_ms=NOW_MS - 121_000), frame(1),
           frame(2, at_ms=NOW_MS + 100_000), frame(3), frame(4), frame(5)]
    kafka = FakeKafka(TOPIC, {0: log})
    with engine.begin() as conn:
        advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 2)})
    rename_table(engine, "emotion_minutes", "emotion_minutes_away")
    now = [NOW_MS / 1000]
    # a paused partition is tried again a second later: idleness must not end the run first
    consumer = make_consumer(engine, kafka, clock=lambda: now[0],
                             exit_when_idle_s=3.0 if rebalance.endswith("unreadable") else 0.3)

    def outage_of_five_minutes(fake: FakeKafka) -> None:
        if consumer.report.failed_flushes >= 1 and now[0] == NOW_MS / 1000:
            now[0] += 300  # frame 0 is 421 s old now, frame 2 200 s in the past
            if rebalance != "none":
                assert fake.listener is not None
                if rebalance == "eager, offsets unreadable":
                    consumer.checkpoint.sink = OffsetsAway(engine, failures=1)
                tps = {TopicPartition(TOPIC, 0)}
                fake.listener.on_partitions_revoked(tps)
                fake.listener.on_partitions_assigned(tps)
            rename_table(engine, "emotion_minutes_away", "emotion_minutes")

    kafka.on_poll = outage_of_five_minutes
    done = consumer.run(threading.Event())
    # the revocation tries the database, still away then, once more
    assert done.failed_flushes == (1 if rebalance == "none" else 2)
    assert totals(engine) == (4, 4, {"stale": 1, "future": 1}, {0: 8})
    if rebalance.endswith("unreadable"):
        assert consumer.checkpoint.sink.failures == 0  # the assignment's read did fail
    with engine.connect() as conn:  # the future frame is filed in the minute of its first poll
        minute = conn.execute(text(
            "select minute_start from rejected_frames where reason = 'future'")).scalar_one()
    assert str(minute).startswith("2026-05-28 20:26")


class OffsetsAway(DatabaseSink):
    """The real sink; its first ``failures`` reads of stored offsets (of ``partition``'s, when
    given) fail as a restarting database's would."""

    def __init__(self, engine: Engine, failures: int, partition: int | None = None) -> None:
        super().__init__(engine, "classpulse", TOPIC)
        self.failures, self.partition = failures, partition

    def stored_offsets(self, partitions):  # type: ignore[no-untyped-def]
        partitions = list(partitions)
        if self.failures and (self.partition is None or self.partition in partitions):
            self.failures -= 1
            raise OperationalError("select next_offset", {}, Exception("server restarting"))
        return super().stored_offsets(partitions)


def test_a_database_away_at_assignment_pauses_the_partitions_until_it_is_back(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(3)]})
    consumer = make_consumer(engine, kafka, exit_when_idle_s=5.0)
    consumer.checkpoint.sink = OffsetsAway(engine, failures=2)
    with caplog.at_level("WARNING", logger="consumers.runner"):
        consumer.run(threading.Event())
    assert totals(engine) == (3, 3, {}, {0: 3})
    assert caplog.text.count("cannot load the stored offsets of partitions=[0]") == 2
    assert kafka.paused == set()


def test_a_partition_loaded_late_costs_the_others_nothing(engine: Engine,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Partition 1 arrives by an incremental rebalance while the database is away and is loaded
    on a later poll, in the middle of a batch of partition 0's records: those stay counted."""
    import consumers.runner

    monkeypatch.setattr(consumers.runner, "RETRY_AFTER_DB_ERROR_S", 0.0)  # the next poll
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(12)],
                              1: [frame(100 + i, camera="cam-b") for i in range(3)]})
    kafka.assign_at, kafka.max_per_poll = {1: 2}, 1
    consumer = make_consumer(engine, kafka, exit_when_idle_s=1.0)
    consumer.checkpoint.sink = sink = OffsetsAway(engine, failures=1, partition=1)
    consumer.run(threading.Event())
    assert sink.failures == 0  # partition 1's first load failed
    assert totals(engine) == (15, 15, {}, {0: 12, 1: 3})


def test_a_partition_loaded_late_keeps_the_open_buffer_s_frames_known(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading partition 1's stored offsets reloads the counted frames from the database; the
    frames counted since the last flush must stay known, or a repeat of one counts twice."""
    import consumers.runner

    monkeypatch.setattr(consumers.runner, "RETRY_AFTER_DB_ERROR_S", 0.0)  # the next poll
    kafka = FakeKafka(TOPIC, {0: [*(frame(i) for i in range(8)), frame(1)],
                              1: [frame(100 + i, camera="cam-b") for i in range(3)]})
    kafka.assign_at, kafka.max_per_poll = {1: 2}, 1
    consumer = make_consumer(engine, kafka, exit_when_idle_s=1.0, flush_interval_s=60.0)
    # partition 1 loads at the ninth poll: after frame 1 is counted, before its repeat is judged
    consumer.checkpoint.sink = sink = OffsetsAway(engine, failures=8, partition=1)
    consumer.run(threading.Event())
    assert sink.failures == 0
    assert totals(engine) == (11, 11, {"duplicate": 1}, {0: 9, 1: 3})
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from seen_frames")).scalar_one() == 11


def test_repeats_of_a_frame_count_once_also_after_a_restart(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    key, jpeg, headers = frame(0)
    broken_copy = (key, jpeg[:4] + b"\x00" * (len(jpeg) - 6) + jpeg[-2:], headers)
    first = [frame(0), frame(1), frame(1), frame(2), broken_copy, frame(1)]
    with caplog.at_level("WARNING", logger="consumers.rejections"):
        consume(engine, FakeKafka(TOPIC, {0: first}), batch_frames=2)
    # what is wrong with a message comes before its being a repeat
    assert totals(engine) == (3, 3, {"duplicate": 2, "undecodable": 1}, {0: 6})
    assert [m.split(" reason=")[1].split(";")[0] for m in caplog.messages] == [
        f"duplicate: captured_at {NOW_MS - 4_999} seq 1 was counted before",  # once of two
        "undecodable: the JPEG's header cannot be read"]
    # a restarted consumer reads a producer's late retry of frame 2 and a new frame 3
    second = FakeKafka(TOPIC, {0: [*first, frame(2), frame(3)]})
    consume(engine, second)
    assert totals(engine) == (4, 4, {"duplicate": 3, "undecodable": 1}, {0: 8})
    # the same seq at another time is another frame (a restarted producer counts from 0)
    third = FakeKafka(TOPIC, {0: [*second.logs[0], frame(0, at_ms=NOW_MS - 1000)]})
    consume(engine, third)
    assert totals(engine)[:2] == (5, 5)


def test_frames_are_remembered_for_the_window_of_their_camera_only(engine: Engine) -> None:
    log = [frame(0, at_ms=NOW_MS - 700_000), frame(1, at_ms=NOW_MS - 600_000),
           frame(2, at_ms=NOW_MS - 30_000), frame(3, camera="cam-b", at_ms=NOW_MS - 900_000)]
    consume(engine, FakeKafka(TOPIC, {0: log}), max_lag_s=3600, duplicate_window_s=600)
    with engine.connect() as conn:
        kept = conn.execute(text("select camera_id, seq from seen_frames order by 1, 2")).all()
    # frame 0 was 670 s before cam-a's newest: forgotten; frame 1 (570 s) and cam-b's are kept
    assert kept == [("cam-a", 1), ("cam-a", 2), ("cam-b", 3)]


def test_a_log_reset_before_start_restarts_from_the_new_beginning(engine: Engine) -> None:
    with engine.begin() as conn:  # offsets of an earlier, longer log
        advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 50)})
    metrics = ConsumerMetrics()
    consume(engine, FakeKafka(TOPIC, {0: [frame(0), frame(1), frame(2)]}), metrics=metrics)
    assert totals(engine) == (3, 3, {}, {0: 3})
    with engine.connect() as conn:
        resets = conn.execute(text("select group_id, topic, partition, stored_offset, "
                                   "log_end_offset, restart_offset from offset_resets")).all()
    assert resets == [("classpulse", TOPIC, 0, 50, 3, 0)]
    assert metrics.registry.get_sample_value("classpulse_log_resets_total",
                                             {"partition": "0"}) == 1


def test_a_log_reset_while_running_is_noticed_and_read_from_the_start(engine: Engine,
                                                                      caplog) -> None:
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})

    seeks_before_restart: list[int] = []

    def broker_restarts_empty(fake: FakeKafka) -> None:
        if fake.positions.get(0) == 8 and len(fake.logs[0]) == 8:
            fake.replace_log(0, [])  # restarted with nothing; cameras publish again later
            seeks_before_restart.append(len(fake.seeks))
        elif seeks_before_restart and (0, 0) in fake.seeks[seeks_before_restart[0]:] and (
                not fake.logs[0]):  # the consumer went back to the new log's beginning
            fake.replace_log(0, [frame(100 + i) for i in range(3)])

    kafka.on_poll = broker_restarts_empty
    with caplog.at_level("WARNING", logger="consumers.checkpoint"):
        consume(engine, kafka)
    assert totals(engine) == (11, 11, {}, {0: 3})
    assert ("log reset detected topic=frames partition=0 stored_offset=8 log_end_offset=0"
            in caplog.text)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from offset_resets")).scalar_one() == 1


@pytest.mark.parametrize("flush_interval_s", [60, 0.0])
def test_a_log_reset_refilled_at_once_is_noticed(engine: Engine, caplog,
                                                 flush_interval_s: float) -> None:
    """The broker restarts empty and the cameras publish again before the consumer looks at the
    log's end: the client restarts its fetch past the old end at the new log's beginning and
    hands over its records. They are counted once, from the new beginning, and the reset is
    recorded once (it used to pass unnoticed: no row, no warning, the stored offset moved back,
    and the new records were judged by the first reads of the old ones at their offsets: a
    minute earlier, so the new frames were refused as from the future). With a flush after
    every batch, the old log's batch still in analysis must not move the offset back past the
    new log's end, where the flush's look at the log's end would find the reset again."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    now_ms = [NOW_MS]

    def broker_restarts_and_cameras_publish(fake: FakeKafka) -> None:
        if fake.positions.get(0) == 8 and len(fake.logs[0]) == 8:
            now_ms[0] += 60_000
            fake.replace_log(0, [frame(100 + i, at_ms=now_ms[0] - 1_000) for i in range(3)])

    kafka.on_poll = broker_restarts_and_cameras_publish
    metrics = ConsumerMetrics()
    consumer = make_consumer(engine, kafka, metrics=metrics, clock=lambda: now_ms[0] / 1000,
                             flush_interval_s=flush_interval_s)
    with caplog.at_level("WARNING", logger="consumers.checkpoint"):
        consumer.run(threading.Event())
    assert totals(engine) == (11, 11, {}, {0: 3})
    with engine.connect() as conn:
        resets = conn.execute(text("select partition, stored_offset, log_end_offset, "
                                   "restart_offset from offset_resets")).all()
    assert resets == [(0, 8, 3, 0)]
    assert "log reset detected topic=frames partition=0 stored_offset=8" in caplog.text
    assert metrics.registry.get_sample_value("classpulse_log_resets_total",
                                             {"partition": "0"}) == 1


def test_records_deleted_unread_by_retention_are_counted_as_expired(engine: Engine,
                                                                     caplog) -> None:
    """An outage longer than the broker's retention: the stored offset lies below the log's
    first one, the client restarts there, and the frames deleted unread are counted as
    ``expired`` (they used to leave no trace at all)."""
    with engine.begin() as conn:
        advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 2)})
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(10)]})
    kafka.expire(0, 6)
    with caplog.at_level("WARNING", logger="consumers.runner"):
        consume(engine, kafka)
    assert totals(engine) == (4, 4, {"expired": 4}, {0: 10})
    assert "records expired unread partition=0 offsets=2-5" in caplog.text


@pytest.mark.parametrize(("begin", "markers", "counted", "rejected"),
                         [(0, {2, 3}, 6, {}), (4, {4, 5}, 4, {"expired": 2})])
def test_offsets_that_hold_no_record_are_not_counted_as_expired(
        sqlite_engine: Engine, begin: int, markers: set[int], counted: int,
        rejected: dict[str, int]) -> None:
    """A fetch passes over offsets that hold no record (a transactional producer's commit
    markers, compaction). Only those below the log's first offset, deleted by retention, count
    as ``expired``; the markers used to be counted with them, rejections of frames that never
    were. The stored offset is 2."""
    with sqlite_engine.begin() as conn:
        advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 2)})
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(10)]})
    kafka.expire(0, begin)
    kafka.markers[0] = markers
    consume(sqlite_engine, kafka)
    assert totals(sqlite_engine) == (counted, counted, rejected, {0: 10})


def test_expired_records_are_counted_once_through_a_failed_write(engine: Engine) -> None:
    with engine.begin() as conn:
        advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 2)})
        conn.execute(text("alter table emotion_minutes rename to emotion_minutes_away"))
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(10)]})
    kafka.expire(0, 6)
    consumer = make_consumer(engine, kafka)
    kafka.on_poll = back_after(1, engine, consumer)
    consumer.run(threading.Event())
    assert consumer.report.failed_flushes == 1
    assert totals(engine) == (4, 4, {"expired": 4}, {0: 10})


@pytest.mark.parametrize("cause", ["header key", "corrupt batch"])
def test_records_the_client_cannot_parse_are_skipped_and_counted(
        engine: Engine, caplog: pytest.LogCaptureFixture, cause: str) -> None:
    """kafka-python raises out of poll at a record it cannot parse, and used to end the consumer
    with it, at every restart and on every member, until retention deleted it. The frames around
    it are counted, it is counted as ``unreadable`` (its camera unknown) and the offset moves past
    it. A batch that fails its CRC check costs each of its records, and nothing after it."""
    log = [frame(i) for i in range(8)]
    if cause == "header key":
        log[3] = unreadable(log[3])
    kafka = FakeKafka(TOPIC, {0: log})
    if cause == "corrupt batch":
        kafka.corrupt[0] = range(3, 6)
    with caplog.at_level("WARNING", logger="consumers.unreadable"):
        done = consume(engine, kafka)
    bad = 1 if cause == "header key" else 3
    assert totals(engine) == (8 - bad, 8 - bad, {"unreadable": bad}, {0: 8})
    assert done.report.rejected == {"unreadable": bad}
    # a corrupt batch is skipped as the probe finds it: one record a round or all three at once
    # (rounds of as many records as a poll may return); the log names each offset skipped once
    skipped = [offset for first, last in re.findall(
        r"unreadable records skipped partition=0 offsets=(\d+)-(\d+)", caplog.text)
        for offset in range(int(first), int(last) + 1)]
    assert skipped == list(range(3, 3 + bad))
    with engine.connect() as conn:
        assert conn.execute(text("select camera_id from rejected_frames")).scalar_one() == \
            "unknown"


@pytest.mark.parametrize("bad", [0, 1])
def test_an_unreadable_record_costs_the_other_partition_nothing(engine: Engine, bad: int) -> None:
    """Only the partition that holds it is moved on; the one polled before it in the same poll
    (bad = 1) and the one probed beside it (bad = 0) are read and counted as ever: moved one
    record on for the poll that drops the failed fetch and put back (bad = 0: it has records
    left to read), never skipped."""
    logs = {0: [frame(i) for i in range(6)],
            1: [frame(100 + i, camera="cam-b") for i in range(6)]}
    logs[bad][2] = unreadable(logs[bad][2])
    kafka = FakeKafka(TOPIC, logs)
    consume(engine, kafka)
    assert totals(engine) == (11, 11, {"unreadable": 1}, {0: 6, 1: 6})
    assert kafka.probes == 1
    other = [s for s in kafka.seeks if s[0] == 1 - bad]
    assert other[0] == (1 - bad, "beginning")
    assert [(a[1] - b[1]) for a, b in zip(other[1::2], other[2::2], strict=True)] == \
        [1] * ((len(other) - 1) // 2)  # each nudge put back


def test_an_unreadable_record_is_counted_once_through_a_failed_write(engine: Engine) -> None:
    """The write that commits its rejection fails: the buffer is kept for the next try, with the
    record's rejection and the offset past it, so it is skipped once and counted once."""
    log = [frame(0), frame(1), unreadable(frame(2)), *(frame(i) for i in range(3, 6))]
    kafka = FakeKafka(TOPIC, {0: log})
    rename_table(engine, "emotion_minutes", "emotion_minutes_away")
    consumer = make_consumer(engine, kafka, flush_interval_s=0.0)  # a flush after each batch
    kafka.on_poll = back_after(1, engine, consumer)
    done = consumer.run(threading.Event())
    assert done.failed_flushes == 1
    assert totals(engine) == (5, 5, {"unreadable": 1}, {0: 6})
    assert kafka.seeks.count((0, 3)) == 1  # skipped, and not read again


def test_an_unreadable_record_is_counted_once_when_a_rebalance_moves_its_partition(
        engine: Engine) -> None:
    """An eager rebalance inside the poll that follows the skip (the one that drops the failed
    fetch) takes the partition away and gives it back at its stored offset: the record skipped
    before that poll was still counted, then skipped and counted again on the second read."""
    log = [frame(0), frame(1), unreadable(frame(2)), *(frame(i) for i in range(3, 6))]
    kafka = FakeKafka(TOPIC, {0: log})
    consumer = make_consumer(engine, kafka)
    rebalanced: list[bool] = []

    def rebalance_after_the_probe(fake: FakeKafka) -> None:
        if fake.probes == 1 and not rebalanced:
            rebalanced.append(True)
            assert fake.listener is not None
            tps = {TopicPartition(TOPIC, 0)}
            fake.listener.on_partitions_revoked(tps)
            fake.listener.on_partitions_assigned(tps)

    kafka.on_poll = rebalance_after_the_probe
    consumer.run(threading.Event())
    assert rebalanced
    assert totals(engine) == (5, 5, {"unreadable": 1}, {0: 6})


def test_an_unreadable_record_at_the_stored_offset_is_counted_once_through_a_rebalance(
        engine: Engine) -> None:
    """The offsets stored stop right before the record: a rebalance in the poll after the skip
    seeks the partition back onto it, that poll fails on it again, and the next round skips it
    again in the new epoch. Both skips were dropped (their epochs compared with the first
    round's), and the record went uncounted: the offset past it read as a gap."""
    consume(engine, FakeKafka(TOPIC, {0: [frame(0), frame(1)]}))
    log = [frame(0), frame(1), unreadable(frame(2)), *(frame(i) for i in range(3, 6))]
    kafka = FakeKafka(TOPIC, {0: log})
    consumer = make_consumer(engine, kafka)
    rebalanced: list[bool] = []

    def rebalance_in_the_poll_after_the_skip(fake: FakeKafka) -> None:
        if fake.probes == 1 and not rebalanced:
            rebalanced.append(True)
            assert fake.listener is not None
            fake.listener.on_partitions_revoked({TopicPartition(TOPIC, 0)})
            # as kafka-python: the revoked partition leaves the assignment with its failed
            # fetch, and this poll assigns it again, sought to the stored offset, 2
            fake.owned.discard(0)
            fake._stuck.pop(0, None)

    kafka.on_poll = rebalance_in_the_poll_after_the_skip
    consumer.run(threading.Event())
    assert rebalanced
    assert totals(engine) == (5, 5, {"unreadable": 1}, {0: 6})


def test_a_new_log_whose_first_record_is_skipped_restarts_without_spinning(
        engine: Engine) -> None:
    """The broker restarted empty and the new log's first record cannot be parsed: it is skipped,
    then the reset is found and the partition restarts at the new log's beginning, onto it."""
    with engine.begin() as conn:  # offsets of an earlier, longer log
        advance_offsets(conn, "classpulse", TOPIC, {0: OffsetMove(None, 50)})
    kafka = FakeKafka(TOPIC, {0: [unreadable(frame(0)), frame(1), frame(2)]})
    consume(engine, kafka, batch_frames=1)
    assert totals(engine) == (2, 2, {"unreadable": 1}, {0: 3})


@pytest.mark.parametrize("error", [TopicAuthorizationFailedError(), CorruptRecordError("wire")])
def test_a_poll_error_that_is_no_unreadable_record_ends_the_consumer_as_before(
        engine: Engine, error: Exception) -> None:
    """Not a record (the topic is forbidden), or a corrupt record that a second read does not
    find (corrupted on the wire): the error ends the consumer uncommitted, and its restart reads
    again from the stored offsets."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})

    def fail_second_poll(fake: FakeKafka) -> None:
        if fake.polls == 2:  # the first batch is polled, not counted
            raise error

    kafka.on_poll = fail_second_poll
    with pytest.raises(type(error)):
        make_consumer(engine, kafka).run(threading.Event())
    assert kafka.closed
    assert kafka.probes == (1 if isinstance(error, CorruptRecordError) else 0)
    assert totals(engine) == (0, 0, {}, {})


class NonUtf8Key(str):
    """A header key that kafka-python's producer puts on the wire as bytes that are not UTF-8
    (its record builder writes ``key.encode("utf-8")``), as another client's could be."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xferoom"


@pytest.mark.broker
@pytest.mark.slow
def test_a_record_with_a_non_utf8_header_key_on_a_real_broker(migrated_sqlite_url: str,
                                                              kafka_bootstrap: str) -> None:
    """The same with kafka-python itself: it fails on the record in poll, and polled again there
    without a seek past it, it would spin forever and the run never end."""
    topic = f"unreadable.{time.monotonic_ns()}"
    ensure_topic(kafka_bootstrap, topic, partitions=2)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    now_ms = int(time.time() * 1000)
    for seq in range(5):  # each record alone in its batch: sent once the last one is acknowledged
        for partition, camera in enumerate(("cam-a", "cam-b")):
            key, value, headers = frame(seq, at_ms=now_ms - 10_000 + seq, camera=camera)
            if (partition, seq) == (0, 2):
                headers = [*headers, (NonUtf8Key("room"), b"7B")]
            producer.send(topic, key=key, value=value, headers=headers,
                          partition=partition).get(timeout=10)
    producer.close()
    engine = make_engine(migrated_sqlite_url)
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, kafka_topic=topic)
    config = ConsumerConfig(batch_wait_ms=50, flush_interval_s=0.2, session_timeout_ms=6000,
                            exit_when_idle_s=2.0)
    consumer = FrameConsumer(settings, config, OneFaceAnalyzer(),
                             DatabaseSink(engine, config.group_id, topic))
    run = threading.Thread(target=consumer.run, args=(threading.Event(),), daemon=True)
    run.start()
    run.join(60)
    try:
        assert not run.is_alive(), "the consumer hangs"
        assert totals(engine) == (9, 9, {"unreadable": 1}, {0: 5, 1: 5})
    finally:
        engine.dispose()


@pytest.mark.broker
@pytest.mark.slow
def test_compressed_batches_on_a_real_broker_are_read_or_skipped_when_a_codec_is_missing(
        migrated_sqlite_url: str, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Producers compress as they are told (librdkafka, Java and kafka-python clients can all
    send lz4, snappy or zstd): the consumer reads every codec. A batch whose codec library it
    lacks (zstd, here made missing after the producer used it) used to end the consumer, at
    every restart: now its records count as ``unreadable`` and the rest are read on."""
    import kafka.codec

    topic = f"compressed.{time.monotonic_ns()}"
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    now_ms = int(time.time() * 1000)
    seq = iter(range(100))
    for codec, frames in (("gzip", 2), ("zstd", 3), ("lz4", 2), ("snappy", 2), (None, 1)):
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                                 compression_type=codec, linger_ms=100)
        sent = []
        for _ in range(frames):  # one batch per codec: sent together, acknowledged after
            n = next(seq)
            key, value, headers = frame(n, at_ms=now_ms - 10_000 + n)
            sent.append(producer.send(topic, key=key, value=value, headers=headers))
        for future in sent:
            future.get(timeout=10)
        producer.close()
    monkeypatch.setattr(kafka.codec, "has_zstd", lambda: False)
    engine = make_engine(migrated_sqlite_url)
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, kafka_topic=topic)
    # a group of its own: joining one that other tests' consumers left waits for their session
    config = ConsumerConfig(group_id=topic, batch_wait_ms=50, flush_interval_s=0.2,
                            session_timeout_ms=2000, exit_when_idle_s=3.0)
    consumer = FrameConsumer(settings, config, OneFaceAnalyzer(),
                             DatabaseSink(engine, config.group_id, topic))
    run = threading.Thread(target=consumer.run, args=(threading.Event(),), daemon=True)
    run.start()
    run.join(60)
    try:
        assert not run.is_alive(), "the consumer hangs"
        assert totals(engine) == (7, 7, {"unreadable": 3}, {0: 10})
    finally:
        engine.dispose()


@pytest.mark.parametrize("rebalance", [False, True])
def test_a_log_reset_found_while_the_database_is_away_is_recorded_once(
        engine: Engine, rebalance: bool) -> None:
    """The broker and the database restart together: the reset is found and its write fails.
    The reset stays pending with the buffer: sought back to the stored offset, past the new
    log's end, the consumer would restart at the new log's beginning unnoticed once cameras
    publish again (frames counted, the reset's row never written). With an eager rebalance during
    the outage (the revocation drops the buffer) the partition comes back, the reset is found
    again, and still recorded once."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    metrics = ConsumerMetrics()
    consumer = make_consumer(engine, kafka, metrics=metrics)
    rebalanced = []

    def broker_and_database_restart(fake: FakeKafka) -> None:
        if len(fake.logs[0]) == 8 and totals(engine)[3] == {0: 8}:
            fake.replace_log(0, [])  # both restart, empty and away
            rename_table(engine, "offset_resets", "offset_resets_away")
        elif rebalance and consumer.report.failed_flushes and not rebalanced:
            rebalanced.append(True)
            assert fake.listener is not None
            tps = {TopicPartition(TOPIC, 0)}
            fake.listener.on_partitions_revoked(tps)
            fake.listener.on_partitions_assigned(tps)
        elif consumer.report.failed_flushes and not fake.logs[0] and (
                rebalanced or not rebalance):
            fake.replace_log(0, [frame(100 + i) for i in range(3)])  # the cameras publish again
            rename_table(engine, "offset_resets_away", "offset_resets")

    kafka.on_poll = broker_and_database_restart
    done = consumer.run(threading.Event())
    # the revocation tries the database, still away then: it refuses again, the buffer is dropped
    assert done.failed_flushes == (2 if rebalance else 1)
    assert totals(engine) == (11, 11, {}, {0: 3})
    with engine.connect() as conn:
        resets = conn.execute(text("select partition, stored_offset, log_end_offset, "
                                   "restart_offset from offset_resets")).all()
    assert resets == [(0, 8, 0, 0)]  # found while the new log was empty
    assert metrics.registry.get_sample_value(  # each finding counts: after the rebalance, two
        "classpulse_log_resets_total", {"partition": "0"}) == (2 if rebalance else 1)


def test_every_flush_returns_freed_memory_before_the_commit_probe(engine: Engine,
                                                                   monkeypatch) -> None:
    """The soak's flat memory (docs/benchmarks.md) rests on ``flush`` trimming the heap; the
    bench's probe reads memory in ``on_commit``, so the trim has to come first."""
    events: list[str] = []
    monkeypatch.setattr("consumers.runner.release_free_memory", lambda: events.append("trim"))
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(10)]})
    consumer = make_consumer(engine, kafka, flush_interval_s=0.0,
                             on_commit=lambda captures, at: events.append("commit"))
    flush = consumer.flush

    def marked_flush(*polled: Sequence[FakeRecord]) -> None:
        events.append("flush")
        flush(*polled)

    consumer.flush = marked_flush  # type: ignore[method-assign]
    done = consumer.run(threading.Event())
    assert totals(engine)[:2] == (10, 10)
    assert done.flushes >= 3  # 10 frames in batches of 4, a flush after each
    assert events[0] == "flush"
    each_flush = " ".join(events).split("flush")[1:]
    # every flush trims, the ones with nothing to commit too, and the probe comes after the trim
    assert {f.strip() for f in each_flush} <= {"trim", "trim commit"}
    assert [f.strip() for f in each_flush].count("trim commit") == done.flushes


def test_a_deleted_weights_row_keeps_the_weights_in_use(engine: Engine, caplog) -> None:
    """Read after every flush, also inside rebalance callbacks, where an error would end the
    process: a missing row is said and the weights in use stay."""
    kafka = FakeKafka(TOPIC, {0: [frame(0), frame(1)]})
    consumer = make_consumer(engine, kafka)

    def weights_row_deleted(_: FakeKafka) -> None:
        if consumer.report.frames:
            with engine.begin() as conn:
                conn.execute(text("delete from engagement_weights"))

    kafka.on_poll = weights_row_deleted
    with caplog.at_level("WARNING", logger="consumers.runner"):
        consumer.run(threading.Event())
    assert totals(engine)[:2] == (2, 2)
    assert "holds no engagement weights" in caplog.text


class GatedSink(DatabaseSink):
    """The real sink, whose writes wait for ``gate``: a commit the database is slow to take."""

    def __init__(self, engine: Engine, gate: threading.Event) -> None:
        super().__init__(engine, "classpulse", TOPIC)
        self.gate = gate
        self.writing = threading.Event()

    def write(self, commit, lock_wait_s=None) -> None:  # type: ignore[no-untyped-def]
        self.writing.set()
        assert self.gate.wait(10)
        super().write(commit, lock_wait_s)


def test_a_discard_waits_for_a_flush_under_way_on_another_thread(engine: Engine) -> None:
    """kafka-python flushes a revoke on its IO thread while the loop's thread waits in poll; a
    second Ctrl-C sends the loop's thread to discard the open buffer at once. The discard waits
    for the flush, so the rows and their offsets are committed together, never the rows alone."""
    gate = threading.Event()
    sink = GatedSink(engine, gate)
    settings = Settings(kafka_topic=TOPIC, database_url="sqlite://")
    cfg = ConsumerConfig(batch_frames=4, batch_wait_ms=20, flush_interval_s=3600,
                         exit_when_idle_s=0.3)
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(4)]})
    consumer = FrameConsumer(settings, cfg, OneFaceAnalyzer(), sink,
                             clock=lambda: NOW_MS / 1000, connect=lambda: kafka)
    stopped: list[BaseException] = []

    def second_ctrl_c_during_a_revoke_flush(fake: FakeKafka) -> None:
        if consumer.checkpoint.position(0) == 4 and not stopped:  # 4 frames counted, unflushed
            revoke = threading.Thread(target=consumer.flush)  # as kafka-python's IO thread
            revoke.start()
            assert sink.writing.wait(5)
            discard = threading.Thread(target=consumer._discard_open_buffer)
            discard.start()
            discard.join(0.3)
            stopped.append(KeyboardInterrupt())
            assert discard.is_alive(), "the discard ran inside the flush"
            gate.set()
            revoke.join(5)
            discard.join(5)
            raise stopped[0]

    kafka.on_poll = second_ctrl_c_during_a_revoke_flush
    with pytest.raises(KeyboardInterrupt):
        consumer.run(threading.Event())
    assert totals(engine) == (4, 4, {}, {0: 4})  # the rows with their offsets


def test_the_event_lag_follows_frames_refused_as_too_late(engine: Engine) -> None:
    """A consumer an hour behind refuses every frame it reads as stale: the gauge README says to
    alert on kept the under-a-second lag of its last counted frame."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(12)]})
    kafka.max_per_poll = 4
    kafka.timestamp_ms = NOW_MS - 5_000  # the broker took them as they were captured
    clock = {"s": NOW_MS / 1000}

    def an_hour_later(fake: FakeKafka) -> None:
        if fake.positions.get(0, 0) >= 4:
            clock["s"] = NOW_MS / 1000 + 3600

    kafka.on_poll = an_hour_later
    metrics = ConsumerMetrics()
    consumer = make_consumer(engine, kafka, metrics=metrics, clock=lambda: clock["s"])
    consumer.run(threading.Event())
    assert metrics.registry.get_sample_value("classpulse_rejected_total", {"reason": "stale"}) == 8
    lag = metrics.registry.get_sample_value("classpulse_event_lag_seconds")
    assert lag is not None and 3600 < lag < 3610


def test_the_event_lag_of_records_without_a_broker_time_is_their_frames(engine: Engine) -> None:
    """Records whose broker time is unknown (-1), all refused as stale by a consumer an hour
    behind: the gauge kept its old value."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(8)]})
    kafka.timestamp_ms = -1
    metrics = ConsumerMetrics()
    make_consumer(engine, kafka, metrics=metrics, clock=lambda: NOW_MS / 1000 + 3600).run(
        threading.Event())
    lag = metrics.registry.get_sample_value("classpulse_event_lag_seconds")
    assert lag is not None and 3600 < lag < 3610


def test_a_camera_clock_behind_is_no_event_lag(engine: Engine) -> None:
    """Its frames arrive stale (captured two hours before by its clock) while the consumer reads
    each as the broker takes it: the gauge said 7,200 s behind, an alert for nothing."""
    kafka = FakeKafka(TOPIC, {0: [frame(i, at_ms=NOW_MS - 7_200_000 + i) for i in range(8)]})
    kafka.timestamp_ms = NOW_MS - 2_000
    metrics = ConsumerMetrics()
    make_consumer(engine, kafka, metrics=metrics).run(threading.Event())
    assert metrics.registry.get_sample_value("classpulse_rejected_total", {"reason": "stale"}) == 8
    lag = metrics.registry.get_sample_value("classpulse_event_lag_seconds")
    assert lag is not None and lag < 10


def test_a_revoked_partition_s_lag_is_no_longer_exported(engine: Engine) -> None:
    """It stayed at its value at the revocation (36 records) for ever, beside its new owner's."""
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(4)],
                              1: [frame(i, camera="cam-b") for i in range(40)]})
    kafka.max_per_poll = 2
    metrics = ConsumerMetrics()
    exported: list[float | None] = []

    def revoke_partition_1(fake: FakeKafka) -> None:
        if fake.positions.get(1, 0) >= 8 and 1 in fake.owned:
            exported.append(metrics.registry.get_sample_value(
                "classpulse_consumer_lag_records", {"partition": "1"}))
            fake.listener.on_partitions_revoked({TopicPartition(TOPIC, 1)})
            fake.owned.discard(1)
            fake.assign_at[1] = 10**9

    kafka.on_poll = revoke_partition_1
    make_consumer(engine, kafka, metrics=metrics).run(threading.Event())
    assert exported and exported[0] is not None and exported[0] > 0  # exported while owned
    assert metrics.registry.get_sample_value("classpulse_consumer_lag_records",
                                             {"partition": "1"}) is None


def test_another_group_reading_the_topic_is_warned_of(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """A stray --group (a replay attempt) read the whole topic again: its frames were counted
    once, but rejected_frames said 80% of them were stale, with no word of why."""
    with engine.begin() as conn:
        advance_offsets(conn, "replay", TOPIC, {0: OffsetMove(None, 3)})
        advance_offsets(conn, "replay", "other-topic", {0: OffsetMove(None, 3)})
    kafka = FakeKafka(TOPIC, {0: [frame(i) for i in range(2)]})
    with caplog.at_level("WARNING", logger="consumers.runner"):
        consumer = make_consumer(engine, kafka)
        consumer.run(threading.Event())
    (line,) = [r.getMessage() for r in caplog.records if "also stored offsets" in r.getMessage()]
    assert line.startswith(f"consumer groups 'replay' also stored offsets of topic={TOPIC}: ")
    assert f"(this one: group={consumer.config.group_id})" in line
