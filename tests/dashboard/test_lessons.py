"""The lessons view and its deep links, on the real page under AppTest, PostgreSQL and SQLite.

Minutes come from the synthetic seed written through the consumer's write API; the timetable is a
CSV file imported by the real ``classpulse lessons import``. Every number on a lesson's row, its
metrics and its charts is compared with values computed in Python from the seeded minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import text

from classpulse.cli import main
from classpulse.db.seed import synthetic_minute_rows
from classpulse.db.writes import MinuteRow
from dashboard.periods import MINUTE_CLOSES_AFTER
from tests.dashboard import expected
from tests.dashboard.conftest import Database
from tests.dashboard.pages import assert_no_error, charts, metric_texts, open_page, texts

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
MONDAY, NEXT_MONDAY = date(2025, 3, 3), date(2025, 3, 10)
LATER = datetime(2025, 4, 1, tzinfo=timezone.utc)  # "now" for lessons of March 2025: all ended
BOLD, IMAGE = "**x**", "![x](http://h/x.png)"
TIMETABLE = f"""classroom,date,start,end,title
7A,2025-03-03,08:00,08:45,Maths
7A,2025-03-03,08:55,09:40,{BOLD}
7A,2025-03-03,09:50,10:35,"{IMAGE}"
7A,2025-03-04,08:00,08:10,Tutor group
7A,2025-03-10,08:00,08:45,Maths
7A,2025-03-10,13:00,13:45,Art
"""


LEFT_OUT = ("Left out of the trend, for being under way, having data or charted minutes for "
            "under 80% of their minutes, fewer than 10 minutes charted, most faces not read, a "
            "camera on for part of the lesson, a room shared with another lesson, or other "
            "cameras: ")


def local(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


@dataclass(frozen=True)
class Seeded:
    rows: list[MinuteRow]
    ids: dict[tuple[date, str], int]  # (local day, title) -> lesson id


@pytest.fixture
def seeded(database: Database, tmp_path: Path) -> Iterator[Seeded]:
    rows: list[MinuteRow] = []
    for day in (MONDAY, NEXT_MONDAY):  # 08:00-10:59 in Berlin, two cameras
        rows += synthetic_minute_rows(("7A",), 2, local(day, 8, 0), 180, seed=4)
    # Tuesday's tutor group: two children in front of one camera, ten minutes: all hidden at 3
    rows += [expected.row("7A-cam1", "7A", local(MONDAY + timedelta(days=1), 8, m), 60, 2)
             for m in range(10)]
    expected.write(database.engine, rows, {"7A": ("Class 7A", "Europe/Berlin")})
    timetable = tmp_path / "timetable.csv"
    timetable.write_text(TIMETABLE, encoding="utf-8")
    assert main(["lessons", "import", str(timetable), "--database-url", database.url]) == 0
    with database.engine.connect() as conn:
        lessons = conn.execute(text("SELECT id, starts_at, title FROM lessons")).all()
    ids = {}
    for lesson_id, starts_at, title in lessons:
        start = pd.Timestamp(starts_at)
        start = start.tz_localize(UTC) if start.tzinfo is None else start
        ids[(start.tz_convert(BERLIN.key).date(), title)] = int(lesson_id)
    yield Seeded(rows, ids)


def open_link(monkeypatch: pytest.MonkeyPatch, url: str, min_faces: int = 3,
              **params: str) -> object:
    at = open_page(monkeypatch, url, min_faces=min_faces)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def add_lesson(database: Database, classroom: str, start: datetime, end: datetime,
               title: str, subject: str | None = None, group_label: str | None = None) -> int:
    """A lesson written straight into ``lessons`` (a CSV timetable cannot say that a lesson ends
    on another day, nor hold times relative to now); its id."""
    from sqlalchemy import insert

    from classpulse.db.models import Lesson

    key = f"test:{classroom}/{start.isoformat()}/{group_label}"
    with database.engine.begin() as conn:
        done = conn.execute(insert(Lesson.__table__).values(
            classroom_id=classroom, starts_at=start, ends_at=end, title=title, subject=subject,
            group_label=group_label, source_key=key, source_scope=key))
    return int(done.inserted_primary_key[0])


def table(at: object) -> pd.DataFrame:
    (frame,) = [d.value for d in at.dataframe]  # type: ignore[attr-defined]
    return frame


def test_a_lesson_link_opens_its_week_row_metrics_charts_and_trend(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    maths = seeded.ids[(NEXT_MONDAY, "Maths")]
    at = open_link(monkeypatch, database.url, classroom="7A", view="lessons", lesson=str(maths))
    assert_no_error(at)
    shown = texts(at)
    assert shown["title"] == ["Class 7A"]
    assert any("week from Mon 10 Mar to Sun 16 Mar 2025 (Europe/Berlin)" in c
               for c in shown["caption"])
    rows = table(at)
    assert rows["day"].tolist() == ["Mon 10 Mar", "Mon 10 Mar"]
    assert rows["title"].tolist() == ["Maths", "Art"]
    assert rows["time"].tolist() == ["08:00–08:45", "13:00–13:45"]
    want = expected.lesson(seeded.rows, "7A", local(NEXT_MONDAY, 8, 0),
                           local(NEXT_MONDAY, 8, 45))
    maths_row, art_row = rows.iloc[0], rows.iloc[1]
    assert (maths_row["minutes"], maths_row["hidden_minutes"]) == (want["minutes"], want["hidden"])
    assert want["minutes"] + want["unread"] + want["hidden"] == 45
    assert maths_row["engagement"] == pytest.approx(want["engagement"])
    assert maths_row["faces_in_view"] == pytest.approx(want["faces_in_view"])
    assert (maths_row["main_emotion"], maths_row["main_share"]) == (
        want["main"], f"{want['main_share']:.0%}")
    assert (art_row["minutes"], art_row["hidden_minutes"], art_row["data"]) == (0, 0, "no data")
    assert pd.isna(art_row["engagement"])

    assert at.selectbox(key="lesson").value == maths
    assert shown["subheader"] == ["Mon 10 Mar 2025, 08:00–08:45"]
    assert shown["text"] == ["Maths"]
    metrics = metric_texts(at)
    assert metrics == {
        "Main emotion": f"{want['main']} · {want['main_share']:.0%} of the faces read",
        "Engagement": f"{want['engagement']:.2f}",
        "Faces in view": f"{want['faces_in_view']:.1f}",
        "Minutes charted": str(want["minutes"]),
    }
    drawn = charts(at)
    engagement = drawn["Engagement index"]
    assert engagement["wall"].tolist() == [
        pd.Timestamp(m.astimezone(BERLIN).replace(tzinfo=None)) for m in want["shown"]]
    assert engagement["engagement"].tolist() == pytest.approx(
        [w["engagement"] for w in want["shown"].values()])
    trend = drawn["Engagement in lessons with this title"]
    before = expected.lesson(seeded.rows, "7A", local(MONDAY, 8, 0), local(MONDAY, 8, 45))
    assert trend["engagement"].tolist() == pytest.approx([before["engagement"],
                                                          want["engagement"]])
    assert trend["current"].tolist() == [False, True]
    change = want["engagement"] - before["engagement"]
    words = "higher" if change > 0 else "lower"
    assert any(c.startswith(f"Engagement {abs(change):.2f} {words} than in the previous lesson "
                            "with this title in the trend (Mon 03 Mar)") for c in shown["caption"])
    assert at.query_params == {"classroom": "7A", "view": "lessons", "week": "2025-03-10",
                               "lesson": str(maths)}


def test_a_lessons_numbers_leave_out_the_minutes_its_charts_leave_out(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten minutes of three faces at once, all read and happy, then ten minutes of many faces,
    fewer than half read (each minute), the few read angry. The charts draw the happy minutes
    only; the row summed every shown minute and said "angry 57%", engagement 0.40, with no note,
    above charts all happy, and put 0.40 in the title's trend. Its numbers are now those of the
    minutes its charts draw, and the note counts the others; the lesson's faces were mostly read
    as a whole (58%), so it still has numbers."""
    start = local(MONDAY, 8, 0)
    rows = [expected.row("7A-cam1", "7A", start + timedelta(minutes=m), 60, 3, top="happy",
                         confidence=1.0) for m in range(10)]
    rows += [expected.row("7A-cam1", "7A", start + timedelta(minutes=m), 60, 4, top="angry",
                          confidence=1.0, unread=(5, 0, 0)) for m in range(10, 20)]
    expected.write(database.engine, rows, {"7A": ("Class 7A", "Europe/Berlin")})
    lesson = add_lesson(database, "7A", start, start + timedelta(minutes=20), "Maths")
    want = expected.lesson(rows, "7A", start, start + timedelta(minutes=20))
    assert (want["minutes"], want["unread"], want["hidden"]) == (10, 10, 0)
    at = open_link(monkeypatch, database.url, classroom="7A", view="lessons", lesson=str(lesson))
    assert_no_error(at)
    row = table(at).iloc[0]
    assert (row["main_emotion"], row["main_share"], row["minutes"], row["hidden_minutes"]) == (
        "happy", "100%", 10, 0)
    assert row["engagement"] == pytest.approx(0.6) == pytest.approx(want["engagement"])
    assert row["data"] == "10 minutes not read left out"
    metrics = metric_texts(at)
    assert (metrics["Main emotion"], metrics["Engagement"], metrics["Minutes charted"]) == (
        "happy · 100% of the faces read", "0.60", "10")
    drawn = charts(at)["Engagement index"]
    assert len(drawn) == 10 and drawn["engagement"].tolist() == pytest.approx([0.6] * 10)


