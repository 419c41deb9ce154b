"""Words the page shows: what the numbers mean, and the empty states that explain themselves.

Kept apart from the page so the wording can be read (and tested) in one place. Everything here is
Markdown built from values; nothing queries, draws or reckons with time (when a minute closes and
when data is stale are :mod:`dashboard.periods`' to say). Every stored or user-supplied string (a
classroom's or camera's name, a time zone, a database URL or error, a visitor's name) goes through
:func:`plain` before it meets Markdown, so ``![x](http://host/x.png)`` shows as those characters
instead of loading an outside picture in a teacher's browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from classpulse.emotions import EMOTIONS
from dashboard import lesson_states
from dashboard.periods import MINUTE_CLOSES_AFTER
from dashboard.sql import MOSTLY_READ

# how long a camera that stopped writing is still named in its classroom's warning: past a
# weekend and a holiday week, so a Monday does not pass Friday's broken camera over in silence,
# but not for ever, so a camera taken out of the room stops being named a fortnight later
STOPPED_CAMERA_NAMED_FOR = timedelta(days=14)
# what "faces in view" is for a whole classroom: the page sums its cameras' faces per frame (of a
# shown minute, the cameras that showed it), which counts a pupil two cameras see twice
FACES_ADDED_UP = ("added up over the classroom's cameras whose minute is shown (enough faces read "
                  "at once, and not changed after it closed; the others are left out): a pupil "
                  "two of them see counts twice")
# how a minute came to be added to after it closed, which hides it (``camera_minutes.revised``,
# migration 0017)
REVISED_WHY = "a consumer's write came late, e.g. retried after a database outage"
MAIN_EMOTION_HELP = ("the expression most faces read showed (each of them, when several tie), and "
                     "its share of the faces read")

_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
# the start of Streamlit's :smile:, :+1:, :material/home: and :red[...]
_STREAMLIT_SHORTCODE = re.compile(r":(?=[\w+-][\w/+-]*[:\[])")
_WORD_JOINER = "\u2060"
# where GitHub-flavoured Markdown (Streamlit's) makes a link of bare text, backslash escapes or
# not: after the colon of a scheme's "://", between "www" and its dot, after an e-mail's "@"
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)


def plain(value: object) -> str:
    """``value`` as Markdown that Streamlit shows character for character.

    CommonMark lets a backslash escape any ASCII punctuation, which disarms links, images,
    emphasis, code, HTML and Streamlit's ``$math$``. Streamlit's own ``:emoji:``, ``:red[...]`` and
    ``:material/...:`` are matched on the text after escapes are undone, so an invisible word
    joiner follows the colon that would open one. GitHub's autolinks (a bare ``https://...``,
    ``www....`` or ``name@host``, which would make a timetable title a link to click) are matched
    there too, so a word joiner breaks each pattern. Line breaks become spaces: a name is one
    line.
    """
    one_line = _STREAMLIT_SHORTCODE.sub(":" + _WORD_JOINER, " ".join(str(value).splitlines()))
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", _AUTOLINK.sub(_WORD_JOINER, one_line))


def share(value: float, under: float | None = None) -> str:
    """A share (0 to 1) as a whole percentage that is never "0%" for some nor "100%" for less than
    all: rounding alone would show 1 face of 250 as none and 299 of 300 as every one, and a number
    shown to a teacher must be true. ``under``: a bound the share is known to lie under, never
    shown reached (49.6% of faces read, "most could not be read", is "<50%", not "50%"). Every
    share on the page goes through here."""
    rounded = f"{value:.0%}"
    if rounded == "0%" and value > 0:
        return "<1%"
    if rounded == "100%" and value < 1:
        return ">99%"
    if under is not None and value < under and float(rounded[:-1]) >= 100 * under:
        return f"<{under:.0%}"
    return rounded


def main_expression(names: Sequence[str]) -> str:
    """The expressions that share the largest share, named together when they tie: picking one of
    a tie (the first in EMOTIONS order) would call "angry" what was as often "neutral"."""
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}{TIED}"


TIED = " (tied)"


def main_emotion_box(expression: str, share_text: str) -> tuple[str, str, str | None]:
    """(value, delta, words beneath) of a "Main emotion" metric box: the expression as its value
    and its share below it in small type, since a box cuts its value with "…" past its width
    (on a 1280-px screen with the sidebar open, "neutral · 100%" showed as "neutral · 1…"). A tie
    is "tie" in the box and named in full beneath it, where text wraps."""
    if expression.endswith(TIED):
        return "tie", f"{share_text} of the faces read, each", expression
    return expression, f"{share_text} of the faces read", None


def duration_text(span: timedelta) -> str:
    """``"2 minutes 10 seconds"``, ``"1 minute"``, ``"10 seconds"``: a delay in words, to the
    second (:func:`age_text` keeps its largest unit only, and would call 130 s "2 minutes")."""
    minutes, seconds = divmod(max(0, int(span.total_seconds())), 60)
    parts = [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []
    if seconds or not minutes:
        parts.append(f"{seconds} second{'s' if seconds != 1 else ''}")
    return " ".join(parts)


def closing_delay() -> str:
    """How long after its end a minute closes and is shown, in words: "2 minutes 10 seconds"."""
    return duration_text(MINUTE_CLOSES_AFTER)


def shown_after() -> str:
    """When a minute is shown, and why not sooner, in a teacher's words (``dashboard.periods``)."""
    return (f"A minute is shown from {closing_delay()} after it ends: until then a consumer can "
            "still add frames it read late to it, and a minute still filling up, read twice, "
            "could be subtracted to single out the few faces read in between.")


