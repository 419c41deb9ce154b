"""The page's words: ages, the engagement sentence, the explanation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS
from classpulse.settings import parse_weights
from dashboard import text
from dashboard.transform import Unreadable


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
    small = text.unreadable(Unreadable(40, 4, "small").read_share, "small", "in this lesson")
    assert small.startswith("**Most faces in this lesson could not be read** (10% of the faces")
    assert "too small to read expressions at this camera's resolution" in small
    assert "still count as faces in view" in small
    assert "turned away from the camera, bowed" in text.unreadable(2 / 9, "turned", "x")
    assert "could not tell" in text.unreadable(2 / 9, "uncertain", "x")


def test_a_share_never_rounds_to_all_or_nothing() -> None:
    """299 of 300 is not "100%", 1 of 250 is not "0%"; every other share rounds as usual."""
    shares = (0.0, 1 / 250, 1 / 200, 0.006, 0.5, 0.994, 0.995, 299 / 300, 1.0)
    assert [text.share(s) for s in shares] == [
        "0%", "<1%", "<1%", "1%", "50%", "99%", ">99%", ">99%", "100%"]
    assert "(<1% of the faces seen were read)" in text.unreadable(1 / 250, "small", "x")
    # "most could not be read" beside "50% were read" contradicted itself: 49.6% is under half
    assert [text.share(s, 0.5) for s in (0.494, 0.495, 0.4999, 0.5, 0.52)] == [
        "49%", "<50%", "<50%", "50%", "52%"]
    for said in (text.unreadable(0.496, "small", "x"),
                 text.partly_unreadable(0.496, "small", "x", 3)):
        assert "(<50% of the faces seen were read)" in said
    assert "agrees with the human labels on >99% of" in text.accuracy_clause(0.999)


def test_counts_of_minutes_are_said_in_the_right_number() -> None:
    assert text.minutes_text(1) == "1 minute" and text.minutes_text(2) == "2 minutes"
    assert "(1 minute)," in text.all_hidden(1, 3, 0)
    assert "(4 minutes)," in text.all_hidden(4, 3, 0)
    assert "1 minute with fewer than 3 faces read is hidden" in text.hidden_note(1, 3, 0)
    assert text.hidden_note(1, 3, 1).startswith("1 minute was changed after it closed")
    assert "2 minutes were changed after they closed" in text.hidden_note(3, 3, 2)


def test_minutes_changed_after_they_closed_are_not_said_to_have_had_few_faces() -> None:
    """A minute a consumer added to after it closed is hidden whatever its faces (migration 0017,
    ``camera_minutes.revised``): the words say so, and count it apart from the minutes hidden for
    too few faces read."""
    note = text.hidden_note(5, 3, 2)
    assert note == (
        "3 minutes with fewer than 3 faces read are hidden, so that no chart describes a single "
        "child (MIN_FACES_SHOWN=3). 2 minutes were changed after they closed (a consumer's "
        "write came late, e.g. retried after a database outage) and are hidden, so that two "
        "readings of them cannot be compared.")
    assert "fewer than" not in text.hidden_note(2, 3, 2)
    assert text.all_hidden(4, 3, 1) == (
        "**Every minute in this period is hidden** (4 minutes), so nothing is shown: 3 minutes "
        "had fewer than 3 faces read, and no chart may describe a single child; 1 minute was "
        "changed after it closed (a consumer's write came late, e.g. retried after a database "
        "outage) and is hidden, so that two readings of it cannot be compared.")
    only = text.all_hidden(2, 3, 2, "of this lesson")
    assert only.startswith("**Every minute of this lesson is hidden** (2 minutes)")
    assert "fewer than" not in only
    minute = datetime(2025, 3, 3, 9, 41)
    assert text.newest_hidden(minute, 3, True) == (
        "The newest minute (09:41) was changed after it closed (a consumer's write came late, "
        "e.g. retried after a database outage), so it is hidden: two readings of it cannot be "
        "compared.")
    assert "fewer than 3 faces read" in text.newest_hidden(minute, 3, False)
    assert "changed after they closed" in text.hidden_help(3)


def test_a_delay_is_said_to_the_second() -> None:
    """A minute is shown 130 s after it ends: "2 minutes", as an age is said, would be false."""
    assert [text.duration_text(timedelta(seconds=s)) for s in (0, 1, 10, 60, 61, 130, 3600)] == [
        "0 seconds", "1 second", "10 seconds", "1 minute", "1 minute 1 second",
        "2 minutes 10 seconds", "60 minutes"]


def test_every_lesson_state_has_its_own_words() -> None:
    """The words matched lesson_frames' states by copies of their strings, so a state reworded
    there fell through to "No data for this lesson". Both now read them from one module."""
    from dashboard import lesson_states

    states = (lesson_states.NO_DATA, lesson_states.NOT_YET, lesson_states.UNDER_WAY,
              lesson_states.CLOSING, lesson_states.ALL_HIDDEN, lesson_states.UNREADABLE)
    sentences = {state: text.lesson_without_data(state) for state in states}
    assert len(set(sentences.values())) == len(states)
    assert sentences[lesson_states.NO_DATA].startswith("**No data for this lesson.**")
    assert sentences[lesson_states.NOT_YET].startswith("**This lesson has not been held yet.**")


def test_the_main_emotion_box_keeps_its_value_short() -> None:
    """A metric box cuts its value past its width: "neutral · 100%" showed as "neutral · 1…" on a
    1280-px screen, a four-way tie as "angry, hap…". The share goes beneath, a tie in words."""
    assert text.main_emotion_box("neutral", "100%") == ("neutral", "100% of the faces read", None)
    tie = text.main_expression(["angry", "happy", "sad", "neutral"])
    assert text.main_emotion_box(tie, "25%") == (
        "tie", "25% of the faces read, each", "angry, happy, sad and neutral (tied)")
