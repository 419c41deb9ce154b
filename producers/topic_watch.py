"""Noticing that the frames topic went away while the cameras run, and what to do then.

A broker whose storage is in memory (README.md, "Retention": a tmpfs volume) comes back from a
restart without the topic, and compose's broker never creates one on its own. The publisher only
reconnects: without this watch every later frame failed, counted, while the process ran on as if
healthy. Apache Kafka then fails each send (metadata for an unknown topic, UnknownTopicOrPartition);
the embedded broker acknowledges frames sent into a deleted topic and keeps none of them. So the
watch does not wait for failures: it lists the broker's topics every
:data:`~classpulse.topic_presence.TOPIC_CHECK_S`, and at once after a send fails (the publisher's
``on_failure``).

A topic seen missing twice in a row, on a broker that answered both times (an unreachable broker is
an outage, the publisher's to report), is then

- created again, by a producer started with ``--partitions N``: with N partitions and ClassPulse's
  retention, as at start (:func:`classpulse.topics.ensure_topic`), since that producer was trusted
  to create it (compose.yaml starts it so precisely for this); the frames sent meanwhile are lost,
  and with them the topic's earlier frames, so a file or folder without loop ends with status 3;
- or, without ``--partitions``, the end of the process: the topic is someone else's to create
  (kafka-init, an operator, with partitions this producer does not know), so the cameras stop,
  ``classpulse produce`` exits with status 1 and one line saying what to do, and a supervisor
  starting it again finds the topic or stops in one line at start (``require_topic``) until it is
  there. The same when the broker refuses to create it again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from classpulse.errors import UsageError
from classpulse.kafka_connect import BOOTSTRAP_ATTEMPT_S
from classpulse.topic_presence import TopicEvent, TopicSightings
from classpulse.topics import DEFAULT_CONNECT_TIMEOUT_S, ensure_topic, topic_exists

log = logging.getLogger(__name__)

# how long :meth:`TopicWatch.finish` waits for a look under way (one listing of the topics, at
# most BOOTSTRAP_ATTEMPT_S against a broker that does not answer) once the cameras have stopped
FINISH_TIMEOUT_S = BOOTSTRAP_ATTEMPT_S


@dataclass(frozen=True)
class WatchResult:
    """What the watch found, returned by its thread once it has stopped."""

    gone: str | None = None  # why the process must stop: the topic gone, not to be created by it
    # how many times the topic was found gone and then there again (created by the watch, or
    # meanwhile by someone else): the frames sent before it came back are lost, those of a file
    # or folder too, whose run is then incomplete (``classpulse produce`` exits with status 3)
    vanished: int = 0


class TopicWatch:
    """Looks for the frames topic on its own thread until ``stop`` is set (see the module); its
    thread returns a :class:`WatchResult`, which :meth:`finish` hands over once it has stopped."""

    def __init__(self, bootstrap: str, topic: str, partitions: int,
                 interval_s: float | None = None,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions  # 0: this producer may not create the topic
        # when to look, and when a miss counts: every TOPIC_CHECK_S unless told otherwise
        self._sightings = TopicSightings(interval_s)
        self.interval_s = self._sightings.interval_s
        self.connect_timeout_s = connect_timeout_s  # produce --connect-timeout, for ensure_topic
        self._wake = threading.Event()
        self._result: Future[WatchResult] = Future()

    def start(self, stop: threading.Event) -> None:
        # a daemon: a look stuck on a broker that does not answer never holds the process's exit
        threading.Thread(target=self._main, args=(stop,), name="topic-watch",
                         daemon=True).start()

    def wake(self) -> None:
        """Look now: a send failed, as every send does into a topic that is gone."""
        self._wake.set()

    def finish(self, timeout_s: float = FINISH_TIMEOUT_S) -> WatchResult:
        """The watch's result, once ``stop`` is set: its thread is woken and waited for up to
        ``timeout_s``, so that a topic found gone, or created again, just as the cameras stopped
        is in the exit status. A look still under way then is not waited for (logged)."""
        self._wake.set()
        try:
            return self._result.result(timeout_s)
        except FutureTimeout:
            log.warning("topic=%s: the topic watch did not stop within %.0f s (Kafka at %s slow "
                        "to answer); its last look is not in the exit status", self.topic,
                        timeout_s, self.bootstrap)
            return WatchResult()

    def _main(self, stop: threading.Event) -> None:
        try:
            result = self._run(stop)
        except Exception as exc:  # a bug: stop the cameras, for a supervisor to start them again
            log.exception("topic watch died topic=%s", self.topic)
            result = WatchResult(gone=f"the topic watch stopped: {type(exc).__name__}: {exc}")
        self._result.set_result(result)
        if result.gone:
            stop.set()

    def _run(self, stop: threading.Event) -> WatchResult:
        # at most one look per `confirm_s` however many sends fail; a topic seen missing is
        # looked for once more, `confirm_s` later, before anything is done (TopicSightings)
        sightings = self._sightings
        wait = sightings.interval_s
        vanished = 0
        while not stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if stop.is_set():
                break
            wait, event = sightings.observe(topic_exists(self.bootstrap, self.topic))
            if event is TopicEvent.GONE:
                if stop.is_set():  # stopped during the look: create nothing for a process ending
                    break
                sightings.reset()  # dealt with here: a later miss is a new one to confirm
                gone = self._recreate()
                if gone is not None:
                    log.error("topic=%s gone from Kafka; stopping the cameras", self.topic)
                    return WatchResult(gone, vanished)
                vanished += 1
            stop.wait(sightings.confirm_s)
        return WatchResult(None, vanished)

    def _recreate(self) -> str | None:
        """Create the topic again when this producer may; else why the process must stop."""
        where = f"topic {self.topic!r} is gone from Kafka at {self.bootstrap}"
        if not self.partitions:
            return (
                f"{where} (deleted, or the broker restarted with its storage in memory) and this "
                "producer was started without --partitions, so it may not create it; create it "
                "(compose's kafka-init, or `classpulse produce --partitions N`)")
        try:
            created = ensure_topic(self.bootstrap, self.topic, self.partitions,
                                   connect_timeout_s=self.connect_timeout_s)
        except UsageError as exc:
            return f"{where} and could not be created again: {exc}"
        if created:
            log.warning("topic=%s was gone from Kafka at %s (deleted, or the broker restarted with "
                        "its storage in memory); created it again partitions=%d, as at start; "
                        "frames sent in between are lost", self.topic, self.bootstrap,
                        self.partitions)
        return None