def engagement_sentence(weights: Mapping[str, float], stored: datetime) -> str:
    """The engagement index in one sentence, with the weights the consumers score with (the
    database's) and when they were stored (local, aware): engagement counted before then kept the
    weights of its time."""
    listed = ", ".join(f"{e} {weights[e]:g}" for e in sorted(EMOTIONS, key=lambda e: -weights[e]))
    top = max(weights.values())
    return (
        "**Engagement index**: for each face, the model's confidence in its most likely expression "
        f"times a weight for that expression ({listed}), averaged over the minute's faces read, "
        f"so it runs from 0 to {top:g}; it describes the room, never a grade of any child. These "
        f"weights were stored {stored:%d %b %Y %H:%M}; minutes counted before then keep the "
        "weights of their time."
    )


def accuracy_clause(val_accuracy: float | None) -> str:
    """How often the model agrees with people: the measured number when the weights carry one."""
    if val_accuracy is None:
        return ("Such networks agree with human labels on at most about three faces in four of "
                "FER2013's own test photos")
    return (f"The network used here agrees with the human labels on {share(val_accuracy)} of "
            "FER2013's validation photos (the best published networks reach about 73%)")


def explanation(min_faces: int | None, val_accuracy: float | None = None) -> str:
    """One paragraph on what the numbers mean and what they do not mean.

    ``min_faces`` is the database's small-group threshold (None when it could not be read).
    ``val_accuracy`` is the shipped weights' measured accuracy (``model.card``), so the page
    states the model's real error rate rather than a flattering literature figure.
    """
    at_least = "enough" if min_faces is None else f"at least {min_faces}"
    return (
        "**What these numbers mean, and what they do not.** Cameras' pictures are analysed in "
        "memory and thrown away; only counts per minute are kept, and nobody is recognised or "
        "followed. For every face found, a neural network trained on FER2013 (a public set of "
        "posed and internet photos of adults) guesses one of seven facial expressions. "
        f"{accuracy_clause(val_accuracy)}; it does worse on faces, lighting and camera angles "
        "unlike those photos, so faces too small, turned too far away, cut off by the "
        "picture's edge, or found or read without confidence are counted in view but their "
        "expression is not read (the limits were "
        "measured on those photos made small and turned). Heads bowed over desks are the "
        "known gap: a camera sharp enough to read faces can also read a bowed head, and a class "
        "quietly writing may then look angrier or sadder than it is. Such networks are known "
        "to be less accurate for some ages, skin tones and cultures — children are barely in the "
        "training set. An expression is not a feeling: a frown can be concentration, a smile "
        "politeness. The charts therefore describe the mood of the room over minutes, with "
        f"noise. Minutes in which no camera read {at_least} faces at a time (on average "
        "over its frames with faces read) are hidden, so that no chart describes one child; so "
        f"is a camera's minute changed after it closed ({REVISED_WHY}), so that two readings of "
        "it cannot be compared, and a classroom's minute is then made of its other cameras. The "
        "numbers are not a grade, a measure of learning or of any child's "
        "attention, and must not be used to assess, compare or discipline students."
    )


