"""Telling a frames topic gone from one that the broker does not list yet: the looks, and when a
miss counts, shared by the producer's :class:`producers.topic_watch.TopicWatch` and the consumer's
:class:`consumers.topic_presence.TopicPresence`, which each decide what to do about it."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

# how often the broker's topics are listed to find the frames topic gone: frames sent into a topic
# that is gone, on a broker that acknowledges them anyway, are lost for up to this long
TOPIC_CHECK_S = 10.0
# how soon a topic seen missing is looked for again before it counts as gone (a broker that just
# started may list nothing yet)
TOPIC_CONFIRM_S = 1.0


class TopicEvent(Enum):
    GONE = "gone"  # seen missing twice in a row, on a broker that answered both times
    BACK = "back"  # listed again after it was gone


class Sighting(NamedTuple):
    wait_s: float  # how long to wait before the next look
    event: TopicEvent | None  # what this look changed, if anything


class TopicSightings:
    """What successive looks at the broker's topics (:func:`classpulse.topics.topic_exists`: True,
    False, or None for a broker that did not answer) say about the frames topic.

    A miss is looked at again :attr:`confirm_s` later; a second miss in a row is :attr:`GONE
    <TopicEvent.GONE>`, once, until the topic is listed again (:attr:`BACK <TopicEvent.BACK>`).
    A broker that does not answer is an outage, not the watcher's business: it neither confirms
    nor clears a gone topic, and an unconfirmed miss is forgotten. No thread, no clock: the
    caller waits :attr:`Sighting.wait_s` between looks.
    """

    def __init__(self, interval_s: float | None = None) -> None:
        # the module's constants read now, not bound as defaults, so that tests can shorten them
        self.interval_s = TOPIC_CHECK_S if interval_s is None else interval_s
        self.confirm_s = min(TOPIC_CONFIRM_S, self.interval_s)
        self.gone = False  # reported gone, not listed since
        self._unconfirmed = False  # seen missing once: looked for again before it counts

    def observe(self, found: bool | None) -> Sighting:
        """One look's answer; how long to wait before the next, and the event it makes."""
        if found is None or found:
            self._unconfirmed = False
            if found and self.gone:
                self.gone = False
                return Sighting(self.interval_s, TopicEvent.BACK)
        elif not self.gone and not self._unconfirmed:
            self._unconfirmed = True
            return Sighting(self.confirm_s, None)
        elif not self.gone:
            self._unconfirmed = False
            self.gone = True
            return Sighting(self.interval_s, TopicEvent.GONE)
        return Sighting(self.interval_s, None)

    def reset(self) -> None:
        """Start afresh, as if never seen missing: the watcher dealt with the topic being gone
        (created it again), so the next miss is a new one to confirm, and no BACK follows."""
        self.gone = False
        self._unconfirmed = False
