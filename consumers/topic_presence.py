"""Noticing, in a running consumer, that the frames topic went away, and that it is back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from classpulse.topic_presence import TOPIC_CHECK_S, TopicEvent, TopicSightings
from consumers.metrics import ConsumerMetrics

log = logging.getLogger(__name__)


class TopicPresence:
    """Looks for the frames topic on the broker every ``interval_s``, on a thread of its own, and
    says so once when it is gone, and once when it is back.

    A topic deleted under a running consumer (an operator; Apache Kafka restarted with its storage
    in memory, README.md "Retention") leaves the consumer nothing to read (Apache Kafka takes the
    group's partitions away, the embedded broker serves them empty): it polls nothing, holds
    nothing and commits nothing, and nothing said why. Seen missing twice in a row,
    :data:`~classpulse.topic_presence.TOPIC_CONFIRM_S` apart (a broker that just started may list
    nothing yet), on a broker that answered both times (one that does not answer is an outage,
    which the Kafka client reports), it is logged in ONE error line naming the topic and what to
    do, and the gauge ``classpulse_frames_topic_missing`` is 1 until the topic is listed again (a
    warning line then).

    The consumer keeps running meanwhile rather than exiting: it holds no data (a revocation or
    the next flush committed what it had counted, as always), a supervisor's restart would gain
    nothing but a loop of failed starts (``require_topic`` refuses a missing topic), each loading
    the models again, and its metrics would go with it. Running, it reads the new log within
    seconds of the topic's creation (by a producer started with ``--partitions``, compose's
    kafka-init, an operator), while that log still ends below the stored offsets: each partition
    restarts from the new log's beginning and records the reset (``Checkpoint.check_log_ends``,
    as for a broker that lost its data), and every frame of the new log counts once.

    The topics are listed (:func:`classpulse.topics.topic_exists`), never this one asked for by
    name: a broker that creates a topic a client asks about (the embedded broker does, whatever
    the client says) would bring it back with its own retention. For the same reason the group's
    client keeps kafka-python's ``metadata_max_age_ms`` (5 minutes): each metadata refresh names
    the topic, and one every few seconds would have the embedded broker create it again at once.
    Nor is it needed to see the topic back: kafka-python 3 takes a subscribed topic missing from
    Apache Kafka's metadata for a retriable error and asks again after its ``retry_backoff_ms``,
    and the embedded broker keeps the group's partitions assigned throughout.
    """

    def __init__(self, topic: str, bootstrap: str, exists: Callable[[], bool | None],
                 metrics: ConsumerMetrics, interval_s: float = TOPIC_CHECK_S) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.exists = exists
        self.metrics = metrics
        self.interval_s = interval_s
        self._sightings = TopicSightings(interval_s)  # when a miss counts (TopicSightings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="topic-presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the thread after its look under way (up to the broker's answer); not waited
        for."""
        self._stop.set()

    def _run(self) -> None:
        wait = self.interval_s
        while not self._stop.wait(wait):
            wait = self.look()

    def look(self) -> float:
        """One look; how long to wait before the next."""
        wait, event = self._sightings.observe(self.exists())
        if event is TopicEvent.BACK:
            self.metrics.topic_missing.set(0)
            log.warning("topic=%s is back on Kafka at %s; reading its new log from the "
                        "beginning", self.topic, self.bootstrap)
        elif event is TopicEvent.GONE:
            self.metrics.topic_missing.set(1)
            log.error("topic %r is gone from Kafka at %s (deleted, or the broker restarted with "
                      "its storage in memory): nothing is read until it exists again; create it "
                      "(`classpulse produce --partitions N` or compose's kafka-init); this "
                      "consumer keeps running and reads the new log once it is there",
                      self.topic, self.bootstrap)
        return wait