def faces_in_view_help(whole_class: bool, more: str = "") -> str:
    """What a "Faces in view" number counts, and ``more`` after it: for a whole classroom the
    views of its cameras shown that minute added up (a pupil two of them see counts twice), for
    one camera its own."""
    counted = (f"faces per frame, {FACES_ADDED_UP}" if whole_class
               else "faces per frame of this camera")
    return f"{counted}; {more}" if more else counted


def faces_added_up() -> str:
    """Under a whole classroom's faces chart: its numbers add up the cameras shown."""
    return f"Faces in view and read are {FACES_ADDED_UP}."


def age_text(age: timedelta) -> str:
    """``"40 seconds"``, ``"5 minutes"``, ``"3 hours"``, ``"2 days"``: an age in words."""
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def no_classrooms() -> str:
    return (
        "**No classrooms yet.** A classroom appears here by itself as soon as a consumer writes "
        "the first minute seen by one of its cameras. Try everything on this machine with "
        "`classpulse demo`; in a school, start the camera producers (`classpulse produce ...`) and "
        "a consumer (`classpulse consume`) that write to this dashboard's database."
    )


def no_data(classroom: str, period: str, newest: datetime | None) -> str:
    """Nothing in the chosen period; say when the classroom last had data, if ever."""
    if newest is None:
        return (
            f"**No data for {plain(classroom)} yet.** No camera of this classroom has reported a "
            f"minute that can be shown (a minute is shown from {closing_delay()} after it "
            "ends). Check that its producers and a consumer are running."
        )
    return (
        f"**No data for {plain(classroom)} in {plain(period)}.** The newest minute recorded is "
        f"{newest:%a %d %b %Y %H:%M}; choose a period that includes it, or check that the "
        "cameras were on."
    )


def minutes_text(n: int) -> str:
    """"1 minute", "2 minutes": a count of minutes as a sentence says it."""
    return f"{n} minute{'' if n == 1 else 's'}"


def hidden_help(min_faces: int) -> str:
    """What a count of hidden minutes in a table counts, where it is not split by reason."""
    return (f"fewer than {min_faces} faces read at once, or changed after they closed "
            f"({REVISED_WHY})")


def _revised_clause(revised: int) -> str:
    """``revised`` minutes (at least one) were added to after they closed, and why that hides
    them, whatever their faces: a reading from before set against one after would single out the
    faces added."""
    many = revised != 1
    return (f"{minutes_text(revised)} {'were' if many else 'was'} changed after "
            f"{'they' if many else 'it'} closed ({REVISED_WHY}) and "
            f"{'are' if many else 'is'} hidden, so that two readings of "
            f"{'them' if many else 'it'} cannot be compared")


def hidden_note(hidden: int, min_faces: int, revised: int) -> str:
    """Say how many minutes were hidden, and why: ``revised`` of the ``hidden`` for being added to
    after they closed (``transform.revised_minutes``), the others for having too few faces
    read."""
    small = hidden - revised
    said = []
    if small:
        said.append(
            f"{minutes_text(small)} with fewer than {min_faces} faces read "
            f"{'are' if small != 1 else 'is'} hidden, so that no chart describes a single child "
            f"(MIN_FACES_SHOWN={min_faces})."
        )
    if revised:
        said.append(f"{_revised_clause(revised)}.")
    return " ".join(said)


