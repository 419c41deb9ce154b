"""What a consumer's Prometheus metrics say about people: faces only over all of its cameras."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from classpulse.db.engine import make_engine
from classpulse.settings import Settings
from classpulse.topics import ensure_topic
from classpulse.wire import encode_frame
from consumers.config import ConsumerConfig
from consumers.metrics import ConsumerMetrics
from consumers.runner import FrameConsumer
from consumers.sink import DatabaseSink
from producers.publisher import Publisher
from tests.consumers.test_runner import OneFaceAnalyzer

pytestmark = pytest.mark.broker


def test_no_metric_counts_faces_per_camera(kafka_bootstrap: str,
                                           migrated_sqlite_url: str) -> None:
    """``classpulse_faces_total{camera=...}``, scraped every 15 s, told how many faces one camera
    saw in the minute under way and in minutes the small-group rule hides: one child alone in a
    room, outside the rule. Frames per camera stay: they say nothing about people."""
    topic = f"metrics-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 1)
    publisher = Publisher(kafka_bootstrap, topic)
    now_ms = int(time.time() * 1000)
    image = np.full((48, 64, 3), 90, np.uint8)
    for seq, camera in enumerate(("cam-a", "cam-a", "cam-b")):
        publisher.publish(*encode_frame(image, camera=camera, classroom="7M",
                                        captured_at_ms=now_ms + seq, seq=seq))
    publisher.close()
    engine = make_engine(migrated_sqlite_url)
    metrics = ConsumerMetrics()
    config = ConsumerConfig(group_id=topic, batch_wait_ms=50, flush_interval_s=0.2,
                            session_timeout_ms=2000, exit_when_idle_s=3.0)
    consumer = FrameConsumer(Settings(kafka_bootstrap_servers=kafka_bootstrap, kafka_topic=topic),
                             config, OneFaceAnalyzer(), DatabaseSink(engine, topic, topic),
                             metrics)
    run = threading.Thread(target=consumer.run, args=(threading.Event(),), daemon=True)
    run.start()
    run.join(30)
    engine.dispose()
    assert not run.is_alive(), "the consumer hangs"
    assert consumer.report.faces == 3  # one face a frame (OneFaceAnalyzer), all committed
    faces = [sample for family in metrics.registry.collect() if "face" in family.name
             for sample in family.samples]
    assert faces, "no faces metric"
    assert [s for s in faces if "camera" in s.labels] == []
    assert metrics.registry.get_sample_value("classpulse_faces_total") == 3
    for camera, frames in (("cam-a", 2), ("cam-b", 1)):
        assert metrics.registry.get_sample_value("classpulse_frames_total",
                                                 {"camera": camera}) == frames
