"""Noticing that the frames topic went away while the cameras run, and what to do then.

A broker whose storage is in memory (README.md, "Retention": a tmpfs volume) comes back from a
restart without the topic, and compose's broker never creates one on its own. The publisher only
reconnects: without this watch every later frame failed, counted, while the process ran on as if
healthy. Apache Kafka then fails each send (metadata for an unknown topic, UnknownTopicOrPartition);
the embedded broker acknowledges frames sent into a deleted topic and keeps none of them. So the
watch does not wait for failures: it lists the broker's topics every :data:`TOPIC_CHECK_S`, and at
once after a send fails (the publisher's ``on_failure``).

A topic seen missing twice in a row, on a broker that answered both times (an unreachable broker is
an outage, the publisher's to report), is then

- created again, by a producer started with ``--partitions N``: with N partitions and ClassPulse's
  retention, as at start (:func:`classpulse.topics.ensure_topic`), since that producer was trusted
  to create it (compose.yaml starts it so precisely for this); the frames sent meanwhile are lost;
- or, without ``--partitions``, the end of the process: the topic is someone else's to create
  (kafka-init, an operator, with partitions this producer does not know), so the cameras stop,
  ``classpulse produce`` exits with status 1 and one line saying what to do, and a supervisor
  starting it again finds the topic or stops in one line at start (``require_topic``) until it is
  there. The same when the broker refuses to create it again.
"""

from __future__ import annotations

import logging
import threading

from classpulse.errors import UsageError
from classpulse.topics import ensure_topic, topic_exists

log = logging.getLogger(__name__)

# how often the topic is looked for while no send fails: frames sent into a topic that is gone,
# on a broker that acknowledges them anyway, are lost for up to this long
TOPIC_CHECK_S = 10.0
# how soon a topic seen missing is looked for again before anything is done about it, and the
# least time between two looks, however many sends fail
CONFIRM_S = 1.0


class TopicWatch:
    """Looks for the frames topic on its own thread until ``stop`` is set (see the module)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int,
                 interval_s: float | None = None) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions  # 0: this producer may not create the topic
        self.interval_s = TOPIC_CHECK_S if interval_s is None else interval_s
        # why the process must stop (the topic gone, not to be created by it); set before stop
        self.gone: str | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(target=self._run, args=(stop,), name="topic-watch",
                                        daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look now: a send failed, as every send does into a topic that is gone."""
        self._wake.set()

    def _run(self, stop: threading.Event) -> None:
        # at most one look per `gap` s however many sends fail; a topic seen missing is looked
        # for once more, `gap` s later, before anything is done: a broker may list nothing yet
        gap = min(CONFIRM_S, self.interval_s)
        missing = False
        while not stop.is_set():
            self._wake.wait(gap if missing else self.interval_s)
            self._wake.clear()
            if stop.is_set():
                return
            found = topic_exists(self.bootstrap, self.topic)
            if found is not False:  # there, or the broker not answering: not for the watch
                missing = False
            elif not missing:
                missing = True
            else:
                missing = False
                if not self._recreate():
                    log.error("topic=%s gone from Kafka; stopping the cameras", self.topic)
                    stop.set()
                    return
            stop.wait(gap)

    def _recreate(self) -> bool:
        """Create the topic again when this producer may; False when the process must stop."""
        where = f"topic {self.topic!r} is gone from Kafka at {self.bootstrap}"
        if not self.partitions:
            self.gone = (
                f"{where} (deleted, or the broker restarted with its storage in memory) and this "
                "producer was started without --partitions, so it may not create it; create it "
                "(compose's kafka-init, or `classpulse produce --partitions N`)")
            return False
        try:
            created = ensure_topic(self.bootstrap, self.topic, self.partitions)
        except UsageError as exc:
            self.gone = f"{where} and could not be created again: {exc}"
            return False
        if created:
            log.warning("topic=%s was gone from Kafka at %s (deleted, or the broker restarted with "
                        "its storage in memory); created it again partitions=%d, as at start; "
                        "frames sent in between are lost", self.topic, self.bootstrap,
                        self.partitions)
        return True
