"""Stored and user-supplied strings reach the page as plain text, in every place that shows one.

A classroom named ``![x](http://h/x.png)`` would otherwise load an outside picture in every
teacher's browser, and ``**x**`` would turn bold. Each test stores such a name where an operator,
a timetable or a sign-in provider could, opens the real page with AppTest, and checks the Markdown
the page sent: the reader sees the name's characters (escapes undone) and none of its Markdown is
left unescaped. ``tests/dashboard/test_browser.py`` checks the same in Chromium.
"""

from __future__ import annotations

import re
import string
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sql

from classpulse.db.engine import make_engine
from dashboard.text import plain
from tests.dashboard import expected
from tests.dashboard.pages import (
    assert_no_error,
    charts,
    choose_range,
    open_page,
    raw_texts,
    unescaped,
)

IMAGE, BOLD = "![x](http://h/x.png)", "**x**"
NAME = f"{IMAGE} {BOLD} :smile: $x$ <b>x</b> `x`"
UNSAFE = (IMAGE, BOLD, ":smile:", "$x$", "<b>", "`x`")
MINUTE = datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)


def shows_literally(markdown: str, name: str, unsafe: tuple[str, ...] = UNSAFE) -> bool:
    """The reader sees ``name`` and Markdown gets none of it to interpret."""
    return name in unescaped(markdown) and not any(u in markdown for u in unsafe)


def store(url: str, classroom: tuple[str, str] = (NAME, "UTC"), camera: str = "cam") -> None:
    engine = make_engine(url)
    try:
        expected.write(engine, [expected.row("c1", "room", MINUTE, 60, 5)], {"room": classroom})
        with engine.begin() as conn:
            conn.execute(sql("UPDATE cameras SET name = :name"), {"name": camera})
    finally:
        engine.dispose()


@pytest.mark.parametrize("value", [NAME, "a:b :+1: :red[x] :material/home: 08:00:00",
                                   "line one\n\n    # line two", string.punctuation])
def test_plain_escapes_every_markdown_character(value: str) -> None:
    escaped = plain(value)
    assert unescaped(escaped) == " ".join(value.splitlines())
    bare = re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped)
    assert not set(bare) & set(string.punctuation), escaped
    shortcode = re.compile(r":[\w+-][\w/+-]*[:\[]")  # Streamlit's :smile: and :red[...]
    assert not shortcode.search(re.sub(r"\\(.)", r"\1", escaped)), escaped
    assert "\n" not in escaped


@pytest.mark.parametrize("value", ["Login at https://evil.example/reset now",
                                   "7B www.grp.example", "WWW.X.ORG", "mail x@evil.example",
                                   "mailto:x@evil.example", "HTTP://h/x"])
def test_plain_leaves_no_bare_link_for_markdown_to_make(value: str) -> None:
    """GitHub-flavoured Markdown, Streamlit's, makes a link of a bare URL, ``www.`` address or
    e-mail address after its backslash escapes are undone: a timetable title with a phishing
    link was a link to click on the teacher's page (tests/dashboard/test_browser.py checks the
    page in Chromium)."""
    escaped = plain(value)
    assert unescaped(escaped) == value
    seen = re.sub(r"\\(.)", r"\1", escaped)  # the text GFM's autolinks look at
    assert not re.search(r"://|www\.|@\w", seen, re.IGNORECASE), seen


