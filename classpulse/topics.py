"""Creating the frames topic with the partitions and retention it needs, or requiring it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from classpulse.errors import UsageError

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

log = logging.getLogger(__name__)

# How long the frames topic keeps a frame, in segments of this length: Kafka deletes a segment
# once its newest frame is past retention, so a frame rests on the broker for at most about
# retention + segment + Kafka's 5-minute check (README.md, "Privacy promise"); compose.yaml's
# x-frames repeats these for kafka-init, and tests/deploy/test_compose.py holds them equal.
FRAMES_RETENTION_MS = 3_600_000
FRAMES_SEGMENT_MS = 600_000


def _admin(bootstrap: str) -> KafkaAdminClient:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    except (KafkaError, OSError) as exc:
        raise UsageError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc


def require_topic(bootstrap: str, topic: str) -> None:
    """Fail in one line, naming ``topic`` and how to create it, when it does not exist.

    Producers do not let the broker create it on their first send: it would get the broker's
    default retention (seven days on Apache Kafka), not :data:`FRAMES_RETENTION_MS`.
    """
    from kafka.errors import KafkaError

    admin = _admin(bootstrap)
    try:
        found = topic in admin.list_topics()
    except KafkaError as exc:
        raise UsageError(f"cannot list the topics of Kafka at {bootstrap}: {exc!r}") from None
    finally:
        admin.close()
    if not found:
        raise UsageError(
            f"topic {topic!r} does not exist on Kafka at {bootstrap}; create it with "
            "`classpulse produce --partitions N` (or compose's kafka-init), which gives it a "
            f"retention of {FRAMES_RETENTION_MS // 60_000} minutes (a topic the broker created "
            "on its own would keep frames for its default, 7 days on Apache Kafka)"
        )


def ensure_topic(
    bootstrap: str, topic: str, partitions: int, retention_ms: int = FRAMES_RETENTION_MS
) -> bool:
    """Create ``topic`` unless it exists. Returns True when it was created.

    Frames are transient by design (privacy): the topic keeps them for ``retention_ms`` only, in
    segments of :data:`FRAMES_SEGMENT_MS` (with Kafka's default of a week, the segment being
    written would keep a slow topic's frames for days). An existing topic is left as it is; its
    partition count is logged when it differs.

    A broker that refuses (a managed Kafka's creation policy, a replication factor of 1 below its
    minimum) ends the command in one line naming the topic and the broker's error, and what to
    create instead.
    """
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    if partitions < 1:
        raise UsageError(f"a topic needs at least one partition, got {partitions}")
    configs = {"retention.ms": str(retention_ms), "segment.ms": str(FRAMES_SEGMENT_MS)}
    admin = _admin(bootstrap)
    try:
        try:
            if topic in admin.list_topics():
                _note_partitions(admin, topic, partitions)
                return False
        except (KafkaError, OSError) as exc:
            raise UsageError(f"cannot read topic {topic!r} from Kafka at {bootstrap} ({exc}); "
                             "check KAFKA_BOOTSTRAP_SERVERS and that the broker runs") from None
        new = NewTopic(topic, num_partitions=partitions, replication_factor=1,
                       topic_configs=configs)
        try:
            admin.create_topics([new])
        except TopicAlreadyExistsError:
            return False
        except KafkaError as exc:
            settings = " ".join(f"{key}={value}" for key, value in configs.items())
            raise UsageError(
                f"Kafka at {bootstrap} refused to create topic {topic!r} ({exc}); create it "
                f"yourself with {partitions} partitions and {settings} (as compose's kafka-init "
                "does), then start again"
            ) from None
    finally:
        admin.close()
    log.info("created topic=%s partitions=%d retention_ms=%d segment_ms=%d", topic, partitions,
             retention_ms, FRAMES_SEGMENT_MS)
    return True


def _note_partitions(admin: KafkaAdminClient, topic: str, wanted: int) -> None:
    """Log an existing topic's partition count when it is not the one asked for: partitions
    bound how many consumers share the work, and ClassPulse never changes a topic it finds."""
    (described,) = admin.describe_topics([topic])
    found = len(described.get("partitions") or [])
    if found != wanted:
        log.warning("topic=%s exists with partitions=%d, not the %d asked for; left as it is "
                    "(at most %d consumers of a group share it)", topic, found, wanted, found)