def unread_note(minutes: int, min_faces: int) -> str:
    """Say how many shown minutes the charts leave out because most of their faces were not
    read (a point's mix would rest on the few that were)."""
    return (
        f"{minutes_text(minutes)} with at least {min_faces} faces read at once "
        f"{'are' if minutes != 1 else 'is'} left out of the charts: most of the faces seen in "
        f"{'them' if minutes != 1 else 'it'} could not be read."
    )


def all_hidden(hidden: int, min_faces: int, revised: int, when: str = "in this period") -> str:
    """Every one of the ``hidden`` minutes ``when`` is hidden: ``revised`` of them for being
    added to after they closed, the others for having too few faces read."""
    if not revised:
        return (
            f"**Every minute {when} had fewer than {min_faces} faces read** "
            f"({minutes_text(hidden)}), "
            "so nothing is shown: no chart may describe a single child."
        )
    small = hidden - revised
    said = [f"{minutes_text(small)} had fewer than {min_faces} faces read, and no chart may "
            "describe a single child"] if small else []
    said.append(_revised_clause(revised))
    return (f"**Every minute {when} is hidden** ({minutes_text(hidden)}), so nothing is shown: "
            f"{'; '.join(said)}.")


def shown_but_unread(minutes: int, min_faces: int) -> str:
    return (
        f"**Most faces could not be read** in the {minutes_text(minutes)} with at least "
        f"{min_faces} faces read at once, so no mix of expressions is drawn: it would rest on "
        "the few faces that could be read."
    )


# why most faces could not be read, in a teacher's words (dashboard.transform.REASONS)
UNREADABLE_WHY = {
    "small": ("the faces are too small to read expressions at this camera's resolution: a "
              "camera closer to the class, with a narrower lens or more pixels, would show them "
              "larger (README, \"Camera placement\")"),
    "turned": ("most faces are turned away from the camera, bowed (over desks, for instance) "
               "or cut off by the picture's edge, so their expressions cannot be seen"),
    "uncertain": ("the face detector was not sure most of what it found were faces (hands, "
                  "hair, faces half hidden), or the expression model could not tell their "
                  "expressions apart with any confidence (lighting, blur or faces unlike the "
                  "photos it learned from)"),
}


def unreadable(read_share: float, reason: str, when: str) -> str:
    """Most faces ``when`` (e.g. "in this period") could not be read, only ``read_share`` of them
    (``transform.Unreadable.read_share``): say so, and why, instead of a mix of expressions."""
    return (
        f"**Most faces {when} could not be read** ({share(read_share, MOSTLY_READ)} of the "
        f"faces seen were read), so no mix of expressions is drawn for them: "
        f"{UNREADABLE_WHY[reason]}. Faces that could not be read still count as faces in view."
    )


def partly_unreadable(read_share: float, reason: str, when: str, minutes: int) -> str:
    """Most faces ``when`` could not be read (as :func:`unreadable`), yet some minutes' faces
    mostly were and are charted: say that the charts rest on those minutes only (never "no mix is
    drawn" beside a mix)."""
    return (
        f"**Most faces {when} could not be read** ({share(read_share, MOSTLY_READ)} of the "
        f"faces seen were read), so the charts show only the {minutes_text(minutes)} whose "
        f"faces were mostly read: {UNREADABLE_WHY[reason]}. Faces that could not be read still "
        "count as faces in view."
    )


def stale(last_write: datetime, age: timedelta) -> str:
    """The consumer has not written for a while."""
    return (
        f"**No new data for {age_text(age)}** (last write {last_write:%a %d %b %H:%M}). The "
        "consumer may not be running, or the cameras may be off or disconnected: check "
        "`classpulse consume` and the camera producers."
    )


def fresh(last_write: datetime, age: timedelta) -> str:
    """The consumer writes; the minutes it can still add to are not shown (:func:`shown_after`)."""
    return (f"Data is fresh: last written {age_text(age)} ago ({last_write:%H:%M:%S}). "
            f"{shown_after()}")