def test_the_address_follows_every_click(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, database.url).run()
    assert at.query_params == {"classroom": "7A", "view": "live", "minutes": "60"}
    at.radio(key="mode").set_value("Lessons").run()
    at.date_input(key="week").set_value(date(2025, 3, 5)).run()  # any day of the week
    assert_no_error(at)
    assert at.query_params == {"classroom": "7A", "view": "lessons", "week": "2025-03-03"}
    assert table(at)["title"].tolist() == ["Maths", BOLD, IMAGE, "Tutor group"]
    bold = seeded.ids[(MONDAY, BOLD)]
    at.selectbox(key="lesson").set_value(bold).run()
    assert at.query_params["lesson"] == str(bold)
    at.button(key="week_next").click().run()
    assert_no_error(at)
    assert at.query_params == {"classroom": "7A", "view": "lessons", "week": "2025-03-10"}
    assert at.selectbox(key="lesson").value is None
    at.button(key="week_back").click().run()
    at.button(key="week_back").click().run()
    assert at.query_params["week"] == "2025-02-24"
    assert any(i.startswith("**No lessons in the week of 24 Feb 2025.**")
               for i in texts(at)["info"])
    at.radio(key="mode").set_value("Date range").run()
    first, last = at.date_input(key="days").value  # the last seven days, to the minute
    assert at.query_params == {"classroom": "7A", "view": "range",
                               "from": f"{first.isoformat()}T00:00",
                               "to": f"{last.isoformat()}T23:59"}


