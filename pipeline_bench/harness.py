"""What the pipeline and soak benchmarks share: where they run (a broker, a database, a fresh
topic), the check of their ``--source``, and live cameras that start once the consumer holds its
partitions."""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from classpulse.settings import Settings

if TYPE_CHECKING:  # the handlers import them: `classpulse --help` stays light
    from consumers.runner import FrameConsumer
    from producers.config import CameraConfig
    from producers.publisher import Publisher


def bench_place(stack: ExitStack, settings: Settings, name: str, partitions: int,
                database_flag: str | None = None) -> Settings:
    """Where a bench runs: the configured Kafka (KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers),
    or, where none was configured, an embedded broker (closed with ``stack``), with a topic of the
    bench's own, deleted when ``stack`` closes; and a temporary SQLite file, migrated, unless
    ``database_flag`` (the bench command's own ``--database-url``) names a database. A
    DATABASE_URL in the environment is never written to: the bench's classroom and its counts
    would sit among a production database's real ones. The settings returned point at them."""
    from classpulse.broker import EmbeddedBroker
    from classpulse.db.migrate import upgrade
    from classpulse.db.weights import requested_weights
    from classpulse.topics import delete_topic, ensure_topic

    topic = f"{name}.{int(time.time())}.{uuid.uuid4().hex[:8]}"
    bootstrap = settings.kafka_bootstrap_servers
    if "kafka_bootstrap_servers" not in settings.explicit:
        bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
    db_url, weights = database_flag, None
    if db_url is None:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"classpulse-{name}-"))
        db_url = f"sqlite:///{Path(folder) / f'{name}.db'}"
        # ENGAGEMENT_WEIGHTS given score this bench's own database; a database named with
        # --database-url keeps its stored weights (its consumer refuses others, saying how to
        # store them)
        weights = requested_weights(settings)
    upgrade(db_url, engagement_weights=weights)
    ensure_topic(bootstrap, topic, partitions=max(1, partitions))
    stack.callback(delete_topic, bootstrap, topic)
    return settings.with_overrides(kafka_bootstrap_servers=bootstrap, kafka_topic=topic,
                                   database_url=db_url)


def check_source(source: str) -> None:
    """A source that cannot be read ends the benchmark in one line, before anything starts."""
    from classpulse.errors import UsageError
    from producers.sources import SourceError
    from producers.sources import check_source as check

    try:
        check(source)
    except SourceError as exc:
        raise UsageError(f"--source: {exc}") from None


def publish_when_assigned(consumer: FrameConsumer, cameras: list[CameraConfig],
                          publisher: Publisher,
                          stop: threading.Event, seconds: float, quit_: threading.Event) -> None:
    """Live cameras start once the consumer holds its partitions, so latency is steady-state."""
    while not consumer.assigned.wait(0.5):
        if quit_.is_set():
            return
    publish_for(cameras, publisher, stop, seconds)


def publish_for(cameras: list[CameraConfig], publisher: Publisher, stop: threading.Event,
                seconds: float) -> None:
    from producers.camera import run_cameras

    timer = threading.Timer(seconds, stop.set)
    timer.start()
    run_cameras(cameras, publisher, stop)
    timer.cancel()