def cameras_stopped(cameras: Sequence[tuple[str, datetime, timedelta]]) -> str:
    """Cameras of a classroom with no write for over ``periods.STALE_AFTER`` while another of it
    writes, each as (label, last write local, its age): since then the classroom's numbers are
    the other cameras' alone (fewer faces in view, another part of the room), which "fresh"
    beside them would not say."""
    if len(cameras) == 1:
        ((label, last, age),) = cameras
        head = (f"**Camera {plain(label)} has sent no new data for {age_text(age)}** (last write "
                f"{last:%a %d %b %H:%M}), while the classroom's other cameras still do")
        check = "that camera and its producer"
    else:
        listed = ", ".join(f"{plain(label)} for {age_text(age)} (last write {last:%a %d %b %H:%M})"
                           for label, last, age in cameras)
        head = (f"**{len(cameras)} of this classroom's cameras have sent no new data:** {listed}; "
                "its other cameras still do")
        check = "those cameras and their producers"
    return (f"{head}. Since then the classroom's numbers count only what the others see. Check "
            f"{check} (`classpulse produce ...`).")


def database_error(url: str, reason: str) -> str:
    """The database cannot be read; ``url`` must already have its password hidden."""
    return (
        f"**Cannot read the ClassPulse tables from {plain(url)}:** {plain(reason)}. Check that "
        "the database server is running, that DATABASE_URL (or --database-url) points at it, and "
        "that it is migrated: `classpulse db upgrade`."
    )


def newest_hidden(minute: datetime, min_faces: int, revised: bool) -> str:
    """The newest minute is hidden: it was added to after it closed (``revised``), or else had
    too few faces read."""
    if revised:
        return (f"The newest minute ({minute:%H:%M}) was changed after it closed ({REVISED_WHY}), "
                "so it is hidden: two readings of it cannot be compared.")
    return (
        f"The newest minute ({minute:%H:%M}) had fewer than {min_faces} faces read, so it is "
        "hidden."
    )


def newest_unread(minute: datetime) -> str:
    return (
        f"Most faces of the newest minute ({minute:%H:%M}) could not be read, so no mix of "
        "expressions is shown for it."
    )


def lessons_week(monday: date, tz: ZoneInfo) -> str:
    sunday = monday + timedelta(days=6)
    return (f"Lessons of the week from {monday:%a %d %b} to {sunday:%a %d %b %Y} "
            f"({plain(tz.key)}), from the imported timetable.")


def no_lessons(monday: date) -> str:
    return (
        f"**No lessons in the week of {monday:%d %b %Y}.** Lessons come from the school's "
        "timetable: import it with `classpulse lessons import FILE` (CSV or iCalendar), or pick "
        "another week."
    )


def lesson_without_data(state: str) -> str:
    """A lesson whose numbers are empty, said why (``lesson_frames`` status)."""
    if state == lesson_states.NOT_YET:
        return "**This lesson has not been held yet.** Its numbers appear minute by minute."
    if state == lesson_states.UNDER_WAY:
        return ("**This lesson is under way; no minute of it is counted yet.** Its numbers appear "
                f"minute by minute, each once it has closed, {closing_delay()} after it ends; "
                "if none comes within five minutes of the start, check that the cameras and a "
                "consumer are running.")
    if state == lesson_states.CLOSING:
        return ("**This lesson has just ended; no minute of it is counted yet.** Its minutes "
                f"appear as they close, {closing_delay()} after each ends.")
    if state == lesson_states.UNREADABLE:
        return ("**Most faces in this lesson could not be read**, so no mix of expressions is "
                "shown for it.")
    if state == lesson_states.ALL_HIDDEN:  # none revised: else the page says :func:`all_hidden`
        return ("**Every minute of this lesson had too few faces read**, so nothing is shown: "
                "no chart may describe a single child.")
    return ("**No data for this lesson.** No camera of the classroom reported a minute during it; "
            "check that the cameras and a consumer were running.")


def lesson_so_far(until: str) -> str:
    """A lesson under way; ``until`` is its end as ``lesson_frames.until`` words it.

    The database's views hold closed minutes only (migration 0015_closes_after_max_lag), so the
    row and the charts both end at the newest closed minute: the teacher is told that the last
    few minutes are missing from both, not that one of them counts them.
    """
    return (f"Under way until {until}: the row and the charts count its minutes up to the newest "
            f"that has closed (a minute closes {closing_delay()} after it ends); the later ones "
            "join them as they close.")