def test_titles_from_files_are_plain_text(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    for title in (BOLD, IMAGE):
        at = open_link(monkeypatch, database.url, view="lessons",
                       lesson=str(seeded.ids[(MONDAY, title)]))
        assert_no_error(at)
        shown = texts(at)
        assert shown["text"] == [title]  # st.text: no Markdown
        assert title in table(at)["title"].tolist()  # a table cell: no Markdown
        option = at.selectbox(key="lesson")
        assert option.format_func(option.value).endswith(f"· {title}")  # a select option
        markdown = [t for kind in ("markdown", "caption", "info", "warning", "subheader", "title")
                    for t in shown[kind]]
        assert not any("x](" in t or "**x" in t for t in markdown), markdown


def test_small_groups_stay_hidden_by_the_databases_rule(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    tutor = seeded.ids[(MONDAY + timedelta(days=1), "Tutor group")]
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(tutor))
    assert_no_error(at)
    row = table(at).set_index("title").loc["Tutor group"]
    assert (row["minutes"], row["hidden_minutes"], row["data"]) == (0, 10, "all minutes hidden")
    assert any(i.startswith("**Every minute of this lesson had too few faces read**")
               for i in texts(at)["info"])
    assert not at.metric and "Engagement index" not in charts(at)
    # the same lesson when the database's rule is lowered to two faces (classpulse db upgrade)
    at = open_link(monkeypatch, database.url, min_faces=2, view="lessons", lesson=str(tutor))
    row = table(at).set_index("title").loc["Tutor group"]
    assert (row["minutes"], row["hidden_minutes"]) == (10, 0)
    assert metric_texts(at)["Minutes charted"] == "10"


def test_a_lessons_minute_changed_after_it_closed_is_not_called_too_few_faces(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late flush adds a child to the tutor group's 08:05 after that minute closed: it is hidden
    for that (migration 0017), whatever the rule. At 3 every minute is hidden, nine for too few
    faces read and that one for the change, and the lesson said all ten had too few faces read;
    at 2 the nine are charted, and the change is the one hidden minute."""
    tutor = seeded.ids[(MONDAY + timedelta(days=1), "Tutor group")]
    expected.write(database.engine, [expected.row(
        "7A-cam1", "7A", local(MONDAY + timedelta(days=1), 8, 5), 1, 1, top="sad")])
    changed = ("1 minute was changed after it closed (a consumer's write came late, e.g. retried "
               "after a database outage) and "
               "is hidden, so that two readings of it cannot be compared")
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(tutor))
    assert_no_error(at)
    assert texts(at)["info"][0] == (
        "**Every minute of this lesson is hidden** (10 minutes), so nothing is shown: 9 minutes "
        f"had fewer than 3 faces read, and no chart may describe a single child; {changed}.")
    at = open_link(monkeypatch, database.url, min_faces=2, view="lessons", lesson=str(tutor))
    assert_no_error(at)
    assert len(charts(at)["Engagement index"]) == 9
    assert f"{changed}." in texts(at)["caption"]
    assert not any("faces read are hidden" in c for c in texts(at)["caption"])


def test_links_that_name_nothing_are_reported_as_plain_text(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_link(monkeypatch, database.url, classroom="**nowhere**", view="lessons",
                   lesson="999", week="soon")
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**This link could not be followed in full**")
    problems = texts(at)["text"]
    assert problems == ["classroom='**nowhere**' is not a classroom of this dashboard",
                        "week='soon' is not a date YYYY-MM-DD",
                        "lesson='999' was not found; a later timetable import may have removed it"]
    assert at.radio(key="mode").value == "Lessons"
    at = open_link(monkeypatch, database.url, view="sideways")
    assert texts(at)["text"] == ["view='sideways' is not one of live, range, lessons"]


def test_a_link_whose_lesson_id_now_names_another_lesson_opens_none(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite gives a new lesson the largest id plus one: 7A's bookmarked lesson, removed by an
    import, left its id to 7C's next lesson, and the bookmark opened 7C's lesson with no word.
    The link names its classroom and week too; a lesson elsewhere is reported, not opened."""
    first, _ = two_groups_at_once(database)  # 7C, Monday 3 March
    at = open_link(monkeypatch, database.url, classroom="7A", view="lessons", week="2025-03-03",
                   lesson=str(first))
    assert_no_error(at)
    assert texts(at)["title"] == ["Class 7A"]
    assert texts(at)["text"] == [
        f"lesson='{first}' is now a lesson of classroom '7C', not the one this link was made "
        "for; a later timetable import may have removed that one"]
    assert at.selectbox(key="lesson").value is None
    maths = seeded.ids[(NEXT_MONDAY, "Maths")]
    at = open_link(monkeypatch, database.url, classroom="7A", view="lessons", week="2025-03-03",
                   lesson=str(maths))
    assert texts(at)["text"] == [
        f"lesson='{maths}' is now a lesson of the week of 2025-03-10, not the one this link was "
        "made for; a later timetable import may have removed that one"]
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(first))  # no claims
    assert texts(at)["title"] == ["7C"] and at.selectbox(key="lesson").value == first
    at = open_link(monkeypatch, database.url, classroom="nowhere", view="lessons",
                   lesson=str(first))  # a classroom that does not exist is said, and no more
    assert texts(at)["text"] == ["classroom='nowhere' is not a classroom of this dashboard",
                                 "Maths", "subject: Mathematics"]  # the problem, the lesson
    assert texts(at)["title"] == ["7C"] and at.selectbox(key="lesson").value == first


NOT_A_NUMBER = "is not a lesson number (a whole number from 1 to 2147483647)"
OUTSIDE = "is outside the weeks the lessons view shows (2000 to 2099)"
FAR = "the id of a lesson that a timetable placed on 9999-12-31 at 23:00 UTC"


@pytest.mark.parametrize(("params", "problem"), [
    ({"lesson": "²"}, f"lesson='²' {NOT_A_NUMBER}"),  # a digit to str.isdigit(), not to int()
    ({"lesson": "9" * 5000}, f"lesson={'9' * 40!r}… (5000 characters) {NOT_A_NUMBER}"),
    ({"lesson": "99999999999999999999"}, f"lesson='99999999999999999999' {NOT_A_NUMBER}"),
    ({"lesson": "2147483648"}, f"lesson='2147483648' {NOT_A_NUMBER}"),
    ({"lesson": "-3"}, f"lesson='-3' {NOT_A_NUMBER}"),
    ({"lesson": FAR}, f"lesson={{far!r}} {OUTSIDE}"),
    ({"view": "lessons", "week": "9999-12-31"}, f"week='9999-12-31' {OUTSIDE}"),
    ({"view": "lessons", "week": "0001-01-01"}, f"week='0001-01-01' {OUTSIDE}"),
    ({"view": "lessons", "week": "２０２５-03-03"},
     "week='２０２５-03-03' is not a date YYYY-MM-DD"),
], ids=["superscript", "5000-digits", "20-digits", "past-integer", "negative", "lesson-in-9999",
        "week-9999", "week-0001", "fullwidth-digits"])
def test_crafted_links_are_reported_as_plain_text_never_raised(
    database: Database, monkeypatch: pytest.MonkeyPatch, params: dict[str, str], problem: str
) -> None:
    """Values that a looser reading let through and that then raised: int("²"), 5,000 digits
    (Python's int conversion limit), 20 digits (SQLite's binding), weeks in years 9999 and 1 and
    a lesson on 9999-12-31 (the week's dates overflow, in Berlin east of UTC)."""
    expected.write(database.engine, [expected.row("7A-cam1", "7A", local(MONDAY, 8, 0), 60, 5)],
                   {"7A": ("Class 7A", "Europe/Berlin")})
    far = add_lesson(database, "7A", datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
                     datetime(9999, 12, 31, 23, 45, tzinfo=UTC), "Far future")
    if params.get("lesson") == FAR:
        params = {"lesson": str(far)}
        problem = problem.format(far=str(far))
    at = open_link(monkeypatch, database.url, classroom="7A", **params)
    assert_no_error(at)
    (warning,) = texts(at)["warning"]
    assert warning.startswith("**This link could not be followed in full**")
    assert texts(at)["text"] == [problem]
    assert at.radio(key="mode").value == ("Lessons" if "view" in params else "Live")


def test_an_opened_lesson_agrees_with_its_row(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maths: ten well-read minutes, then thirty hidden ones in which a camera saw fourteen faces
    per frame and read two. Its row names a main emotion, so the opened lesson shows its metrics
    and charts, and says only that most of the lesson's faces were not read.
    Art: five well-read minutes and ten shown ones mostly unread: its row says most faces were
    not read and names no main emotion, so the opened lesson has no metrics; it charts its five
    read minutes, as the range view does, saying the charts rest on those only (it drew nothing
    while its row said "5 minutes charted"). The day's row over the same minutes names no main
    emotion either (it said "happy 100%")."""
    start = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)
    at_minute = [start + timedelta(minutes=i) for i in range(80)]
    rows = [expected.row("cctv", "mixed", at_minute[i], 60, 5) for i in range(10)]
    rows += [expected.row("cctv", "mixed", at_minute[i], 60, 2, unread=(12, 0, 0))
             for i in range(10, 40)]
    rows += [expected.row("cctv", "mixed", at_minute[i], 60, 5) for i in range(60, 65)]
    rows += [expected.row("cctv", "mixed", at_minute[i], 60, 4, unread=(10, 0, 0))
             for i in range(65, 75)]
    expected.write(database.engine, rows)
    maths = add_lesson(database, "mixed", at_minute[0], at_minute[40], "Maths")
    art = add_lesson(database, "mixed", at_minute[60], at_minute[75], "Art")

    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(maths))
    assert_no_error(at)
    row = table(at).set_index("title").loc["Maths"]
    assert (row["main_emotion"], row["main_share"], row["data"]) == ("neutral", "100%", "")
    assert metric_texts(at) == {
        "Main emotion": "neutral · 100% of the faces read", "Engagement": f"{0.8 * 0.9:.2f}",
        "Faces in view": "5.0", "Minutes charted": "10"}
    (faces,) = [m for m in at.metric if m.label == "Faces in view"]
    assert faces.help.startswith(
        "faces per frame, added up over the classroom's cameras whose minute is shown (enough "
        "faces read at once, and not changed after it closed; the others are left out): a pupil "
        "two of them see counts twice; the mean over the minutes charted")
    assert len(charts(at)["Engagement index"]) == 10
    shown = texts(at)
    said = [t for kind in ("warning", "info", "caption") for t in shown[kind]]
    assert not any("no mix of expressions is drawn" in t for t in said), said
    assert any(w.startswith("**Most faces in this lesson could not be read**") and
               "the charts show only the 10 minutes whose faces were mostly read" in w
               for w in shown["warning"])

    # the day's row over Maths' minutes says what its row says (judged on the faces of the
    # hidden minutes too, it named no main emotion where the lesson's named neutral)
    at = open_link(monkeypatch, database.url, classroom="mixed", view="range",
                   **{"from": "2025-03-03T07:00", "to": "2025-03-03T07:39"})
    (day,) = table(at).to_dict("records")
    assert (day["minutes"], day["hidden_minutes"], day["main_emotion"]) == (10, 30, "neutral")
    assert day["engagement"] == pytest.approx(0.8 * 0.9)

    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(art))
    assert_no_error(at)
    row = table(at).set_index("title").loc["Art"]
    assert row["data"] == "most faces not read" and pd.isna(row["main_emotion"])
    assert row["minutes"] == 5
    assert not at.metric
    drawn = charts(at)
    assert len(drawn["Engagement index"]) == 5
    assert drawn["Emotion mix (share of faces read)"]["share"].sum() == pytest.approx(5)
    # 5 minutes of 300 faces read, 10 of 240 read among 840: 3900 of 9900
    (warning,) = texts(at)["warning"]
    assert warning.startswith(f"**Most faces in this lesson could not be read** "
                              f"({3900 / 9900:.0%} of the faces seen were read), so the charts "
                              "show only the 5 minutes whose faces were mostly read")

    at = open_link(monkeypatch, database.url, classroom="mixed", view="range",
                   **{"from": "2025-03-03T08:00", "to": "2025-03-03T08:14"})
    assert_no_error(at)
    (day,) = table(at).to_dict("records")
    assert (day["minutes"], day["unread_minutes"]) == (5, 10)
    assert pd.isna(day["main_emotion"]) and pd.isna(day["engagement"])


def test_a_lesson_ending_on_another_day_names_that_day(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    night = add_lesson(database, "7A", local(MONDAY, 22, 0),
                       local(MONDAY + timedelta(days=1), 1, 0), "Stargazing")
    add_lesson(database, "7A", local(MONDAY, 8, 0), local(MONDAY + timedelta(days=2), 15, 0),
               "School trip")
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(night))
    assert_no_error(at)
    times = table(at).set_index("title")["time"]
    assert times["Stargazing"] == "22:00–Tue 04 Mar 01:00"
    assert times["School trip"] == "08:00–Wed 05 Mar 15:00"
    assert times["Maths"] == "08:00–08:45"
    assert texts(at)["subheader"] == ["Mon 03 Mar 2025, 22:00–Tue 04 Mar 2025, 01:00"]
    option = at.selectbox(key="lesson")
    assert option.format_func(night) == "Mon 03 Mar 22:00–Tue 04 Mar 01:00 · Stargazing"


def test_a_lesson_under_way_warns_when_no_new_data_comes(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lesson under way (until tomorrow) whose consumer stopped 20 minutes ago: the lessons
    view warns as the live view does, and the lesson names the day it ends."""
    now = datetime.now(UTC)
    then = (now - timedelta(minutes=20)).replace(second=0, microsecond=0)
    rows = [expected.row("cam", "late", then - timedelta(minutes=i), 60, 5) for i in range(10)]
    expected.write(database.engine, rows)
    expected.set_written_at(database.engine, then)
    end = now + timedelta(days=1)
    lesson = add_lesson(database, "late", now - timedelta(minutes=30), end, "Physics")
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(lesson))
    assert_no_error(at)
    shown = texts(at)
    assert any(w.startswith("**No new data for 20 minutes**") and "classpulse consume" in w
               for w in shown["warning"]), shown["warning"]
    assert any(c.startswith(f"Under way until {end:%a %d %b %H:%M}") for c in shown["caption"])


def test_a_lesson_that_just_ended_says_its_last_minutes_are_to_come(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lesson's last minute closes MINUTE_CLOSES_AFTER after its end: until then its row and
    charts lack its last minutes, and the opened lesson says so, not a word of it once closed."""
    now = datetime.now(UTC)
    end = now.replace(second=0, microsecond=0)  # ended under a minute ago
    rows = [expected.row("cam", "late", end - timedelta(minutes=i), 60, 5) for i in range(3, 40)]
    expected.write(database.engine, rows)
    physics = add_lesson(database, "late", end - timedelta(minutes=30), end, "Physics")
    chemistry = add_lesson(database, "late", end - timedelta(minutes=35 + 30),
                           end - timedelta(minutes=35), "Chemistry")
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(physics))
    assert_no_error(at)
    closes = end + MINUTE_CLOSES_AFTER  # the classroom's zone is UTC
    assert (f"Ended at {end:%H:%M}: its last minutes join the row and the charts as they close, "
            f"the last at {closes:%H:%M:%S}; until then a consumer can still add frames it read "
            "late to them.") in texts(at)["caption"]
    assert datetime.now(UTC) < closes  # the page ran before it closed
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(chemistry))
    assert_no_error(at)
    assert not any(c.startswith(("Ended at", "Under way")) for c in texts(at)["caption"])


def test_a_lesson_with_too_few_minutes_is_left_out_of_its_trend(
    database: Database, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tuesday's Maths after the two Mondays' has one shown minute, the cameras running throughout
    (its other 44 minutes hidden, two faces read): one minute says nothing of a lesson, so it is
    neither plotted nor compared, and the page says so."""
    tuesday = NEXT_MONDAY + timedelta(days=1)
    expected.write(database.engine, [
        expected.row("7A-cam1", "7A", local(tuesday, 8, m), 60, 5 if m == 0 else 2)
        for m in range(45)])
    short = add_lesson(database, "7A", local(tuesday, 8, 0), local(tuesday, 8, 45), "Maths")
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(short))
    assert_no_error(at)
    trend = charts(at)["Engagement in lessons with this title"]
    mondays = [expected.lesson(seeded.rows, "7A", local(d, 8, 0), local(d, 8, 45))
               for d in (MONDAY, NEXT_MONDAY)]
    assert trend["engagement"].tolist() == pytest.approx([m["engagement"] for m in mondays])
    assert trend["current"].tolist() == [False, False]
    captions = texts(at)["caption"]
    assert not any(c.startswith("Engagement ") and "previous lesson" in c for c in captions)
    assert f"{LEFT_OUT}this lesson (1 minute charted)." in captions
    assert not any(c.startswith("This lesson is") for c in captions)  # the whole lesson recorded


def two_groups_at_once(database: Database) -> tuple[int, int]:
    """Monday 08:00-08:45, two lessons titled Maths in one classroom: the first with a subject and
    no group, the second with a group and no subject; their ids."""
    expected.write(database.engine, [expected.row("cam", "7C", local(MONDAY, 8, 0), 60, 5)],
                   {"7C": ("7C", BERLIN.key)})
    start, end = local(MONDAY, 8, 0), local(MONDAY, 8, 45)
    return (add_lesson(database, "7C", start, end, "Maths", subject="Mathematics"),
            add_lesson(database, "7C", start, end, "Maths", group_label="Set 2"))


def test_lessons_alike_in_the_list_open_each_its_own(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamlit maps a select's label to the last option showing it: two lessons listed by the
    same day, time and title both opened the second."""
    first, second = two_groups_at_once(database)
    at = open_link(monkeypatch, database.url, classroom="7C", view="lessons", week="2025-03-03")
    assert_no_error(at)
    assert at.selectbox(key="lesson").options == [
        f"Mon 03 Mar 08:00–08:45 · Maths (lesson {first})",
        f"Mon 03 Mar 08:00–08:45 · Maths (lesson {second})"]
    at.selectbox(key="lesson").set_value(first).run()
    assert at.selectbox(key="lesson").value == first
    assert at.query_params["lesson"] == str(first)
    at.selectbox(key="lesson").set_value(second).run()
    assert at.selectbox(key="lesson").value == second


def test_a_lesson_without_a_subject_or_group_shows_none(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Of a week whose lessons have a subject or a group only some of the time, the missing ones
    came back from pandas 3 as NaN and showed as "group: nan"."""
    first, second = two_groups_at_once(database)
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(first))
    assert_no_error(at)
    assert texts(at)["text"] == ["Maths", "subject: Mathematics"]
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(second))
    assert texts(at)["text"] == ["Maths", "group: Set 2"]


