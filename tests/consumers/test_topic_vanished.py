"""The frames topic deleted under a running consumer: said once (a line, a gauge), the consumer
runs on without bringing the topic back itself, and once a producer creates it again every frame
of the new log is counted once, the log reset recorded."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest
from kafka import KafkaAdminClient
from sqlalchemy import text

from classpulse.db.engine import make_engine
from classpulse.settings import Settings
from classpulse.topics import ensure_topic, topic_exists
from consumers.config import ConsumerConfig
from consumers.metrics import ConsumerMetrics
from consumers.runner import FrameConsumer
from consumers.sink import DatabaseSink
from consumers.topic_presence import TopicPresence
from tests.consumers.kafka_frames import send_frames, wait_for
from tests.consumers.test_runner import OneFaceAnalyzer

GONE = "is gone from Kafka"


def publish(bootstrap: str, topic: str, seqs: range, now_ms: int) -> None:
    send_frames(bootstrap, topic, seqs, now_ms, camera="cam-v")


@pytest.mark.broker
def test_a_topic_deleted_and_created_again_under_a_running_consumer(
        kafka_bootstrap: str, migrated_sqlite_url: str, caplog) -> None:
    topic = f"vanish-{uuid.uuid4().hex[:8]}"
    now_ms = int(time.time() * 1000)
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    publish(kafka_bootstrap, topic, range(5), now_ms)
    engine = make_engine(migrated_sqlite_url)
    config = ConsumerConfig(group_id=topic, batch_wait_ms=50, flush_interval_s=0.2,
                            session_timeout_ms=6000)
    metrics = ConsumerMetrics()
    consumer = FrameConsumer(Settings(kafka_bootstrap_servers=kafka_bootstrap, kafka_topic=topic),
                             config, OneFaceAnalyzer(), DatabaseSink(engine, topic, topic),
                             metrics, topic_check_s=0.3)

    def missing() -> float | None:
        return metrics.registry.get_sample_value("classpulse_frames_topic_missing")

    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    try:
        with caplog.at_level(logging.INFO, logger="consumers"):
            thread.start()
            wait_for(lambda: consumer.report.frames == 5, 10, "the first 5 frames")
            admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
            try:
                admin.delete_topics([topic])
            finally:
                admin.close()
            wait_for(lambda: missing() == 1, 5, "the topic reported missing")
            time.sleep(1.0)  # more looks, and polls, while it is gone: still one line
            assert topic_exists(kafka_bootstrap, topic) is False  # not brought back by the client
            ensure_topic(kafka_bootstrap, topic, partitions=1)
            publish(kafka_bootstrap, topic, range(100, 104), now_ms)  # offsets 0-3, below 5
            wait_for(lambda: consumer.report.frames == 9, 10, "the new log's 4 frames")
            wait_for(lambda: missing() == 0, 5, "the topic reported back")
            stop.set()
            thread.join(20)
    finally:
        stop.set()
    assert not thread.is_alive()
    with engine.connect() as conn:
        frames = conn.execute(text("select sum(frames) from emotion_minutes")).scalar_one()
        resets = conn.execute(text("select stored_offset, restart_offset from offset_resets")
                              ).all()
        offsets = conn.execute(text("select next_offset from consumer_offsets")).scalars().all()
    engine.dispose()
    assert (frames, resets, offsets) == (9, [(5, 0)], [4])
    gone = [r for r in caplog.records if GONE in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.ERROR
    assert gone[0].getMessage() == (
        f"topic {topic!r} is gone from Kafka at {kafka_bootstrap} (deleted, or the broker "
        "restarted with its storage in memory): nothing is read until it exists again; create it "
        "(`classpulse produce --partitions N` or compose's kafka-init); this consumer keeps "
        "running and reads the new log once it is there")
    assert sum(f"topic={topic} is back" in r.getMessage() for r in caplog.records) == 1


def test_the_watch_reports_a_gone_topic_once_confirmed_and_its_return_once(caplog) -> None:
    answers = iter([True, False, True, False, False, False, False, None, False, True, True,
                    False, False])
    metrics = ConsumerMetrics()
    presence = TopicPresence("t", "k:9092", lambda: next(answers), metrics, interval_s=10.0)
    with caplog.at_level(logging.INFO, logger="consumers.runner"):
        waits, states = [], []
        for _ in range(13):
            waits.append(presence.look())
            states.append(metrics.registry.get_sample_value("classpulse_frames_topic_missing"))
    # one miss alone (a broker that lists nothing yet) is looked at again soon, then forgotten
    assert waits[:4] == [10.0, 1.0, 10.0, 1.0]
    assert states == [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1]
    lines = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records]
    assert lines == [("ERROR", "topic 't' is gone from Kafka at k:9092"),
                     ("WARNING", "topic=t is back on Kafka at k:9092; reading its new log from "
                                 "the beginning"),
                     ("ERROR", "topic 't' is gone from Kafka at k:9092")]
