"""The frames topic is only ever created by ClassPulse, with its retention and segments: never by
the broker on a producer's first send, with the broker's default retention (seven days on Apache
Kafka); and a topic found keeping frames longer is refused, not published into. Against the
session's embedded broker, which creates a topic on a send whatever the client asks, so the
producer must find a missing topic before it sends anything, and which describes the settings a
topic was created with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import (
    InvalidReplicationFactorError,
    KafkaConnectionError,
    PolicyViolationError,
)

import classpulse.topic_presence
import producers.topic_watch
from classpulse.cli import build_parser
from classpulse.errors import UsageError
from classpulse.settings import Settings
from classpulse.topics import ensure_topic, topic_exists
from producers.cli import EXIT_INCOMPLETE, EXIT_RESTART, run_produce
from producers.topic_watch import TopicWatch, WatchResult
from tests.fixtures.services import messages_held

pytestmark = pytest.mark.broker


def test_produce_to_a_missing_topic_fails_in_one_line_and_creates_nothing(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = f"missing-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((48, 64, 3), 90, np.uint8))
    done = subprocess.run(
        [sys.executable, "-m", "classpulse", "produce", "--source", str(folder), "--camera", "c",
         "--classroom", "r", "--bootstrap-servers", kafka_bootstrap, "--topic", topic],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (done.stdout + done.stderr).splitlines() == [
        f"classpulse produce: topic {topic!r} does not exist on Kafka at {kafka_bootstrap}; "
        "create it with `classpulse produce --partitions N` (or compose's kafka-init), which "
        "gives it a retention of 60 minutes (a topic the broker created on its own would keep "
        "frames for its default, 7 days on Apache Kafka)"]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert topic not in admin.list_topics()
    finally:
        admin.close()


def _described(bootstrap: str, topic: str) -> dict[str, str]:
    """The topic's settings as the broker describes them, defaults included (the embedded
    broker reports those a topic was created with; Apache Kafka every one)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                       config_filter="all")
    finally:
        admin.close()
    return {name: entry["value"] for name, entry in found["topic"][topic].items()}


def test_the_topic_is_created_with_one_hour_retention_in_ten_minute_segments(
    kafka_bootstrap: str,
) -> None:
    """Read back from the broker. Without segment.ms, Kafka's default of a week kept the segment
    being written, with every frame of a slow topic in it, for days; without LogAppendTime, the
    producers' clocks decided when a segment was old enough to delete."""
    topic = f"created-{uuid.uuid4().hex[:8]}"
    assert ensure_topic(kafka_bootstrap, topic, 3) is True
    assert _described(kafka_bootstrap, topic) == {
        "retention.ms": "3600000", "segment.ms": "600000",
        "message.timestamp.type": "LogAppendTime"}
    assert ensure_topic(kafka_bootstrap, topic, 3) is False  # the broker holds it


def _week_long_topic(bootstrap: str, **configs: str) -> str:
    """A topic made as a broker's auto-creation (or an admin's hand) would: its own retention."""
    topic = f"week-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                      topic_configs=configs)])
    finally:
        admin.close()
    return topic


def _longer(bootstrap: str, topic: str, found: str, fix: str = "") -> str:
    return (f"topic {topic!r} on Kafka at {bootstrap} keeps frames longer than ClassPulse "
            f"allows: {found}; fix it with `kafka-configs.sh --bootstrap-server {bootstrap} "
            f"--alter --entity-type topics --entity-name {topic} --add-config retention.ms="
            f"3600000,segment.ms=600000,message.timestamp.type=LogAppendTime{fix}` (compose's "
            "kafka-init does this at every `docker compose up`), then start again")