def _pe_history(ends_after: list[int]) -> pd.DataFrame:
    """PE on 3 March and twice on 10 March at 08:00 (lesson ids 1-3), ending after these
    minutes, with engagement 0.5, 0.6 and 0.8."""
    starts = pd.to_datetime(["2025-03-03 08:00", "2025-03-10 08:00", "2025-03-10 08:00"],
                            utc=True)
    return pd.DataFrame({
        "lesson_id": [1, 2, 3], "title": ["PE"] * 3, "starts_at": starts,
        "ends_at": starts + pd.to_timedelta(ends_after, unit="min"), "minutes": ends_after,
        "hidden_minutes": [0] * 3, "unread_minutes": [0] * 3, "faces": [400] * 3,
        "faces_read": [400] * 3,
        "engagement": [0.5, 0.6, 0.8], "cameras": [("cam",)] * 3, "cameras_part": [()] * 3,
        "shared_minutes": [0] * 3,
    })


def test_a_parallel_lesson_is_not_the_lesson_before() -> None:
    """Two PE lessons of one group starting at the same hour (one 40 minutes long, one 45), both
    in the trend: opening the later id compared it with the other, held at the same time,
    instead of last week's."""
    from dashboard import lesson_frames

    history = _pe_history([40, 40, 45])
    for current, change in ((3, 0.3), (2, 0.1)):  # either: against 3 March's, not the other
        trend = lesson_frames.title_trend(history, current, BERLIN, LATER)
        assert len(trend) == 3
        found = lesson_frames.change_from_previous(trend)
        assert found is not None
        assert found[0] == pytest.approx(change) and found[1].day == 3
    # a first lesson held in parallel has no lesson before
    assert lesson_frames.change_from_previous(
        lesson_frames.title_trend(history.iloc[1:], 3, BERLIN, LATER)) is None