def test_classroom_and_camera_names_in_the_title_and_selects(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(migrated_sqlite_url, camera=BOLD)
    at = open_page(monkeypatch, migrated_sqlite_url).run()
    assert_no_error(at)
    (title,) = raw_texts(at)["title"]
    assert shows_literally(title, NAME), title
    # a select's options are labels Streamlit never reads as Markdown: the name as it is
    assert at.selectbox(key="classroom").options == [f"{NAME} (room)"]
    assert at.selectbox(key="camera").options == ["All cameras", BOLD]
    at.selectbox(key="camera").set_value("c1").run()
    (title,) = raw_texts(at)["title"]
    assert shows_literally(title, f"{NAME} – camera {BOLD}"), title


def test_classroom_name_in_the_no_data_note(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(migrated_sqlite_url)
    at = open_page(monkeypatch, migrated_sqlite_url).run()  # live: the one minute is long past
    infos = [i for i in raw_texts(at)["info"] if "No data for" in i]
    assert len(infos) == 1 and shows_literally(infos[0], NAME), infos
    assert infos[0].startswith("**No data for ")  # the page's own emphasis stays


def test_camera_name_in_the_stopped_camera_warning(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Camera c1 stopped 40 minutes ago while c2 writes: the warning names c1 literally."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    engine = make_engine(migrated_sqlite_url)
    try:
        expected.write(engine, [expected.row("c1", "room", now - timedelta(minutes=40), 60, 5)]
                       + [expected.row("c2", "room", now - timedelta(minutes=i), 60, 5)
                          for i in range(1, 10)])
        expected.set_written_at(engine, now - timedelta(minutes=40), camera="c1")
        with engine.begin() as conn:
            conn.execute(sql("UPDATE cameras SET name = :name WHERE id = 'c1'"), {"name": NAME})
    finally:
        engine.dispose()
    at = open_page(monkeypatch, migrated_sqlite_url).run()
    assert_no_error(at)
    (warning,) = raw_texts(at)["warning"]
    assert shows_literally(warning, f"Camera {NAME} (c1) has sent no new data"), warning


def test_stored_time_zone_in_the_error(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(migrated_sqlite_url, classroom=("Room", NAME))  # SQLite does not check the zone
    at = open_page(monkeypatch, migrated_sqlite_url).run()
    assert not at.exception
    (error,) = raw_texts(at)["error"]
    assert shows_literally(error, f"{NAME!r} is not an IANA zone name"), error


def test_database_url_and_its_error_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "_x_"  # a URL shows ** percent-encoded; _ stays
    folder.mkdir()
    url = f"sqlite:///{folder / 'classpulse.db'}"
    make_engine(url).dispose()  # an empty file: no tables
    at = open_page(monkeypatch, url).run()
    assert not at.exception
    (error,) = raw_texts(at)["error"]
    assert shows_literally(error, f"{folder / 'classpulse.db'}", ("_x_",)), error


def test_configuration_error_names_the_value_literally(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, migrated_sqlite_url)
    value = f"{BOLD} ![x](h/x.png)"  # no "://": not a URL
    monkeypatch.setattr("sys.argv", ["app.py", "--database-url", value])
    at.run()
    (error,) = raw_texts(at)["error"]
    assert shows_literally(error, f"DATABASE_URL {value!r} is not a SQLAlchemy URL",
                           (BOLD, "![x](")), error


def test_signed_in_name_in_the_sidebar(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(migrated_sqlite_url, classroom=("Room", "UTC"))
    at = open_page(monkeypatch, migrated_sqlite_url)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                          "cookie_secret": "pVh3Zq0yK8rT1mXc5NwB7uJd2LfA9sEgQ4iYoR6tH0k",
                          "client_id": "c", "client_secret": "s",
                          "server_metadata_url": "https://login.example.org/.well-known/x",
                          "allowed_email_domains": ["school.example"]}
    at.user = {"is_logged_in": True, "name": NAME, "email": "a@school.example",
               "email_verified": True}
    at.run()
    assert_no_error(at)
    signed = [c for c in raw_texts(at)["caption"] if "Signed in as" in c]
    assert len(signed) == 1 and shows_literally(signed[0], NAME), signed


def test_lesson_title_in_the_week_and_the_opened_lesson(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from classpulse.cli import main

    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    store(migrated_sqlite_url, classroom=("Room", "UTC"))
    day = now.date()
    timetable = tmp_path / "timetable.csv"
    timetable.write_text(f'classroom,date,start,end,title\nroom,{day},00:00,00:45,"{NAME}"\n',
                         encoding="utf-8")
    assert main(["lessons", "import", str(timetable), "--database-url", migrated_sqlite_url]) == 0
    at = open_page(monkeypatch, migrated_sqlite_url).run()
    at.radio(key="mode").set_value("Lessons").run()
    assert_no_error(at)
    (option,) = at.selectbox(key="lesson").options
    assert option.endswith(f"· {NAME}")
    at.selectbox(key="lesson").select_index(0).run()
    assert_no_error(at)
    assert NAME in raw_texts(at)["text"]  # st.text: never Markdown
    assert not any(NAME in m or IMAGE in m for kind, ms in raw_texts(at).items()
                   if kind != "text" for m in ms)


def test_charts_and_the_download_carry_no_stored_name(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch, downloads: list[dict[str, Any]]
) -> None:
    """Chart titles, axes, legends and tooltips are the page's own words: a name never reaches
    Vega-Lite (whose tooltips would need their own escaping), nor the CSV's file name."""
    store(migrated_sqlite_url, classroom=(NAME, "UTC"), camera=NAME)
    at = choose_range(open_page(monkeypatch, migrated_sqlite_url), "room", MINUTE.date(),
                      MINUTE.date(), time(7, 0), time(7, 59))
    assert_no_error(at)
    specs = [element.proto.spec for element in at.get("vega_lite_chart")]
    assert len(specs) == 4 and set(charts(at)) == {
        "Emotion mix (share of faces read)", "Engagement index",
        "Faces in view and read per minute", "Engagement by hour of the week"}
    assert not any(part in spec for spec in specs for part in (IMAGE, BOLD, "smile", "room"))
    assert downloads[-1]["file_name"].startswith("classpulse_room_")