def test_produce_into_a_topic_that_keeps_frames_a_week_fails_in_one_line(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """The producer only checked that the topic existed: one a broker had created on a
    consumer's subscribe, with its default of a week, was published into."""
    topic = _week_long_topic(kafka_bootstrap, **{"retention.ms": "604800000",
                                                 "segment.ms": "600000"})
    done = subprocess.run(
        [sys.executable, "-m", "classpulse", "produce", "--source", "synthetic:classroom",
         "--camera", "c", "--classroom", "r", "--bootstrap-servers", kafka_bootstrap,
         "--topic", topic],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (done.stdout + done.stderr).splitlines() == ["classpulse produce: " + _longer(
        kafka_bootstrap, topic, "retention.ms=604800000 (ClassPulse's: 3600000)")]


@pytest.mark.parametrize(("configs", "found", "fix"), [
    ({"retention.ms": "-1"}, "retention.ms=-1 (ClassPulse's: 3600000)", ""),
    ({"retention.ms": "3600000", "segment.ms": "604800000"},
     "segment.ms=604800000 (ClassPulse's: 600000)", ""),
    ({"retention.ms": "86400000", "segment.ms": "3600000"},
     "retention.ms=86400000 (ClassPulse's: 3600000), segment.ms=3600000 (ClassPulse's: 600000)",
     ""),
    ({"cleanup.policy": "compact"}, "cleanup.policy=compact (ClassPulse's: delete)",
     ",cleanup.policy=delete"),
], ids=["forever", "week-segments", "day", "compacted"])
def test_an_existing_topic_that_keeps_frames_longer_is_refused(
    kafka_bootstrap: str, configs: dict[str, str], found: str, fix: str
) -> None:
    """`classpulse produce --partitions N` left any existing topic as it was."""
    topic = _week_long_topic(kafka_bootstrap, **configs)
    with pytest.raises(UsageError) as info:
        ensure_topic(kafka_bootstrap, topic, 1)
    assert str(info.value) == _longer(kafka_bootstrap, topic, found, fix)


@pytest.mark.parametrize("refusal", [
    PolicyViolationError("Topic replication factor must be 3"),
    InvalidReplicationFactorError(),
], ids=["policy", "replication"])
def test_a_broker_that_refuses_the_topic_is_one_line_naming_it(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, refusal: Exception
) -> None:
    """A managed Kafka's answer to a topic of replication factor 1 was a traceback. The embedded
    broker creates any topic, so its answer is replaced by what such a broker sends."""
    def refuse(self: KafkaAdminClient, new_topics: list[NewTopic], *args: object,
               **kwargs: object) -> object:
        raise refusal

    monkeypatch.setattr(KafkaAdminClient, "create_topics", refuse)
    topic = f"refused-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UsageError) as info:
        ensure_topic(kafka_bootstrap, topic, 3)
    assert str(info.value) == (
        f"Kafka at {kafka_bootstrap} refused to create topic {topic!r} ({refusal}); create it "
        "yourself with 3 partitions and retention.ms=3600000 segment.ms=600000 "
        "message.timestamp.type=LogAppendTime (as compose's kafka-init does), then start again")


def test_a_broker_that_cannot_list_its_topics_is_one_line(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: KafkaAdminClient) -> object:
        raise KafkaConnectionError("Connection reset by peer")

    monkeypatch.setattr(KafkaAdminClient, "list_topics", fail)
    with pytest.raises(UsageError) as info:
        ensure_topic(kafka_bootstrap, "classpulse.frames", 2)
    assert str(info.value) == (
        f"cannot read topic 'classpulse.frames' from Kafka at {kafka_bootstrap} "
        "(KafkaConnectionError: Connection reset by peer); check KAFKA_BOOTSTRAP_SERVERS and "
        "that the broker runs")


def test_the_topic_step_keeps_to_the_connect_timeout(tmp_path: Path) -> None:
    """`produce --partitions N` made its admin client with kafka-python's fixed 30 s bootstrap,
    whatever --connect-timeout said: 30 s to give up at --connect-timeout 2, and a broker still
    starting after 30 s failed a producer told to wait 60."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "classpulse", "produce", "--source", "synthetic:classroom",
         "--camera", "c", "--classroom", "r", "--partitions", "1", "--connect-timeout", "2",
         "--bootstrap-servers", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1] == (
        "classpulse produce: cannot reach Kafka at 127.0.0.1:1 after 2 s (KafkaTimeoutError("
        "'Unable to bootstrap from 127.0.0.1:1')); check KAFKA_BOOTSTRAP_SERVERS and that the "
        "broker runs")
    assert took < 10


def folder_of_frames(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((48, 64, 3), 5 * i, np.uint8))
    return folder


def _produce(bootstrap: str, topic: str, *flags: str) -> int:
    """`classpulse produce` in this process (its stop flag is an event then), with the topic
    looked for every 0.1 s instead of every 10 s."""
    args = build_parser().parse_args(["produce", *flags])
    return run_produce(args, Settings(kafka_bootstrap_servers=bootstrap, kafka_topic=topic))


def _delete_later(bootstrap: str, topic: str, after_s: float) -> threading.Thread:
    """Delete ``topic`` ``after_s`` after it is first listed: a producer that creates it may
    take longer than that to do so when the machine is busy."""
    def delete() -> None:
        deadline = time.monotonic() + 30
        while not _listed(bootstrap, topic) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(after_s)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()

    thread = threading.Thread(target=delete, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classpulse.topic_presence, "TOPIC_CHECK_S", 0.1)
    monkeypatch.setattr(classpulse.topic_presence, "TOPIC_CONFIRM_S", 0.1)


@pytest.fixture
def interrupt_after() -> Iterator[Callable[[float], None]]:
    """SIGINT to this process after a while: the in-process producer's stop flag (set by it in
    the main thread) ends a run the fix should have ended, instead of hanging the suite."""
    timers: list[threading.Timer] = []

    def arm(after_s: float) -> None:
        timers.append(threading.Timer(after_s, os.kill, (os.getpid(), signal.SIGINT)))
        timers[-1].start()

    yield arm
    for timer in timers:
        timer.cancel()


@pytest.mark.usefixtures("quick_watch")
def test_a_topic_deleted_while_producing_is_created_again_with_its_retention(
    tmp_path: Path, kafka_bootstrap: str, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker restarted with its storage in memory comes back without the topic, and never
    creates it itself: the producer only reconnected, and sent every later frame into nothing
    (Apache Kafka fails them; the embedded broker acknowledges them and keeps none) while it ran
    on. Started with --partitions, it now creates the topic again, as at start."""
    topic = f"deleted-{uuid.uuid4().hex[:8]}"
    folder = folder_of_frames(tmp_path / "frames", 25)  # 2.5 s at 10 fps
    created_again: list[float] = []

    def ensure(bootstrap: str, name: str, partitions: int, connect_timeout_s: float = 30.0,
               ) -> bool:
        created_again.append(connect_timeout_s)
        return ensure_topic(bootstrap, name, partitions, connect_timeout_s=connect_timeout_s)

    monkeypatch.setattr(producers.topic_watch, "ensure_topic", ensure)
    deleter = _delete_later(kafka_bootstrap, topic, after_s=0.5)
    with caplog.at_level("WARNING", logger="producers.topic_watch"):
        status = _produce(kafka_bootstrap, topic, "--source", str(folder), "--camera", "cam-d",
                          "--classroom", "7D", "--fps", "10", "--partitions", "2",
                          "--connect-timeout", "7")
    deleter.join()
    # The deletion took the run's earlier frames with it, and those sent before the topic came
    # back are lost (the embedded broker acknowledges them and keeps none; Apache Kafka fails
    # them): the file did not reach Kafka whole, whatever the publisher counted. Before, the
    # status was 0 or 3 by chance (3 only when a frame in flight as the topic came back failed)
    assert status == EXIT_INCOMPLETE
    assert capsys.readouterr().err.splitlines()[-1] == (
        "classpulse produce: camera 'cam-d' lost frames (the frames topic went away and was "
        "created again during the run); exiting with status 3")
    assert created_again == [7.0]  # --connect-timeout, not ensure_topic's own 30 s
    assert [r.getMessage() for r in caplog.records if r.name == "producers.topic_watch"] == [
        f"topic={topic} was gone from Kafka at {kafka_bootstrap} (deleted, or the broker "
        "restarted with its storage in memory); created it again partitions=2, as at start; "
        "frames sent in between are lost"]
    assert _described(kafka_bootstrap, topic) == {
        "retention.ms": "3600000", "segment.ms": "600000",
        "message.timestamp.type": "LogAppendTime"}
    assert messages_held(kafka_bootstrap, topic) >= 5  # the frames of the run's last second


@pytest.mark.usefixtures("quick_watch")
def test_a_topic_deleted_under_a_producer_that_may_not_create_it_ends_it_with_status_1(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str],
    interrupt_after: Callable[[float], None]
) -> None:
    """Without --partitions the topic is someone else's to create (kafka-init, with partitions
    this producer does not know): the producer stops, in one line, for a supervisor to start
    it again, which then stops at start in one line until the topic is there."""
    topic = f"deleted-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    folder = folder_of_frames(tmp_path / "frames", 2)
    deleter = _delete_later(kafka_bootstrap, topic, after_s=0.3)
    interrupt_after(10)  # the old producer never stopped
    started = time.monotonic()
    status = _produce(kafka_bootstrap, topic, "--source", str(folder), "--camera", "cam-e",
                      "--classroom", "7E", "--fps", "10", "--loop")
    took = time.monotonic() - started
    deleter.join()
    assert status == EXIT_RESTART
    assert took < 5
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"classpulse produce: topic {topic!r} is gone from Kafka at {kafka_bootstrap} (deleted, "
        "or the broker restarted with its storage in memory) and this producer was started "
        "without --partitions, so it may not create it; create it (compose's kafka-init, or "
        "`classpulse produce --partitions N`); exiting with status 1")