def test_a_lesson_stored_twice_is_one_point_of_its_trend() -> None:
    """The same lesson imported from two timetable files (title, group and times alike) was two
    points of its title's trend at one time, and listed twice among those left out. The open
    one is kept, whichever it is."""
    from dashboard import lesson_frames

    history = _pe_history([40, 40, 40])
    for current, kept in ((3, [1, 3]), (2, [1, 2])):
        trend = lesson_frames.title_trend(lesson_frames.last_distinct(history, current, 12),
                                          current, BERLIN, LATER)
        assert trend["engagement"].tolist() == history.set_index("lesson_id").loc[
            kept, "engagement"].tolist()
        assert trend["current"].tolist() == [False, True]
    history["minutes"] = 5  # too few charted minutes: every lesson left out, each time once
    left, _ = lesson_frames.left_out(lesson_frames.last_distinct(history, 3, 12), 3, BERLIN,
                                     LATER)
    assert left["current"].tolist() == [False, True]
    assert left["time"].dt.day.tolist() == [3, 10]


def test_a_trend_of_lessons_stored_twice_still_holds_its_number_of_lessons() -> None:
    """Fetched TREND_LESSONS rows at a time, a timetable imported from two files gave the trend
    half its lessons."""
    from dashboard import lesson_frames

    starts = pd.to_datetime([f"2025-01-{d:02d} 08:00" for d in range(1, 15)], utc=True)
    history = pd.DataFrame({"lesson_id": range(1, 29), "starts_at": starts.repeat(2),
                            "ends_at": starts.repeat(2) + pd.Timedelta(minutes=45)})
    kept = lesson_frames.last_distinct(history, 28, 12)
    assert kept["starts_at"].dt.day.tolist() == list(range(3, 15))
    assert kept["lesson_id"].iloc[-1] == 28  # the open lesson, not its twin


