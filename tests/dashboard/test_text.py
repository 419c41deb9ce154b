"""The page's words: ages, the engagement sentence, the explanation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS
from classpulse.settings import parse_weights
from dashboard import text


def test_age_text() -> None:
    assert [text.age_text(timedelta(seconds=s)) for s in (0, 1, 59, 60, 61, 7200, 90000)] == [
        "0 seconds", "1 second", "59 seconds", "1 minute", "1 minute", "2 hours", "1 day"]


def test_engagement_sentence_lists_the_weights_in_use_and_its_range() -> None:
    stored = datetime(2026, 12, 6, 9, 30, tzinfo=ZoneInfo("Europe/London"))
    sentence = text.engagement_sentence(DEFAULT_ENGAGEMENT_WEIGHTS, stored)
    assert "(neutral 0.9, happy 0.6, surprise 0.6, fear 0.3, sad 0.3, angry 0.25, disgust 0.2)" \
        in sentence
    assert "from 0 to 0.9" in sentence and "never a grade of any child" in sentence
    assert "stored 06 Dec 2026 09:30; minutes counted before then keep" in sentence
    custom = text.engagement_sentence(parse_weights("happy=1"), stored)
    assert custom.count("happy 1") == 1 and "from 0 to 1;" in custom


def test_explanation_says_what_the_numbers_are_not() -> None:
    paragraph = text.explanation(5, 0.5885)
    for words in ("FER2013", "agrees with the human labels on 59% of FER2013's validation photos",
                  "skin tones", "not a grade",
                  "at least 5 faces", "no chart describes one child", "nobody is recognised"):
        assert words in paragraph
    assert "\n" not in paragraph


def test_explanation_without_a_measured_accuracy_quotes_the_ceiling() -> None:
    paragraph = text.explanation(3, None)
    assert "at most about three faces in four" in paragraph and "%" not in paragraph


def test_unreadable_faces_are_explained_in_a_teachers_words() -> None:
    small = text.unreadable(40, 4, "small", "in this lesson")
    assert small.startswith("**Most faces in this lesson could not be read** (10% of the faces")
    assert "too small to read expressions at this camera's resolution" in small
    assert "still count as faces in view" in small
    assert "turned away from the camera or bowed" in text.unreadable(9, 2, "turned", "x")
    assert "could not tell" in text.unreadable(9, 2, "uncertain", "x")


def test_a_share_never_rounds_to_all_or_nothing() -> None:
    """299 of 300 is not "100%", 1 of 250 is not "0%"; every other share rounds as usual."""
    shares = (0.0, 1 / 250, 1 / 200, 0.006, 0.5, 0.994, 0.995, 299 / 300, 1.0)
    assert [text.share(s) for s in shares] == [
        "0%", "<1%", "<1%", "1%", "50%", "99%", ">99%", ">99%", "100%"]
    assert "(<1% of the faces seen were read)" in text.unreadable(250, 1, "small", "x")
    assert "agrees with the human labels on >99% of" in text.accuracy_clause(0.999)


def test_counts_of_minutes_are_said_in_the_right_number() -> None:
    assert text.minutes_text(1) == "1 minute" and text.minutes_text(2) == "2 minutes"
    assert "(1 minute)," in text.all_hidden(1, 3)
    assert "(4 minutes)," in text.all_hidden(4, 3)
    assert "1 minute with fewer than 3 faces read is hidden" in text.hidden_note(1, 3)


def test_a_delay_is_said_to_the_second() -> None:
    """A minute is shown 130 s after it ends: "2 minutes", as an age is said, would be false."""
    assert [text.duration_text(timedelta(seconds=s)) for s in (0, 1, 10, 60, 61, 130, 3600)] == [
        "0 seconds", "1 second", "10 seconds", "1 minute", "1 minute 1 second",
        "2 minutes 10 seconds", "60 minutes"]


def test_a_minute_closes_by_the_clock_not_the_wall_clock() -> None:
    """The night Berlin's clocks go back, the minute 02:59 CEST (00:59 UTC) closes 190 s later,
    at 01:02:10 UTC; counted on the wall clock (03:02:10, then CET) it would be an hour late."""
    minute = datetime(2025, 10, 26, 2, 59, tzinfo=ZoneInfo("Europe/Berlin"))
    assert minute.astimezone(timezone.utc) == datetime(2025, 10, 26, 0, 59, tzinfo=timezone.utc)
    assert text.closed_at(minute) == datetime(2025, 10, 26, 1, 2, 10, tzinfo=timezone.utc)


def test_every_lesson_state_has_its_own_words() -> None:
    """The words matched lesson_frames' states by copies of their strings, so a state reworded
    there fell through to "No data for this lesson". Both now read them from one module."""
    from dashboard import lesson_frames, lesson_states

    sentences = {state: text.lesson_without_data(state) for state in lesson_states.STATES}
    assert len(set(sentences.values())) == len(lesson_states.STATES)
    assert sentences[lesson_states.NO_DATA].startswith("**No data for this lesson.**")
    assert sentences[lesson_states.NOT_YET].startswith("**This lesson has not been held yet.**")
    assert lesson_frames.CLOSING == lesson_states.CLOSING  # what the page and status() name
