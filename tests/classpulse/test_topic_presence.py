"""When a miss of the frames topic counts: the looks shared by the producer's topic watch and the
consumer's topic presence (classpulse.topic_presence.TopicSightings)."""

from __future__ import annotations

import pytest

import classpulse.topic_presence
from classpulse.topic_presence import TopicEvent, TopicSightings

GONE, BACK = TopicEvent.GONE, TopicEvent.BACK


def observe_all(sightings: TopicSightings, answers: list[bool | None]
                ) -> list[tuple[float, TopicEvent | None]]:
    return [tuple(sightings.observe(found)) for found in answers]


def test_a_miss_is_confirmed_once_soon_and_a_gone_topic_is_said_once_and_its_return_once(
) -> None:
    sightings = TopicSightings(10.0)
    assert observe_all(sightings, [True, False, True, False, False, False, None, False, True,
                                   True]) == [
        (10.0, None), (1.0, None), (10.0, None),  # one miss alone: looked at soon, forgotten
        (1.0, None), (10.0, GONE), (10.0, None),  # a second in a row: gone, said once
        (10.0, None), (10.0, None),  # a broker not answering neither confirms nor clears it
        (10.0, BACK), (10.0, None)]


def test_a_broker_not_answering_forgets_an_unconfirmed_miss() -> None:
    sightings = TopicSightings(10.0)
    assert observe_all(sightings, [False, None, False, False]) == [
        (1.0, None), (10.0, None), (1.0, None), (10.0, GONE)]


def test_after_a_reset_a_miss_is_a_new_one_and_no_return_is_said() -> None:
    sightings = TopicSightings(10.0)
    assert observe_all(sightings, [False, False]) == [(1.0, None), (10.0, GONE)]
    sightings.reset()  # created again by the watcher
    assert not sightings.gone
    assert observe_all(sightings, [True, False, False]) == [
        (10.0, None), (1.0, None), (10.0, GONE)]


def test_the_confirm_delay_is_never_longer_than_the_interval(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (TopicSightings().interval_s, TopicSightings().confirm_s) == (10.0, 1.0)
    assert TopicSightings(0.3).confirm_s == 0.3
    monkeypatch.setattr(classpulse.topic_presence, "TOPIC_CHECK_S", 0.1)  # read when made
    assert TopicSightings().interval_s == 0.1