def test_a_groups_trend_holds_its_own_lessons_only(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PE for 7B-girls on three Mondays at 08:00, for 7B-boys on the third at 09:00 and for the
    whole class on the second at 10:00: a group with no earlier lesson of its own was compared
    with the other group's (another class's lesson), and the trend drew both groups on one line.
    The boys' first lesson, after two of the girls', is compared with nothing."""
    starts = [datetime(2025, 3, d, 8, 0, tzinfo=UTC) for d in (3, 10, 17)]
    boys_start = starts[2] + timedelta(hours=1)
    whole_start = starts[1] + timedelta(hours=2)
    expected.write(database.engine, [r for s in (*starts, boys_start, whole_start)
                                     for r in minutes_of("7G", s, 45)])
    girls = [add_lesson(database, "7G", s, s + timedelta(minutes=45), "PE",
                        group_label="7B-girls") for s in starts]
    boys = add_lesson(database, "7G", boys_start, boys_start + timedelta(minutes=45), "PE",
                      group_label="7B-boys")
    whole = add_lesson(database, "7G", whole_start, whole_start + timedelta(minutes=45), "PE")
    from dashboard import lesson_sql

    history = [lesson_sql.fetch_title_history(database.engine, "7G", "PE", group, boys_start, 12)
               ["lesson_id"].tolist() for group in ("7B-girls", "7B-boys", None)]
    assert history == [girls, [boys], [whole]]

    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(boys))
    assert_no_error(at)
    assert not any(c.startswith("Engagement ") and "previous lesson" in c
                   for c in texts(at)["caption"])
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(girls[2]))
    trend = charts(at)["Engagement in lessons with this title"]
    assert trend["current"].tolist() == [False, False, True]  # the girls' three, no other


def test_a_lesson_sharing_its_room_says_so_and_is_compared_with_none(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PE for 7B-girls on three Mondays at 08:00-08:45; on the third, PE for 7B-boys in the same
    room at 08:00-08:45 and a club from 08:36 to 09:00. A class minute is everyone the cameras
    saw: the third lesson's numbers were both groups', and it was compared with the girls'
    lessons as theirs ("0.20 lower"). Now its row says so, the page names the other lessons, and
    the trend leaves it out; the club's 9 minutes inside the second lesson (20%) keep that one
    in, 10 minutes (the boys' lesson inside the club's 24) put the club out."""
    starts = [datetime(2025, 3, d, 8, 0, tzinfo=UTC) for d in (3, 10, 17)]
    rows = [r for s in starts[:2] for r in minutes_of("7G", s, 45, top="happy")]
    rows += minutes_of("7G", starts[2], 60, top="sad")
    expected.write(database.engine, rows)
    girls = [add_lesson(database, "7G", s, s + timedelta(minutes=45), "PE",
                        group_label="7B-girls") for s in starts]
    boys = add_lesson(database, "7G", starts[2], starts[2] + timedelta(minutes=45), "PE",
                      group_label="7B-boys")
    club_start = starts[1] + timedelta(minutes=36)
    club = add_lesson(database, "7G", club_start, club_start + timedelta(minutes=24), "Chess club")
    from dashboard import lesson_sql

    week = lesson_sql.fetch_week(database.engine, "7G", starts[1] - timedelta(days=1),
                                 starts[2] + timedelta(days=1))
    shared = dict(zip(week["lesson_id"], week["shared_minutes"], strict=True))
    assert shared == {girls[1]: 9, club: 9, girls[2]: 45, boys: 45}
    with_ = dict(zip(week["lesson_id"], week["shared_with"], strict=True))
    assert [(t, g) for t, g, _, _ in with_[girls[2]]] == [("PE", "7B-boys")]

    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(girls[2]))
    assert_no_error(at)
    notes = at.dataframe[0].value["data"].tolist()
    assert notes == ["room shared with another lesson: 45 of 45 min"] * 2
    captions = texts(at)["caption"]
    assert ("Another lesson was held in this room during 45 of this lesson's 45 minutes (PE "
            "(group 7B-boys), Mon 17 Mar 08:00–08:45): the numbers of those minutes are of "
            "everyone the cameras saw, both lessons' pupils together, not of this lesson's "
            "alone. A lesson that shared its room for more than 20% of its minutes is compared "
            "with no other.") in captions
    trend = charts(at)["Engagement in lessons with this title"]
    assert trend["current"].tolist() == [False, False]  # the first two, not this one
    assert not any(c.startswith("Engagement ") and "previous lesson" in c for c in captions)
    assert any(c.startswith(LEFT_OUT) and c.endswith(
        "this lesson (room shared with another lesson: 45 of 45 min).") for c in captions)

    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(girls[1]))
    assert_no_error(at)
    captions = texts(at)["caption"]
    assert any(c.startswith("Another lesson was held in this room during 9 of this lesson's 45 "
                            "minutes (Chess club, Mon 10 Mar 08:36–09:00)") and c.endswith(
                                "not of this lesson's alone.") for c in captions)
    assert charts(at)["Engagement in lessons with this title"]["current"].tolist() == [
        False, True]


def test_a_lessons_shared_minutes_count_each_minute_once() -> None:
    """The minutes of a lesson that start inside another lesson of its classroom: two others
    overlapping each other inside it count their union once; bounds off the minute count the
    minutes that start inside (08:00:30-08:45 holds 44); a lesson ending as another starts shares
    nothing; the same lesson stored twice shares nothing with itself."""
    from dashboard import lesson_frames

    def lesson(i: int, start: str, end: str) -> dict:
        return {"lesson_id": i, "title": f"L{i}", "group_label": None if i % 2 else "B",
                "starts_at": pd.Timestamp(f"2025-03-03 {start}", tz="UTC"),
                "ends_at": pd.Timestamp(f"2025-03-03 {end}", tz="UTC")}

    lessons = pd.DataFrame([lesson(1, "08:00:30", "08:45"), lesson(2, "08:45", "09:30")])
    others = pd.DataFrame([lesson(3, "08:10", "08:30"), lesson(4, "08:20:10", "08:40"),
                           lesson(5, "07:00", "08:00:40")])
    got = lesson_frames.shared_room(lessons, others)
    # lesson 1's minutes 08:01-08:44; 5 holds none of them (08:00 starts before 08:00:30),
    # 3 and 4 hold 08:10-08:39: 30 minutes
    assert got["shared_minutes"].tolist() == [30, 0]
    assert [[(t, g) for t, g, _, _ in w] for w in got["shared_with"]] == [
        [("L3", None), ("L4", "B")], []]
    assert lesson_frames.shared_room(lessons, others.iloc[:0])["shared_minutes"].tolist() == [0, 0]
    # the same lesson stored twice (title, group, times) is that lesson, not a shared room
    twin = pd.DataFrame([lesson(1, "08:00:30", "08:45") | {"lesson_id": 7}])
    assert lesson_frames.shared_room(lessons, twin)["shared_minutes"].tolist() == [0, 0]
    other_group = pd.DataFrame([lesson(1, "08:00:30", "08:45") | {"lesson_id": 7,
                                                                   "group_label": "B"}])
    # a CSV file's copy names a group, an .ics file's none: still the lesson twice, either way
    assert lesson_frames.shared_room(lessons, other_group)["shared_minutes"].tolist() == [0, 0]
    grouped = lessons.assign(group_label=["A", "B"])
    assert lesson_frames.shared_room(grouped, twin)["shared_minutes"].tolist() == [0, 0]
    assert lesson_frames.shared_room(grouped, other_group)["shared_minutes"].tolist() == [44, 0]


def test_a_lessons_cameras_are_those_shown_for_most_of_it() -> None:
    """MIN_RECORDED_PERCENT of the lesson's minutes shown: 36 of 45 minutes makes the camera one of
    the lesson's, 35 a camera on for part of it, as is one of 10 minutes; one of 9 (the rest,
    20%) is off; minutes outside the lesson, and of the lesson beside it, do not count."""
    from dashboard import lesson_frames

    starts = pd.to_datetime(["2025-03-03 08:00", "2025-03-03 09:00"], utc=True)
    lessons = pd.DataFrame({"starts_at": starts, "ends_at": starts + pd.Timedelta(minutes=45)})
    first, second = starts[0].timestamp(), starts[1].timestamp()
    cameras = {"front": [first + 60 * m for m in range(36)],
               "back": [first + 60 * m for m in range(-5, 35)]
               + [second + 60 * m for m in range(45)],
               "door": [first + 60 * m for m in range(10)] + [second + 60 * m for m in range(9)]}
    shown = pd.DataFrame([(c, m) for c, minutes in cameras.items() for m in minutes],
                         columns=["camera_id", "minute_start"])
    got = lesson_frames.lesson_cameras(lessons, shown)
    assert got["cameras"].tolist() == [("front",), ("back",)]
    assert got["cameras_part"].tolist() == [(("back", 35), ("door", 10)), ()]
    assert lesson_frames.in_trend(pd.DataFrame({
        "starts_at": starts, "ends_at": starts + pd.Timedelta(minutes=45), "minutes": [45, 45],
        "hidden_minutes": [0, 0], "unread_minutes": [0, 0], "faces": [900, 900],
        "faces_read": [900, 900], "shared_minutes": [0, 0]}).join(got),
        datetime(2025, 3, 4, tzinfo=UTC)).tolist() == [False, True]


