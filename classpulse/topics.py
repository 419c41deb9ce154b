"""Creating the frames topic with the partitions and retention it needs, or requiring it."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from classpulse.errors import UsageError
from classpulse.kafka_connect import BOOTSTRAP_ATTEMPT_S, attempt_ms, connect_with_retry

if TYPE_CHECKING:
    from kafka import KafkaAdminClient

log = logging.getLogger(__name__)

# How long the frames topic keeps a frame, in segments of this length: Kafka deletes a segment
# once its newest frame is past retention, so a frame rests on the broker for at most about
# retention + segment + Kafka's 5-minute check (README.md, "Privacy promise"); compose.yaml's
# x-frames repeats these for kafka-init, and tests/deploy/test_compose.py holds them equal.
FRAMES_RETENTION_MS = 3_600_000
FRAMES_SEGMENT_MS = 600_000
# Whose clock that "newest frame" is read on: with LogAppendTime the broker stamps each frame as
# it appends it, so retention runs on the broker's clock. With the producers' stamps (CreateTime,
# Kafka's default) one producer whose clock runs fast (Kafka 4 accepts stamps up to an hour ahead)
# keeps a segment, and every camera's frames in it, up to an hour longer.
FRAMES_TIMESTAMP_TYPE = "LogAppendTime"
# what ClassPulse creates the frames topic with, and kafka-init sets (compose.yaml's x-frames)
FRAMES_TOPIC_CONFIGS = {
    "retention.ms": str(FRAMES_RETENTION_MS),
    "segment.ms": str(FRAMES_SEGMENT_MS),
    "message.timestamp.type": FRAMES_TIMESTAMP_TYPE,
}
# the most a topic found on the broker may keep frames for: more is refused (_check_configs)
FRAMES_LIMITS_MS = {"retention.ms": FRAMES_RETENTION_MS, "segment.ms": FRAMES_SEGMENT_MS}


# how long the topic functions keep trying to reach the broker unless told otherwise: what
# kafka-python's own bootstrap waited before they took a timeout
DEFAULT_CONNECT_TIMEOUT_S = 30.0


def _admin(bootstrap: str, connect_timeout_s: float) -> KafkaAdminClient:
    """An admin client, retried with backoff for up to ``connect_timeout_s`` as the producer's
    own client is (``produce --connect-timeout``): kafka-python alone waits a fixed 30 s."""
    from kafka import KafkaAdminClient

    deadline = time.monotonic() + connect_timeout_s
    try:
        return connect_with_retry(
            lambda: KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000,
                                     bootstrap_timeout_ms=attempt_ms(deadline)),
            bootstrap, connect_timeout_s)
    except OSError as exc:
        raise UsageError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc


def topic_exists(bootstrap: str, topic: str,
                 timeout_s: float = BOOTSTRAP_ATTEMPT_S) -> bool | None:
    """Whether the broker lists ``topic``; None when it does not answer within ``timeout_s``.

    Every topic is listed, never this one asked for by name: a broker that creates a topic a
    client asks about (``auto.create.topics.enable``; the embedded broker always) would create
    it, with its own retention.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    ms = int(1000 * timeout_s)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=ms,
                                 bootstrap_timeout_ms=ms)
    except (KafkaError, OSError):
        return None
    try:
        return topic in admin.list_topics()
    except (KafkaError, OSError):
        return None
    finally:
        admin.close()


