"""A chatty library's log lines are cut to one per window, with the count of those left out."""

from __future__ import annotations

import logging

from classpulse.cli import OnePerWindow


def record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None)


def test_one_kafka_line_per_window_and_ours_untouched() -> None:
    now = [100.0]
    window = OnePerWindow("kafka", 30.0, clock=lambda: now[0])
    passed = []
    for second in range(0, 65, 1):  # a line a second, as kafka-python logs reconnect attempts
        now[0] = 100.0 + second
        line = record("kafka.net.manager", f"Connection failed {second}")
        if window.filter(line):
            passed.append(line.getMessage())
        assert window.filter(record("classpulse.kafka_connect", "ours"))  # never held back
        assert window.filter(record("kafkaesque", "not kafka's"))
    assert passed == ["Connection failed 0",
                      "Connection failed 30 (29 more kafka lines not shown)",
                      "Connection failed 60 (29 more kafka lines not shown)"]