def test_the_trend_of_a_lesson_under_way_holds_the_cameras_most_lessons_share() -> None:
    """Three lessons seen by both cameras, then one by the front camera alone, and one under way:
    the trend took the newest lesson's cameras, drew it alone, and said that the trend needs two
    lessons, listing the three as recorded by other cameras."""
    from dashboard import lesson_frames

    starts = pd.to_datetime([f"2025-03-{d:02d} 08:00" for d in (3, 10, 17, 24, 31)], utc=True)
    both = ("back", "front")
    history = pd.DataFrame({
        "lesson_id": [1, 2, 3, 4, 5], "starts_at": starts,
        "ends_at": starts + pd.Timedelta(minutes=45), "minutes": [45, 45, 45, 45, 10],
        "hidden_minutes": [0] * 5, "unread_minutes": [0] * 5, "faces": [900] * 5,
        "faces_read": [900] * 5, "engagement": [0.5, 0.6, 0.7, 0.2, 0.4],
        "cameras": [both, both, both, ("front",), ()], "cameras_part": [()] * 5,
        "shared_minutes": [0] * 5,
    })
    now = datetime(2025, 3, 31, 8, 20, tzinfo=UTC)  # the fifth under way
    trend = lesson_frames.title_trend(history, 5, BERLIN, now)
    assert trend["engagement"].tolist() == [0.5, 0.6, 0.7]
    left, cameras = lesson_frames.left_out(history, 5, BERLIN, now)
    assert cameras == both
    assert left["why"].tolist() == [lesson_frames.text.OTHER_CAMERAS,
                                    "under way: 10 of 45 min so far"]