def require_topic(bootstrap: str, topic: str,
                  connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
    """Fail in one line, naming ``topic`` and how to create it, when it does not exist, or how to
    fix it when it keeps frames longer than ClassPulse's retention (:func:`_check_configs`).

    Producers and consumers do not let the broker create it on their first request: it would get
    the broker's default retention (seven days on Apache Kafka), not :data:`FRAMES_RETENTION_MS`;
    and a topic created that way before (by an older consumer, by hand) is refused, not used.
    """
    from kafka.errors import KafkaError

    admin = _admin(bootstrap, connect_timeout_s)
    try:
        try:
            found = topic in admin.list_topics()
        except KafkaError as exc:
            raise UsageError(
                f"cannot list the topics of Kafka at {bootstrap}: {exc!r}") from None
        if not found:
            raise UsageError(
                f"topic {topic!r} does not exist on Kafka at {bootstrap}; create it with "
                "`classpulse produce --partitions N` (or compose's kafka-init), which gives it a "
                f"retention of {FRAMES_RETENTION_MS // 60_000} minutes (a topic the broker "
                "created on its own would keep frames for its default, 7 days on Apache Kafka)"
            )
        _check_configs(admin, bootstrap, topic)
    finally:
        admin.close()


def ensure_topic(bootstrap: str, topic: str, partitions: int,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> bool:
    """Create ``topic`` unless it exists. Returns True when it was created.

    Frames are transient by design (privacy): the topic keeps them for
    :data:`FRAMES_RETENTION_MS` only, in segments of :data:`FRAMES_SEGMENT_MS` (with Kafka's
    default of a week, the segment being written would keep a slow topic's frames for days),
    stamped by the broker (:data:`FRAMES_TIMESTAMP_TYPE`). An existing topic is left as it is: its
    partition count is logged when it differs, and one that keeps frames longer is refused
    (:func:`_check_configs`) rather than published into.

    A broker that refuses (a managed Kafka's creation policy, a replication factor of 1 below its
    minimum) ends the command in one line naming the topic and the broker's error, and what to
    create instead; one not reached within ``connect_timeout_s`` (tried again with backoff) too.
    """
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    if partitions < 1:
        raise UsageError(f"a topic needs at least one partition, got {partitions}")
    configs = dict(FRAMES_TOPIC_CONFIGS)
    admin = _admin(bootstrap, connect_timeout_s)
    try:
        try:
            exists = topic in admin.list_topics()
            if exists:
                _note_partitions(admin, topic, partitions)
        except (KafkaError, OSError) as exc:
            raise UsageError(f"cannot read topic {topic!r} from Kafka at {bootstrap} ({exc}); "
                             "check KAFKA_BOOTSTRAP_SERVERS and that the broker runs") from None
        if exists:
            _check_configs(admin, bootstrap, topic)
            return False
        new = NewTopic(topic, num_partitions=partitions, replication_factor=1,
                       topic_configs=configs)
        try:
            admin.create_topics([new])
        except TopicAlreadyExistsError:  # created meanwhile, by someone else: with what?
            _check_configs(admin, bootstrap, topic)
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
    log.info("created topic=%s partitions=%d retention_ms=%d segment_ms=%d timestamps=%s", topic,
             partitions, FRAMES_RETENTION_MS, FRAMES_SEGMENT_MS, FRAMES_TIMESTAMP_TYPE)
    return True


def _note_partitions(admin: KafkaAdminClient, topic: str, wanted: int) -> None:
    """Log an existing topic's partition count when it is not the one asked for: partitions
    bound how many consumers share the work, and ClassPulse never changes a topic it finds."""
    (described,) = admin.describe_topics([topic])
    found = len(described.get("partitions") or [])
    if found != wanted:
        log.warning("topic=%s exists with partitions=%d, not the %d asked for; left as it is "
                    "(at most %d consumers of a group share it)", topic, found, wanted, found)


def _check_configs(admin: KafkaAdminClient, bootstrap: str, topic: str) -> None:
    """Refuse, in one line naming each value and the command that fixes it, a topic that keeps
    frames longer than ClassPulse promises: a retention or segment time above ours (-1 is
    forever), or a cleanup policy without ``delete`` (compaction keeps each camera's last frame
    for good).

    A topic the broker created on a client's first request (``auto.create.topics.enable``) has
    the broker's defaults, a week on Apache Kafka: existence alone says nothing. Apache Kafka
    describes every setting of a topic, its defaults included (``config_filter="all"``); a broker
    that describes none (the embedded broker reports only the settings a topic was created with;
    a client denied DescribeConfigs gets nothing either) cannot be checked, which is logged.
    A producer's clock on the frames' stamps (CreateTime) is logged, not refused: it lengthens
    retention by that producer's clock error, which Kafka 4 bounds to an hour.
    """
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError

    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)],
                                           config_filter="all")
    except (KafkaError, OSError) as exc:
        raise UsageError(f"cannot read the settings of topic {topic!r} from Kafka at {bootstrap} "
                         f"({exc!r}); check that the broker runs and lets this client describe "
                         "topic configs (DescribeConfigs)") from None
    found = {name: entry.get("value")
             for name, entry in (described.get("topic", {}).get(topic) or {}).items()}
    longer = []
    for name, most in FRAMES_LIMITS_MS.items():
        value = found.get(name)
        if value is not None and not (value.isdigit() and int(value) <= most):
            longer.append(f"{name}={value} (ClassPulse's: {most})")
    policy = found.get("cleanup.policy")
    fix = dict(FRAMES_TOPIC_CONFIGS)
    if policy is not None and "delete" not in policy.split(","):
        longer.append(f"cleanup.policy={policy} (ClassPulse's: delete)")
        fix["cleanup.policy"] = "delete"
    if longer:
        settings = ",".join(f"{key}={value}" for key, value in fix.items())
        raise UsageError(
            f"topic {topic!r} on Kafka at {bootstrap} keeps frames longer than ClassPulse "
            f"allows: {', '.join(longer)}; fix it with `kafka-configs.sh --bootstrap-server "
            f"{bootstrap} --alter --entity-type topics --entity-name {topic} --add-config "
            f"{settings}` (compose's kafka-init does this at every `docker compose up`), then "
            "start again"
        )
    unknown = [name for name in FRAMES_LIMITS_MS if found.get(name) is None]
    if unknown:
        log.warning("Kafka at %s does not report %s of topic=%s: how long it keeps frames is not "
                    "checked (Apache Kafka reports every setting to a client allowed to describe "
                    "topic configs; the embedded broker only those a topic was created with)",
                    bootstrap, " and ".join(unknown), topic)
    if found.get("message.timestamp.type") == "CreateTime":
        log.warning("topic=%s on Kafka at %s deletes frames by their producers' clocks "
                    "(message.timestamp.type=CreateTime): a producer whose clock runs ahead keeps "
                    "them longer; set message.timestamp.type=%s (compose's kafka-init does)",
                    topic, bootstrap, FRAMES_TIMESTAMP_TYPE)


def delete_topic(bootstrap: str, topic: str, connect_timeout_s: float = 10.0) -> None:
    """Delete ``topic`` (a benchmark's own, at its end): one already gone is no error, and a
    broker that cannot be reached or refuses is one logged warning, the caller's work done."""
    from kafka.errors import KafkaError, UnknownTopicOrPartitionError

    try:
        admin = _admin(bootstrap, connect_timeout_s)
    except UsageError as exc:
        log.warning("could not delete topic %s: %s", topic, exc)
        return
    try:
        admin.delete_topics([topic])
    except UnknownTopicOrPartitionError:
        pass
    except (KafkaError, OSError) as exc:
        log.warning("could not delete topic %s at %s: %s", topic, bootstrap, exc)
    finally:
        admin.close()
