"""The embedded broker is a real Kafka-protocol broker: topics, keyed partitioning, groups."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from classpulse.broker import EmbeddedBroker
from classpulse.errors import UsageError
from classpulse.topics import ensure_topic

pytestmark = pytest.mark.broker


def test_produce_and_consume_through_a_consumer_group(kafka_bootstrap: str) -> None:
    topic = "test.group-roundtrip"
    assert ensure_topic(kafka_bootstrap, topic, partitions=3) is True
    assert ensure_topic(kafka_bootstrap, topic, partitions=3) is False
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                             enable_idempotence=True)
    sent = {}
    for i in range(60):
        key = f"cam-{i % 4}".encode()
        meta = producer.send(topic, key=key, value=f"{i}".encode(),
                             headers=[("seq", str(i).encode())]).get(timeout=10)
        sent.setdefault(key, set()).add(meta.partition)
    producer.close()
    assert all(len(parts) == 1 for parts in sent.values())  # one camera -> one partition

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id="test-group",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             max_poll_interval_ms=15_000, session_timeout_ms=10_000)
    received: dict[bytes, list[int]] = {}
    deadline = time.monotonic() + 60
    while sum(map(len, received.values())) < 60 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                received.setdefault(r.key, []).append(int(r.value))
                assert dict(r.headers)["seq"] == r.value
    assert {p.partition for p in consumer.assignment()} == {0, 1, 2}
    consumer.close()
    assert sorted(v for vs in received.values() for v in vs) == list(range(60))
    for key, values in received.items():  # per-key order is kept
        assert values == sorted(values), key


def test_messages_survive_reconnect_of_a_plain_consumer(kafka_bootstrap: str) -> None:
    topic = "test.assign-seek"
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(10):
        producer.send(topic, value=bytes([i]))
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 7)
    got: list[int] = []
    deadline = time.monotonic() + 20
    while len(got) < 3 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(r.value[0] for r in records)
    consumer.close()
    assert got == [7, 8, 9]


def test_second_broker_on_a_taken_port_fails_with_the_port_named(kafka_bootstrap: str) -> None:
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    with pytest.raises(UsageError, match=f"port {port}"):
        EmbeddedBroker(port=port).start()


def test_broker_stops_cleanly() -> None:
    broker = EmbeddedBroker().start()
    assert broker.running()
    broker.stop()
    assert not broker.running()
    assert not broker._port_in_use()


def test_an_existing_topic_with_other_partitions_is_left_and_logged(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = "test.partitions-differ"
    assert ensure_topic(kafka_bootstrap, topic, partitions=2) is True
    caplog.clear()  # its INFO line, captured when an earlier test's main() set our loggers to INFO
    with caplog.at_level("WARNING", logger="classpulse.topics"):
        assert ensure_topic(kafka_bootstrap, topic, partitions=2) is False
        assert not caplog.records  # as asked: nothing to say
        assert ensure_topic(kafka_bootstrap, topic, partitions=4) is False
    (record,) = caplog.records
    assert record.getMessage() == (
        f"topic={topic} exists with partitions=2, not the 4 asked for; left as it is (at most 2 "
        "consumers of a group share it)")


def test_the_broker_command_listens_where_bootstrap_servers_points(tmp_path) -> None:
    """``--bootstrap-servers`` (or KAFKA_BOOTSTRAP_SERVERS) names one address for every command:
    the broker listens there, and creates the frames topic there."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CLASSPULSE_"))}
    proc = subprocess.Popen([sys.executable, "-m", "classpulse", "broker", "--bootstrap-servers",
                             f"127.0.0.1:{port}", "--topic", "t.listen", "--partitions", "2"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"embedded broker listening on 127.0.0.1:{port} (topic t.listen, "
                               "2 partitions)"), line
        consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}")
        assert consumer.partitions_for_topic("t.listen") == {0, 1}
        consumer.close()
    finally:
        proc.terminate()
        proc.wait(30)