def test_a_lesson_seen_by_other_cameras_is_not_compared(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two cameras on the class, the back one off for the 10th's lesson: its engagement is the
    front rows', and was set beside the 3rd's whole class as if the class had changed."""
    starts = [datetime(2025, 3, d, 8, 0, tzinfo=UTC) for d in (3, 10, 17)]
    rows = [*minutes_of("7K", starts[0], 45, top="neutral"),
            *minutes_of("7K", starts[0], 45, top="happy", camera="7K-back"),
            *minutes_of("7K", starts[1], 45, top="happy"),
            *minutes_of("7K", starts[2], 45, top="sad"),
            *minutes_of("7K", starts[2], 45, top="happy", camera="7K-back")]
    expected.write(database.engine, rows)
    ids = [add_lesson(database, "7K", s, s + timedelta(minutes=45), "Music") for s in starts]
    want = [expected.lesson(rows, "7K", s, s + timedelta(minutes=45))["engagement"]
            for s in starts]

    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(ids[1]))
    assert_no_error(at)
    captions = texts(at)["caption"]
    assert not any(c.startswith("Engagement ") and "previous lesson" in c for c in captions)
    assert (f"{LEFT_OUT}Mon 03 Mar (recorded by other cameras). The trend compares lessons "
            "recorded by the same cameras (7K-cam) for at least 80% of their minutes: other "
            "cameras see other pupils.") in captions

    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(ids[2]))
    trend = charts(at)["Engagement in lessons with this title"]
    assert trend["engagement"].tolist() == pytest.approx([want[0], want[2]])
    compared = [c for c in texts(at)["caption"]
                if c.startswith("Engagement ") and "previous lesson" in c]
    assert len(compared) == 1 and "(Mon 03 Mar)" in compared[0]


def test_a_camera_whose_minutes_were_revised_did_not_record_the_lesson(
    database: Database
) -> None:
    """The front camera's consumer wrote late (its clock behind the database's) for 40 of the
    45 minutes of the 17th's Music: those minutes were marked revised, out of the class minutes,
    so the lesson's numbers are the back camera's. It counted as recorded by both cameras, and
    its trend compared the back rows with the whole class."""
    from sqlalchemy import text as sql

    from dashboard import lesson_sql

    starts = [datetime(2025, 3, d, 8, 0, tzinfo=UTC) for d in (3, 10, 17)]
    rows = [row for s in starts for camera in ("7R-front", "7R-back")
            for row in minutes_of("7R", s, 45, camera=camera)]
    expected.write(database.engine, rows)
    for s in starts:
        add_lesson(database, "7R", s, s + timedelta(minutes=45), "Music")
    with database.engine.begin() as conn:
        conn.execute(sql("UPDATE emotion_minutes SET revised = :yes WHERE camera_id = '7R-front' "
                         "AND minute_start >= :start AND minute_start < :end"),
                     {"yes": True, "start": starts[2], "end": starts[2] + timedelta(minutes=40)})
    history = lesson_sql.fetch_title_history(database.engine, "7R", "Music", None,
                                             starts[2], 12)
    assert [tuple(c) for c in history["cameras"]] == [("7R-back", "7R-front")] * 2 + [
        ("7R-back",)]
    assert [tuple(p) for p in history["cameras_part"]] == [(), (), ()]


def minutes_of(classroom: str, start: datetime, shown: int, hidden: int = 0,
               top: str = "neutral", camera: str | None = None) -> list[MinuteRow]:
    """One camera's minutes (``<classroom>-cam`` unless named) from ``start``: ``shown`` with five
    faces read per frame, then ``hidden`` with two (hidden at 3)."""
    return [expected.row(camera or f"{classroom}-cam", classroom, start + timedelta(minutes=m), 60,
                         5 if m < shown else 2, top=top) for m in range(shown + hidden)]


def test_a_lesson_recorded_in_part_says_so_on_its_row(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maths under way (10 of its 45 minutes counted so far) and History, whose cameras stopped
    after 10 of 45 minutes (6 shown, 4 hidden), showed their main emotion, share and engagement
    with an empty note, as if they were whole lessons. Art, whose cameras lost 8 of its 45
    minutes, is whole enough (80%) to stand for the lesson: no note."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    maths_start, history_start, art_start = (now - timedelta(minutes=20),
                                             now - timedelta(hours=5), now - timedelta(hours=3))
    rows = [*minutes_of("7P", maths_start, 10, top="happy"),
            *minutes_of("7P", history_start, 6, 4, top="sad"),
            *minutes_of("7P", art_start, 30, 7)]
    expected.write(database.engine, rows)
    lessons = {title: add_lesson(database, "7P", start, start + timedelta(minutes=45), title)
               for title, start in (("Maths", maths_start), ("History", history_start),
                                    ("Art", art_start))}
    notes = {"Maths": "under way: 10 of 45 min so far",
             "History": "partly recorded: data for 10 of 45 min", "Art": ""}
    for title, start in (("Maths", maths_start), ("History", history_start),
                         ("Art", art_start)):
        at = open_link(monkeypatch, database.url, view="lessons", lesson=str(lessons[title]))
        assert_no_error(at)
        row = table(at).set_index("title").loc[title]
        want = expected.lesson(rows, "7P", start, start + timedelta(minutes=45))
        assert (row["minutes"], row["hidden_minutes"]) == (want["minutes"], want["hidden"])
        assert row["engagement"] == pytest.approx(want["engagement"])  # true of those minutes
        assert row["data"] == notes[title]
        captions = texts(at)["caption"]
        partly = [c for c in captions if c.startswith("Data for ")]
        if title == "History":
            assert partly == [
                "Data for 10 of this lesson's 45 minutes only: its numbers and charts describe "
                "those minutes, not the whole lesson (the cameras or a consumer were probably not "
                "running for the rest). A lesson with data for under 80% of its minutes is "
                "compared with no other."]
        else:
            assert not partly
    art = expected.lesson(rows, "7P", art_start, art_start + timedelta(minutes=45))
    assert (art["minutes"], art["hidden"]) == (30, 7)  # 37 of 45 minutes recorded: 82%


def test_a_lesson_recorded_in_part_is_never_compared(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """History on three Mondays: the 3rd and the 17th recorded whole, the 10th cut off after 10
    of 45 minutes, and one under way now. The 17th was compared with the 10th's ten minutes, the
    10th and the lesson under way with the lesson before as if they were whole lessons."""
    starts = [datetime(2025, 3, d, 8, 0, tzinfo=UTC) for d in (3, 10, 17)]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    under_way = now - timedelta(minutes=20)
    rows = [*minutes_of("7Q", starts[0], 45, top="neutral"),  # engagement 0.8 * 0.9
            *minutes_of("7Q", starts[1], 10, top="sad"),  # 0.8 * 0.3
            *minutes_of("7Q", starts[2], 45, top="happy"),  # 0.8 * 0.6
            *minutes_of("7Q", under_way, 12, top="happy")]
    expected.write(database.engine, rows)
    ids = [add_lesson(database, "7Q", s, s + timedelta(minutes=45), "History")
           for s in (*starts, under_way)]

    # the 17th: against the 3rd, the last whole lesson before it
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(ids[2]))
    assert_no_error(at)
    assert table(at).set_index("title").loc["History", "data"] == ""
    trend = charts(at)["Engagement in lessons with this title"]
    assert trend["engagement"].tolist() == pytest.approx([0.8 * 0.9, 0.8 * 0.6])
    assert trend["current"].tolist() == [False, True]
    captions = texts(at)["caption"]
    compared = [c for c in captions if c.startswith("Engagement ") and "previous lesson" in c]
    assert len(compared) == 1
    assert compared[0].startswith(
        f"Engagement {0.8 * 0.9 - 0.8 * 0.6:.2f} lower than in the previous lesson with this "
        "title in the trend (Mon 03 Mar)")
    assert f"{LEFT_OUT}Mon 10 Mar (partly recorded: data for 10 of 45 min)." in captions

    # the 10th: compared with nothing, and says why
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(ids[1]))
    assert_no_error(at)
    assert table(at).set_index("title").loc["History", "data"] == (
        "partly recorded: data for 10 of 45 min")
    shown = texts(at)
    assert not any(c.startswith("Engagement ") and "previous lesson" in c
                   for c in shown["caption"])
    assert ("This lesson is not compared with the previous lesson with this title: it has data "
            "for 10 of its 45 minutes, under the 80% a lesson needs to stand for the whole "
            "lesson.") in shown["caption"]
    assert any(i.startswith("The trend needs two ended lessons with this title and group, "
                            "recorded throughout by the same cameras, that each have at least "
                            "80% of their minutes and at least 10 minutes charted")
               and "only one has" in i
               for i in shown["info"])

    # under way: compared once it is whole
    at = open_link(monkeypatch, database.url, view="lessons", lesson=str(ids[3]))
    assert_no_error(at)
    assert table(at).set_index("title").loc["History", "data"] == "under way: 12 of 45 min so far"
    trend = charts(at)["Engagement in lessons with this title"]
    assert trend["engagement"].tolist() == pytest.approx([0.8 * 0.9, 0.8 * 0.6])
    assert trend["current"].tolist() == [False, False]
    captions = texts(at)["caption"]
    assert not any(c.startswith("Engagement ") and "previous lesson" in c for c in captions)
    assert ("This lesson can be compared with the previous lesson with this title once it has "
            "ended and its last minute has closed (12 of its 45 minutes have data so far): part "
            "of a lesson is not the lesson.") in captions


def test_how_much_of_a_lesson_makes_it_whole() -> None:
    """MIN_RECORDED_PERCENT of a lesson's minutes, charted, not read or hidden, once it has
    ended and its last minute has closed; the note says how much a lesson short of that rests on,
    and how many minutes its numbers leave out as not read. Its trend takes it only with
    MIN_RECORDED_PERCENT of its minutes charted: 20 charted minutes of 45, the rest hidden or not
    read, are a phase of the lesson."""
    from dashboard import lesson_frames, lesson_states

    starts = pd.to_datetime(["2025-03-03 08:00"] * 6, utc=True)
    lessons = pd.DataFrame({
        "lesson_id": [1, 2, 3, 4, 5, 6], "starts_at": starts,
        "ends_at": starts + pd.Timedelta(minutes=45), "minutes": [36, 35, 20, 0, 40, 20],
        "hidden_minutes": [0, 0, 16, 0, 0, 0], "unread_minutes": [0, 0, 0, 0, 0, 16],
        "faces": [4000] * 6, "faces_read": [4000] * 6, "engagement": [0.5] * 6,
        "shared_minutes": [0] * 6,
    })
    assert lesson_frames.MIN_RECORDED_PERCENT == 80
    after = datetime(2025, 3, 4, tzinfo=UTC)
    parts = [lesson_frames.part_of_lesson(row, after) for _, row in lessons.iterrows()]
    assert parts == [None, lesson_frames.PartOfLesson(lesson_states.PART_RECORDED, 35, 45),
                     None, None, None, None]  # 36 shown, 20 + 16 hidden, none, 40, 20 + 16 unread
    assert [lesson_frames.note(row, after) for _, row in lessons.iterrows()] == [
        "", "partly recorded: data for 35 of 45 min", "", lesson_states.NO_DATA, "",
        "16 minutes not read left out"]
    lessons = lessons.assign(cameras=[("cam",)] * 6, cameras_part=[()] * 6)
    assert lesson_frames.in_trend(lessons, after).tolist() == [
        True, False, False, False, True, False]
    earlier = pd.to_timedelta(range(6), unit="D")  # six lessons, not one stored six times
    spread = lessons.assign(starts_at=starts - earlier, ends_at=lessons["ends_at"] - earlier)
    assert lesson_frames.left_out(spread, 1, BERLIN, after)[0]["why"].tolist() == [
        "partly recorded: data for 35 of 45 min", "20 of 45 min charted", "no minutes charted",
        "20 of 45 min charted"]

    # the same lessons while under way, and just after their end before the last minute closed
    during, closing = datetime(2025, 3, 3, 8, 44, tzinfo=UTC), datetime(2025, 3, 3, 8, 46,
                                                                        tzinfo=UTC)
    assert [lesson_frames.note(row, during) for _, row in lessons.iterrows()][:2] == [
        "under way: 36 of 45 min so far", "under way: 35 of 45 min so far"]
    assert lesson_frames.note(lessons.iloc[4], closing) == (
        "ended, minutes still closing: 40 of 45 min so far")
    for now in (during, closing):
        assert not lesson_frames.in_trend(lessons, now).any()
    # a lesson under way whose every minute so far was hidden says both
    hidden = lessons.iloc[0].copy()
    hidden["minutes"], hidden["hidden_minutes"] = 0, 12
    assert lesson_frames.note(hidden, during) == (
        f"{lesson_states.ALL_HIDDEN}; under way: 12 of 45 min so far")