def _listed(bootstrap: str, topic: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return topic in admin.list_topics()
    finally:
        admin.close()


def test_a_watch_stopped_while_it_confirms_a_missing_topic_creates_nothing(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop flag was looked at before each look, not after: a process stopping (SIGTERM, its
    files at their end) while the watch confirmed the topic missing still created it, after the
    cameras had stopped."""
    topic = f"stopping-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    looks: list[bool | None] = []
    created: list[str] = []

    def look(bootstrap: str, name: str) -> bool | None:
        looks.append(topic_exists(bootstrap, name))
        if len(looks) == 2:  # the confirming look: the process is asked to stop meanwhile
            stop.set()
        return looks[-1]

    monkeypatch.setattr(producers.topic_watch, "topic_exists", look)
    monkeypatch.setattr(producers.topic_watch, "ensure_topic",
                        lambda *args, **kwargs: created.append(topic) or True)
    watch = TopicWatch(kafka_bootstrap, topic, partitions=1, interval_s=0.1)
    watch.start(stop)
    assert stop.wait(10)
    assert watch.finish(5) == WatchResult(gone=None, vanished=0)
    assert looks == [False, False]
    assert created == []
    assert not _listed(kafka_bootstrap, topic)


@pytest.mark.usefixtures("quick_watch")
def test_the_watchs_verdict_on_a_topic_gone_as_the_cameras_end_is_in_the_exit_status(
    tmp_path: Path, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """The exit status read the watch's finding while its daemon thread was still at work: a
    topic that could not be created again, found as the cameras of a file ended, was an exit 0
    or 3 (the run looked complete, or merely short of frames), not 1. The watch is now waited
    for, and hands its finding over as its thread's result. The broker here refuses, slowly, to
    create the topic again, as a managed Kafka's policy would."""
    topic = f"slow-refusal-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    refusal = PolicyViolationError("Topic replication factor must be 3")

    def refuse_slowly(self: KafkaAdminClient, new_topics: list[NewTopic], *args: object,
                      **kwargs: object) -> object:
        time.sleep(3.0)  # past the folder's end (1.5 s of frames, from about 0.1 s)
        raise refusal

    monkeypatch.setattr(KafkaAdminClient, "create_topics", refuse_slowly)
    folder = folder_of_frames(tmp_path / "frames", 15)
    deleter = _delete_later(kafka_bootstrap, topic, after_s=0.5)
    started = time.monotonic()
    status = _produce(kafka_bootstrap, topic, "--source", str(folder), "--camera", "cam-s",
                      "--classroom", "7S", "--fps", "10", "--partitions", "1")
    took = time.monotonic() - started
    deleter.join()
    assert status == EXIT_RESTART
    assert 3 < took < 10
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"classpulse produce: topic {topic!r} is gone from Kafka at {kafka_bootstrap} and could "
        f"not be created again: Kafka at {kafka_bootstrap} refused to create topic {topic!r} "
        f"({refusal}); create it yourself with 1 partitions and retention.ms=3600000 "
        "segment.ms=600000 message.timestamp.type=LogAppendTime (as compose's kafka-init does), "
        "then start again; exiting with status 1")
