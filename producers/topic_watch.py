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
from classpulse.topics import DEFAULT_CONNECT_TIMEOUT_S, ensure_topic, topic_exists

log = logging.getLogger(__name__)

# how often the topic is looked for while no send fails: frames sent into a topic that is gone,
# on a broker that acknowledges them anyway, are lost for up to this long
TOPIC_CHECK_S = 10.0
# how soon a topic seen missing is looked for again before anything is done about it, and the
# least time between two looks, however many sends fail
CONFIRM_S = 1.0
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
        self.interval_s = TOPIC_CHECK_S if interval_s is None else interval_s
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
        # at most one look per `gap` s however many sends fail; a topic seen missing is looked
        # for once more, `gap` s later, before anything is done: a broker may list nothing yet
        gap = min(CONFIRM_S, self.interval_s)
        missing = False
        vanished = 0
        while not stop.is_set():
            self._wake.wait(gap if missing else self.interval_s)
            self._wake.clear()
            if stop.is_set():
                break
            found = topic_exists(self.bootstrap, self.topic)
            if found is not False:  # there, or the broker not answering: not for the watch
                missing = False
            elif not missing:
                missing = True
            elif stop.is_set():  # stopped during the look: create nothing for a process ending
                break
            else:
                missing = False
                gone = self._recreate()
                if gone is not None:
                    log.error("topic=%s gone from Kafka; stopping the cameras", self.topic)
                    return WatchResult(gone, vanished)
                vanished += 1
            stop.wait(gap)
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
