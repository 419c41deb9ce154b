"""Publishing frames to Kafka with every send's outcome checked and counted.

kafka-python drops an oversize or failed message silently unless the returned future is checked, so
every send gets callbacks. Buffering while the broker is away is bounded by ``max_pending``
unacknowledged frames: past that, a live camera's new frames are dropped and counted (a backlog of
stale frames is worth less than fresh ones once the broker is back). A file or folder sent once
(``publish``'s ``wait``) waits for a free place instead, as long as the broker acknowledges frames:
sent flat out it outruns the acknowledgements of a healthy broker, and dropped frames made an
import of recorded footage lose most of them. Once no frame has been acknowledged (or has failed)
for the connect timeout, the broker counts as away: frames are dropped and counted as a live
camera's, without waiting again until the broker acknowledges one.

An idempotent producer whose broker lost its state (a restarted in-memory broker, a cluster rebuilt
from scratch) enters a fatal state in which every later send fails; the publisher then replaces it
with a fresh producer, so a camera process recovers without a restart of its own. The camera that
noticed connects it (for up to the connect timeout); the other cameras and :meth:`Publisher.close`
go on meanwhile, through the old producer.

The publisher never lets the broker create the frames topic (``allow_auto_create_topics=False``,
and a missing topic stops it at start): a topic created on a first send would get the broker's
default retention, seven days on Apache Kafka, instead of the hour of the privacy promise. A topic
that exists with a longer retention (created so before, or by hand) stops it at start too
(``classpulse.topics.require_topic``). A topic that goes away while the cameras run (a broker
restarted with its storage in memory) is :class:`producers.topic_watch.TopicWatch`'s to notice:
the publisher tells it of every failed send (``on_failure``), so that it looks at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from classpulse.errors import UsageError
from classpulse.kafka_connect import attempt_ms, connect_with_retry
from classpulse.topics import DEFAULT_CONNECT_TIMEOUT_S, require_topic

if TYPE_CHECKING:  # imported where used: `classpulse --help` stays light
    from kafka import KafkaProducer

DEFAULT_MAX_PENDING = 256  # unacknowledged frames held while the broker is away
# at shutdown, how long frames in flight may still be acknowledged (compose.yaml's producer
# stop_grace_period leaves room for it)
DEFAULT_CLOSE_TIMEOUT_S = 20.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishStats:
    """Totals for one camera since start."""

    sent: int = 0  # acknowledged by the broker (acks=all)
    failed: int = 0  # the broker or client gave up on it after retries
    dropped: int = 0  # never handed to Kafka: buffer full or broker unreachable
    pending: int = 0  # handed to Kafka, neither acknowledged nor failed yet


class Publisher:
    """A thread-safe idempotent Kafka producer shared by all cameras of a process."""

    def __init__(self, bootstrap: str, topic: str, max_pending: int = DEFAULT_MAX_PENDING,
                 connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
                 on_failure: Callable[[], None] | None = None) -> None:
        self.topic = topic
        # called, without arguments and holding no lock, after each send that fails or is
        # refused (on kafka-python's thread, for a delivery): it must return at once
        self.on_failure = on_failure
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # notified whenever a frame is settled
        self._settled_at = time.monotonic()  # when a frame was last settled (any outcome)
        self._away = False  # a wait for a free place gave up: none until a frame is acknowledged
        self._pending = 0
        self._counts: Counter[tuple[str, str]] = Counter()
        self._outage_logged = False
        self._closed = False  # close() has begun closing the producer
        self._bootstrap = bootstrap
        self._connect_timeout_s = connect_timeout_s
        self._suspect_fatal = False
        # guards self._producer and self._replacing: cameras send through the producer while one
        # of them may swap it; apart from self._lock, which delivery callbacks take (and which may
        # be taken inside it, never the other way round). Held only to read or swap, never while
        # connecting
        self._producer_lock = threading.Lock()
        self._replacing = False  # a camera is connecting a new producer
        self._producer = _connect(bootstrap, connect_timeout_s)
        try:
            require_topic(bootstrap, topic, connect_timeout_s)
        except UsageError:
            _close(self._producer, 0)
            raise

    def publish(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]],
                wait: threading.Event | None = None) -> bool:
        """Hand one frame to Kafka; False (and counted as dropped) when the buffer is full.

        ``wait``: the stop event of a camera that has an end (a file or folder sent once), whose
        frame waits for a free place, while the broker acknowledges frames, rather than being
        dropped; it is dropped all the same once the event is set, the publisher closes, or no
        frame has been acknowledged for the connect timeout (the module's docstring). None (a
        live camera): dropped at once.
        """
        from kafka.errors import KafkaError

        camera = key.decode()
        if self._suspect_fatal:
            self._replace_if_fatal()
        with self._lock:
            if self._pending >= self.max_pending and wait is not None:
                self._wait_for_room(wait)
            if self._pending >= self.max_pending:
                self._counts[(camera, "dropped")] += 1
                if self._away:
                    self._note_outage("no frame acknowledged for %.0f s, %d unacknowledged",
                                      self._connect_timeout_s, self._pending)
                else:
                    self._note_outage("buffer of %d unacknowledged frames is full",
                                      self.max_pending)
                return False
            self._pending += 1
            self._counts[(camera, "pending")] += 1
        with self._producer_lock:  # sent outside it: cameras send at once, as KafkaProducer allows
            producer = self._producer
        try:
            future = producer.send(self.topic, key=key, value=value, headers=headers)
        except KafkaError as exc:
            with self._lock:
                self._settle(camera, "dropped")
            self._note_outage("send refused: %s", exc)
            self._failed()
            return False
        except BaseException:
            # a frame kafka-python refuses to take (TypeError, ValueError on its key, value or
            # headers): the caller's to count; its slot is freed, or max_pending such frames
            # would fill the buffer for good and drop every later one
            with self._lock:
                self._settle(camera, None)
            raise
        future.add_callback(self._on_success, camera)
        future.add_errback(self._on_error, camera)
        return True

    def _wait_for_room(self, stop: threading.Event) -> None:
        """Wait, under ``_lock``, until fewer than ``max_pending`` frames are unacknowledged, or
        ``stop`` is set, or the publisher closes, or none was settled for the connect timeout
        (then the broker is away: ``_away``, until a frame is acknowledged)."""
        started = time.monotonic()
        while (self._pending >= self.max_pending and not self._away and not self._closed
               and not stop.is_set()):
            quiet_s = time.monotonic() - max(started, self._settled_at)
            if quiet_s >= self._connect_timeout_s:
                self._away = True
                return
            # woken by each settled frame; `stop` notifies nobody, so it is looked at every 0.1 s
            self._freed.wait(min(self._connect_timeout_s - quiet_s, 0.1))

    def _on_success(self, camera: str, _metadata: object) -> None:
        with self._lock:
            self._settle(camera, "sent")
            self._away = False
            if self._outage_logged:
                self._outage_logged = False
                log.info("broker reachable again topic=%s", self.topic)

    def _on_error(self, camera: str, exc: BaseException) -> None:
        with self._lock:
            if self._closed:  # the close giving up on it, as its sender stops: still pending
                return
            self._settle(camera, "failed")
            if not getattr(exc, "retriable", False):
                self._suspect_fatal = True
        self._note_outage("delivery failed camera=%s error=%r", camera, exc)
        self._failed()

    def _failed(self) -> None:
        if self.on_failure is not None:
            self.on_failure()

    def _settle(self, camera: str, outcome: str | None) -> None:
        """A pending frame's outcome (``sent``, ``failed``, ``dropped``, or None: handed back to
        the caller uncounted); under ``_lock``."""
        self._pending -= 1
        self._counts[(camera, "pending")] -= 1
        if outcome is not None:
            self._counts[(camera, outcome)] += 1
        self._settled_at = time.monotonic()
        self._freed.notify_all()

    def _replace_if_fatal(self) -> None:
        """Swap in a new producer when the current one can no longer send anything.

        The new producer is connected outside the producer's lock, which is held only to check
        and to swap: a reconnect takes up to the connect timeout, and held across it the lock
        would stop every other camera, and :meth:`close`, as long. Of several cameras that
        noticed, the first replaces the producer; the others send on through the old one (their
        frames fail, counted) until the new one is in. A producer connected once the publisher
        is closed is closed at once, never swapped in.
        """
        with self._producer_lock:
            with self._lock:
                self._suspect_fatal = False
                if self._replacing or self._closed:
                    return
            old = self._producer
            manager = getattr(old, "_transaction_manager", None)
            if manager is not None and not manager.has_fatal_error():
                return
            self._replacing = True
        log.warning("producer in a fatal state (%r); replacing it", manager and manager.last_error)
        try:
            new = _connect(self._bootstrap, self._connect_timeout_s)
        except BaseException:
            with self._producer_lock:
                self._replacing = False
            raise
        with self._producer_lock, self._lock:
            self._replacing = False
            closed = self._closed
            if not closed:
                self._producer = new
        _close(new if closed else old, 0)

    def _note_outage(self, message: str, *args: object) -> None:
        """Log the first problem of an outage only; the counters carry the rest."""
        if not self._outage_logged:
            self._outage_logged = True
            log.warning("publishing degraded topic=%s: " + message, self.topic, *args)

    def stats(self, camera: str) -> PublishStats:
        with self._lock:
            return PublishStats(self._counts[(camera, "sent")], self._counts[(camera, "failed")],
                                self._counts[(camera, "dropped")],
                                self._counts[(camera, "pending")])

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every handed-over frame to be acknowledged or to fail."""
        from kafka.errors import KafkaError

        with self._producer_lock:
            producer = self._producer
        try:
            producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            log.warning("flush incomplete after %.0f s, %d frames unacknowledged: %r", timeout_s,
                        self.pending(), exc)

    def close(self, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Let the frames in flight be acknowledged for up to ``timeout_s`` in all, then close.

        Bounded and never raising, so that a process stopping while the broker is down still
        prints its summary; what was not acknowledged stays counted as pending (:meth:`stats`).
        The sender that closing stops fails those frames on its own thread, sooner or later:
        counted as failed, they made the summary's pending and failed a race.
        """
        deadline = time.monotonic() + timeout_s
        self.flush(timeout_s)
        with self._lock:
            self._closed = True
            self._freed.notify_all()  # a frame waiting for a free place is dropped
        with self._producer_lock:
            producer = self._producer
        _close(producer, max(0.0, deadline - time.monotonic()))


def _close(producer: KafkaProducer, timeout_s: float) -> None:
    """Close ``producer`` without raising when frames are still unacknowledged.

    kafka-python 3's ``close`` flushes first and raises KafkaTimeoutError when the broker has not
    acknowledged everything in time, before it stops its sender thread and network client: a
    producer replaced after a fatal error would leave them running for the process's life. So
    the sender is then stopped here, as ``close`` would have done past its flush; its frames
    are never sent (the counts say how many were pending).
    """
    from kafka.errors import KafkaError

    try:
        producer.close(timeout=timeout_s)
    except KafkaError as exc:
        log.debug("producer closed with frames unacknowledged: %r", exc)
        sender = getattr(producer, "_sender", None)  # kafka-python 3.x (pyproject pins it)
        if sender is not None and sender.is_alive():
            sender.force_close()


def _connect(bootstrap: str, timeout_s: float) -> KafkaProducer:
    from kafka import KafkaProducer

    deadline = time.monotonic() + timeout_s
    return connect_with_retry(
        lambda: KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            allow_auto_create_topics=False,  # see the module's docstring
            linger_ms=5,
            max_request_size=1_048_576,
            max_block_ms=2_000,
            delivery_timeout_ms=120_000,
            request_timeout_ms=10_000,
            reconnect_backoff_max_ms=5_000,
            # one connection attempt per retry window of connect_with_retry, never past its end
            bootstrap_timeout_ms=attempt_ms(deadline),
        ),
        bootstrap,
        timeout_s,
    )