def lesson_closing(ended: str, closes: datetime) -> str:
    """A lesson that ended (``ended``, as ``lesson_frames.until`` words it) whose last minute has
    not closed yet (``closes``, local): its row and charts still lack its last minutes, which
    must not read as the cameras stopping before the end."""
    return (f"Ended at {ended}: its last minutes join the row and the charts as they close, the "
            f"last at {closes:%H:%M:%S}; until then a consumer can still add frames it read late "
            "to them.")


def lesson_part(state: str, recorded: int, length: int) -> str:
    """A lesson row's note on the part of the lesson its numbers rest on
    (``lesson_frames.part_of_lesson``, ``state`` one of ``lesson_states.SO_FAR``, ``CLOSING`` and
    ``PART_RECORDED``): ``recorded`` of its ``length`` minutes have data, shown or hidden."""
    if state == lesson_states.PART_RECORDED:
        return f"{state}: data for {recorded} of {length} min"
    return f"{state}: {recorded} of {length} min so far"


def lesson_unread(minutes: int) -> str:
    """A lesson row's note on the ``minutes`` its numbers leave out as the charts do: shown, but
    most of their faces could not be read (``text.unread_note`` says it beside the charts)."""
    return f"{minutes_text(minutes)} not read left out"


def lesson_partly_recorded(recorded: int, length: int, min_percent: int) -> str:
    """An opened lesson that ended with data for fewer than ``min_percent`` of its minutes: its
    numbers describe those minutes, which must not read as the whole lesson."""
    return (f"Data for {recorded} of this lesson's {length} minutes only: its numbers and charts "
            "describe those minutes, not the whole lesson (the cameras or a consumer were "
            f"probably not running for the rest). A lesson with data for under {min_percent}% "
            "of its minutes is compared with no other.")


def trend_waits(state: str, recorded: int, length: int, min_percent: int) -> str:
    """Instead of :func:`trend_sentence` for an open lesson whose numbers rest on part of it
    (``state`` as for :func:`lesson_part`): a part of a lesson is not compared with a whole
    one."""
    if state == lesson_states.PART_RECORDED:
        return (f"This lesson is not compared with the previous lesson with this title: it has "
                f"data for {recorded} of its {length} minutes, under the {min_percent}% a lesson "
                "needs to stand for the whole lesson.")
    until = ("it has ended and its last minute has closed" if state == lesson_states.SO_FAR
             else "its last minute has closed")
    return (f"This lesson can be compared with the previous lesson with this title once {until} "
            f"({recorded} of its {length} minutes {'has' if recorded == 1 else 'have'} data so "
            "far): part of a lesson is not the lesson.")


def trend_sentence(change: float, previous: datetime) -> str:
    """How the open lesson's engagement compares with the previous lesson of the same title in
    its trend (lessons left out of the trend are not compared with)."""
    if abs(change) < 0.005:
        movement = "the same as"
    else:
        movement = f"{abs(change):.2f} {'higher' if change > 0 else 'lower'} than"
    return (f"Engagement {movement} in the previous lesson with this title in the trend "
            f"({previous:%a %d %b}). A single lesson moves with the weather, the time of day and "
            "the subject matter: read the trend over several weeks.")


def trend_needs_two(min_minutes: int, in_trend: int, min_percent: int) -> str:
    """Fewer than two lessons of the title can be compared."""
    return (f"The trend needs two ended lessons with this title and group, recorded throughout "
            f"by the same cameras, that each have at least {min_percent}% of their minutes and at "
            f"least {min_minutes} minutes charted, most of their faces read; "
            f"{'only one has' if in_trend else 'none has'} so far.")


# why a lesson is left out of its title's trend (``lesson_frames.left_out``), beside the row's
# part notes (:func:`lesson_part`) and ``lesson_states.UNREADABLE``
OTHER_CAMERAS = "recorded by other cameras"


def too_few_charted(minutes: int) -> str:
    return f"{minutes_text(minutes) if minutes else 'no minutes'} charted"


