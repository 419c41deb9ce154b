"""Frames sent to a real broker, and waiting on what a running consumer does with them: shared
by the tests of a broker's log lost (test_log_reset) and of a topic gone (test_topic_vanished)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from kafka import KafkaProducer

from classpulse.wire import encode_frame


def send_frames(bootstrap: str, topic: str, seqs: range, now_ms: int, camera: str) -> None:
    """One small grey frame per ``seq``, captured 10 s before ``now_ms`` plus ``seq`` ms."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    image = np.full((24, 32, 3), 100, np.uint8)
    for seq in seqs:
        key, value, headers = encode_frame(image, camera=camera, classroom="7B",
                                           captured_at_ms=now_ms - 10_000 + seq, seq=seq)
        producer.send(topic, key=key, value=value, headers=headers).get(timeout=10)
    producer.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
