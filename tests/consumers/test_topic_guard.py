"""A consumer never creates the frames topic, nor reads one that keeps frames longer than
ClassPulse's retention: on the session's real broker (Tansu), which, like Apache Kafka with
``auto.create.topics.enable``, creates a topic that a client subscribes to."""

from __future__ import annotations

import threading
import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from classpulse.db.engine import make_engine
from classpulse.errors import UsageError
from classpulse.settings import Settings
from classpulse.topics import ensure_topic
from consumers.config import ConsumerConfig
from consumers.runner import FrameConsumer
from consumers.sink import DatabaseSink
from tests.consumers.test_runner import OneFaceAnalyzer

pytestmark = pytest.mark.broker


def _topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return admin.list_topics()
    finally:
        admin.close()


def _run(bootstrap: str, topic: str, db_url: str) -> BaseException | None:
    """Run a consumer of ``topic`` until it stops (it idles out after 1 s of assignment) or 20 s
    pass; what it raised, if anything."""
    engine = make_engine(db_url)
    config = ConsumerConfig(group_id=topic, batch_wait_ms=50, flush_interval_s=0.2,
                            session_timeout_ms=2000, exit_when_idle_s=1.0)
    consumer = FrameConsumer(Settings(kafka_bootstrap_servers=bootstrap, kafka_topic=topic),
                             config, OneFaceAnalyzer(), DatabaseSink(engine, topic, topic))
    raised: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            consumer.run(stop)
        except BaseException as exc:  # handed to the test, whatever it is
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    stop.set()
    thread.join(20)
    engine.dispose()
    return raised[0] if raised else None


def test_a_consumer_of_a_missing_topic_stops_in_one_line_and_creates_nothing(
        kafka_bootstrap: str, migrated_sqlite_url: str) -> None:
    """It subscribed, and the broker created the topic with its own retention (a week on Apache
    Kafka), for the producers to fill."""
    topic = f"missing-{uuid.uuid4().hex[:8]}"
    raised = _run(kafka_bootstrap, topic, migrated_sqlite_url)
    assert isinstance(raised, UsageError), raised
    assert str(raised) == (
        f"topic {topic!r} does not exist on Kafka at {kafka_bootstrap}; create it with "
        "`classpulse produce --partitions N` (or compose's kafka-init), which gives it a "
        "retention of 60 minutes (a topic the broker created on its own would keep frames for "
        "its default, 7 days on Apache Kafka)")
    assert topic not in _topics(kafka_bootstrap)


def test_a_consumer_refuses_a_topic_that_keeps_frames_a_week(
        kafka_bootstrap: str, migrated_sqlite_url: str) -> None:
    """A topic the broker created on an earlier subscribe has the broker's retention."""
    topic = f"week-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                      topic_configs={"retention.ms": "604800000"})])
    finally:
        admin.close()
    raised = _run(kafka_bootstrap, topic, migrated_sqlite_url)
    assert isinstance(raised, UsageError), raised
    assert str(raised) == (
        f"topic {topic!r} on Kafka at {kafka_bootstrap} keeps frames longer than ClassPulse "
        "allows: retention.ms=604800000 (ClassPulse's: 3600000); fix it with `kafka-configs.sh "
        f"--bootstrap-server {kafka_bootstrap} --alter --entity-type topics --entity-name "
        f"{topic} --add-config retention.ms=3600000,segment.ms=600000,message.timestamp.type="
        "LogAppendTime` (compose's kafka-init does this at every `docker compose up`), then "
        "start again")


def test_the_consumers_clients_never_ask_the_broker_to_create_a_topic(
        kafka_bootstrap: str, migrated_sqlite_url: str) -> None:
    """kafka-python asks by default (``allow_auto_create_topics=True``), on every metadata
    request: a topic deleted under a running consumer came back with the broker's retention.
    (The embedded broker creates topics whatever a client asks, so the request is what can be
    checked here.)"""
    topic = f"ours-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    engine = make_engine(migrated_sqlite_url)
    consumer = FrameConsumer(Settings(kafka_bootstrap_servers=kafka_bootstrap, kafka_topic=topic),
                             ConsumerConfig(), OneFaceAnalyzer(),
                             DatabaseSink(engine, "classpulse", topic))
    try:
        for client in (consumer._connect_kafka(), consumer._connect_probe()):
            try:
                assert client.config["allow_auto_create_topics"] is False
            finally:
                client.close()
    finally:
        engine.dispose()
