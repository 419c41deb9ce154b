"""Creating the frames topic with the partitions and retention it needs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from classpulse.errors import UsageError

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

log = logging.getLogger(__name__)

ONE_HOUR_MS = 3_600_000


def ensure_topic(
    bootstrap: str, topic: str, partitions: int, retention_ms: int = ONE_HOUR_MS
) -> bool:
    """Create ``topic`` unless it exists. Returns True when it was created.

    Frames are transient by design (privacy): the topic keeps them for ``retention_ms`` only.
    An existing topic is left as it is; its partition count is logged when it differs.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    if partitions < 1:
        raise UsageError(f"a topic needs at least one partition, got {partitions}")
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    except (KafkaError, OSError) as exc:
        raise UsageError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    try:
        if topic in admin.list_topics():
            _note_partitions(admin, topic, partitions)
            return False
        new = NewTopic(topic, num_partitions=partitions, replication_factor=1,
                       topic_configs={"retention.ms": str(retention_ms)})
        try:
            admin.create_topics([new])
        except TopicAlreadyExistsError:
            return False
        log.info("created topic=%s partitions=%d retention_ms=%d", topic, partitions, retention_ms)
        return True
    finally:
        admin.close()


def _note_partitions(admin: KafkaAdminClient, topic: str, wanted: int) -> None:
    """Log an existing topic's partition count when it is not the one asked for: partitions
    bound how many consumers share the work, and ClassPulse never changes a topic it finds."""
    (described,) = admin.describe_topics([topic])
    found = len(described.get("partitions") or [])
    if found != wanted:
        log.warning("topic=%s exists with partitions=%d, not the %d asked for; left as it is "
                    "(at most %d consumers of a group share it)", topic, found, wanted, found)