def part_charted(minutes: int, length: int) -> str:
    """A lesson with data for most of its minutes but charted for too few: the rest hidden or
    not read."""
    return f"{minutes} of {length} min charted"


def cameras_part(parts: Sequence[tuple[str, int]], length: int) -> str:
    """A lesson some camera recorded part of only (``lesson_frames.lesson_cameras``)."""
    said = ", ".join(f"{plain(camera)} {minutes} of {length} min" for camera, minutes in parts)
    return f"camera{'s' if len(parts) > 1 else ''} on for part of it: {said}"


def room_shared(shared: int, length: int) -> str:
    """A lesson row's note, and why its title's trend leaves it out, when another lesson was held
    in its classroom for too much of it (``lesson_frames.room_shared``)."""
    return f"room shared with another lesson: {shared} of {length} min"


def lesson_room_shared(shared: int, length: int,
                       others: Sequence[tuple[str, str | None, datetime, str]],
                       max_percent: int, left_out: bool) -> str:
    """An opened lesson during which ``others`` (title, group, local start, end in words) were
    held in its classroom, for ``shared`` of its ``length`` minutes: a class minute is everyone
    the cameras saw, so those minutes' numbers are both lessons'."""
    named = ", ".join(f"{plain(title)}{f' (group {plain(group)})' if group else ''}, "
                      f"{start:%a %d %b %H:%M}–{end}" for title, group, start, end in others)
    return (f"Another lesson was held in this room during {shared} of this lesson's {length} "
            f"minutes ({named}): the numbers of those minutes are of everyone the cameras saw, "
            "both lessons' pupils together, not of this lesson's alone."
            + (f" A lesson that shared its room for more than {max_percent}% of its minutes "
               "is compared with no other." if left_out else ""))


def trend_left_out(lessons: Iterable[tuple[datetime, bool, str]], cameras: Sequence[str],
                   min_minutes: int, min_percent: int) -> str:
    """The title's lessons left out of its trend, and why; each is (local start, whether it is the
    open lesson, why in words: ``lesson_frames.left_out``); ``cameras`` are those the trend's
    lessons were recorded by, named (as plain text) when a lesson is left out for others."""
    named = [f"{'this lesson' if current else f'{start:%a %d %b}'} ({why})"
             for start, current, why in lessons]
    other = any(n.endswith(f"({OTHER_CAMERAS})") for n in named)
    seen_by = (f" The trend compares lessons recorded by the same cameras "
               f"({', '.join(plain(c) for c in cameras) or 'none'}) for at least {min_percent}% "
               "of their minutes: other cameras see other pupils." if other else "")
    return (f"Left out of the trend, for being under way, having data or charted minutes for "
            f"under {min_percent}% of their minutes, fewer than {min_minutes} minutes charted, "
            f"most faces not read, a camera on for part of the lesson, a room shared with another "
            f"lesson, or other cameras: "
            f"{', '.join(named)}.{seen_by}")


def range_time_skipped(end: str, day: date, clock: time, jump: datetime) -> str:
    """A range's first or last minute (``end``: "starts" or "ends") picked at a time the clocks
    skip: the page reads it as the jump, and a teacher who picked 02:30 must not take the
    charts for 02:30's."""
    zone = plain(str(jump.tzinfo))
    return (f"{day:%a %d %b %Y} {clock:%H:%M} never happens in {zone}: the clocks skip it when "
            f"they go forward, so the range {end} when they do, at {jump:%H:%M} ({jump:%Z}).")


def range_time_repeated(day: date, clock: time, first: datetime) -> str:
    """A range's first or last minute picked at a time the clocks show twice: the page takes the
    first, and says so, since the second is another hour of the class."""
    zone = plain(str(first.tzinfo))
    return (f"{day:%a %d %b %Y} {clock:%H:%M} happens twice in {zone}, the night the clocks go "
            f"back: the first ({first:%H:%M %Z}) is used.")


def bad_link() -> str:
    """Parts of the page's address could not be followed (the page lists them as plain text)."""
    return "**This link could not be followed in full**; showing what could be found:"
