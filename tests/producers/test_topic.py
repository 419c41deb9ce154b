"""The frames topic is only ever created by ClassPulse, with its retention and segments: never by
the broker on a producer's first send, with the broker's default retention (seven days on Apache
Kafka). Against the session's embedded broker, which creates a topic on a send whatever the client
asks, so the producer must find a missing topic before it sends anything."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import (
    InvalidReplicationFactorError,
    KafkaConnectionError,
    PolicyViolationError,
)

from classpulse.errors import UsageError
from classpulse.topics import ensure_topic

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


def test_the_topic_is_created_with_one_hour_retention_in_ten_minute_segments(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded broker describes no topic configuration (its DescribeConfigs answers are
    empty), so the request is read on its way to the real broker. Without segment.ms, Kafka's
    default of a week kept the segment being written, with every frame of a slow topic in it,
    for days."""
    asked: list[NewTopic] = []
    create_topics = KafkaAdminClient.create_topics

    def noting(self: KafkaAdminClient, new_topics: list[NewTopic], *args: object,
               **kwargs: object) -> object:
        asked.extend(new_topics)
        return create_topics(self, new_topics, *args, **kwargs)

    monkeypatch.setattr(KafkaAdminClient, "create_topics", noting)
    topic = f"created-{uuid.uuid4().hex[:8]}"
    assert ensure_topic(kafka_bootstrap, topic, 3) is True
    assert [(t.name, t.num_partitions, t.topic_configs) for t in asked] == [
        (topic, 3, {"retention.ms": "3600000", "segment.ms": "600000"})]
    assert ensure_topic(kafka_bootstrap, topic, 3) is False  # the broker holds it


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
        "yourself with 3 partitions and retention.ms=3600000 segment.ms=600000 (as compose's "
        "kafka-init does), then start again")


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
