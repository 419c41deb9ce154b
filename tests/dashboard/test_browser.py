"""``classpulse dashboard`` in Debian's headless Chromium, driven by Playwright, on seeded data.

Starts the real command (which starts Streamlit) once for the module, on SYNTHETIC minutes of the
last week and a timetable imported by the real ``classpulse lessons import``. Playwright launches
the system ``/usr/bin/chromium`` (``executable_path``; nothing is downloaded) and waits with its
locators until the page has drawn. The tests read the page as a teacher sees it, by text and
numbers, and keep screenshots under ``artifacts/dashboard/`` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from classpulse.cli import main
from classpulse.db.engine import make_engine
from classpulse.db.migrate import upgrade
from classpulse.db.seed import synthetic_minute_rows
from classpulse.db.writes import MinuteRow
from dashboard.charts import EMOTION_COLORS, ENGAGEMENT_COLOR
from tests.dashboard import expected

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--hide-scrollbars")
BERLIN = ZoneInfo("Europe/Berlin")
BOLD, IMAGE = "**x**", "![x](http://h/x.png)"
# names show as written, none of it a link
LONE = (f"Lone minute {IMAGE} {BOLD} :smile: https://evil.example/p www.evil.example "
        "x@evil.example (synthetic data)")
DRAWN_CHART = "canvas, svg"  # inside a chart's element, once Vega has drawn it
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=list(CHROMIUM_ARGS))
        yield browser
        browser.close()


@dataclass(frozen=True)
class Served:
    url: str
    rows: list[MinuteRow]
    lessons: dict[tuple[date, str], tuple[int, datetime, datetime]]  # -> id, start, end (UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"classpulse dashboard exited {server.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    pytest.fail(f"dashboard not healthy after {timeout_s} s: {log.read_text()}")


def school_days(now: datetime) -> list[date]:
    """The weekdays of the seeded week before today (Berlin)."""
    today = now.astimezone(BERLIN).date()
    return [d for d in (today - timedelta(days=i) for i in range(7, 0, -1)) if d.isoweekday() <= 5]


def seed(url: str, folder: Path) -> tuple[list[MinuteRow], list[date]]:
    """SYNTHETIC rows for two classrooms: the last 90 minutes, and a week of school hours before;
    a timetable of three lessons a school day in 7A, imported from a CSV file."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    live_start = now - timedelta(minutes=89)
    history_start = now.replace(hour=0, minute=0) - timedelta(days=7)
    history_minutes = int((live_start - history_start).total_seconds() // 60)
    rooms = ("7A", "7B")
    rows = [*synthetic_minute_rows(rooms, 2, history_start, history_minutes, seed=7,
                                   school_hours=(7, 14)),
            *synthetic_minute_rows(rooms, 2, live_start, 90, seed=7)]
    # a classroom whose only minute started four minutes before the one under way, so it closed
    # (a minute and MINUTE_CLOSES_AFTER after its start) before the page opens: ten faces in
    # view, all neutral
    lone = expected.row("lone-cam1", "lone", now - timedelta(minutes=4), 60, 10, top="neutral")
    engine = make_engine(url)
    try:
        expected.write(engine, [*rows, lone],
                       {"7A": ("Class 7A (synthetic data)", "Europe/Berlin"),
                        "7B": ("Class 7B (synthetic data)", "Europe/Berlin"),
                        "lone": (LONE, "Europe/Berlin")})
    finally:
        engine.dispose()
    days = school_days(now)
    lines = ["classroom,date,start,end,title"]
    for day in days:  # 10:00 in Berlin is 08:00 or 09:00 UTC: inside the seeded school hours
        lines += [f"7A,{day},10:00,10:45,Maths", f"7A,{day},11:00,11:45,{BOLD}",
                  f'7A,{day},12:00,12:45,"{IMAGE}"']
    timetable = folder / "timetable.csv"
    timetable.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["lessons", "import", str(timetable), "--database-url", url]) == 0
    return rows, days


def lesson_ids(url: str) -> dict[tuple[date, str], tuple[int, datetime, datetime]]:
    from sqlalchemy import select

    from classpulse.db.views import lesson_summaries as s

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(select(s.c.lesson_id, s.c.title, s.c.starts_at, s.c.ends_at))
            return {(start.astimezone(BERLIN).date(), title): (lesson_id, start, end)
                    for lesson_id, title, start, end in found}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'classpulse.db'}"
    upgrade(url)
    rows, _ = seed(url, folder)
    port = free_port()
    log = folder / "dashboard.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "classpulse", "dashboard", "--port", str(port),
             "--database-url", url],
            stdout=out, stderr=subprocess.STDOUT, cwd=folder,
        )
    try:
        wait_healthy(port, server, log, timeout_s=60)
        yield Served(f"http://127.0.0.1:{port}", rows, lesson_ids(url))
    finally:
        server.send_signal(signal.SIGTERM)
        status = server.wait(30)
    assert status == 0, log.read_text()


def wait_drawn(page: Page, charts: int, metrics: int) -> None:
    """Until the page shows this many drawn charts and metrics (Playwright retries locators)."""
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(metrics, timeout=90_000)
    drawn = page.locator('[data-testid="stVegaLiteChart"]').filter(has=page.locator(DRAWN_CHART))
    expect(drawn).to_have_count(charts, timeout=90_000)
    page.wait_for_timeout(1500)  # the charts' entry animations


def test_dashboard_renders_in_chromium(browser: Browser, served: Served) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(served.url)
    wait_drawn(page, charts=3, metrics=4)
    live = page.inner_text("body")
    assert page.locator(ERRORS).count() == 0, live
    page.screenshot(path=ARTIFACTS / "live.png")
    page.locator('[data-testid="stRadio"] label').filter(has_text="Date range").click()
    expect(page.get_by_text("Engagement by hour of the week")).to_be_visible(timeout=90_000)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)
    page.wait_for_timeout(2000)
    history = page.inner_text("body")
    assert page.locator(ERRORS).count() == 0, history
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.wait_for_timeout(1000)
    page.screenshot(path=ARTIFACTS / "history.png")
    assert re.search(r"[?&]view=range", page.url), page.url
    page.close()
    assert "Class 7A (synthetic data)" in live
    for words in ("Main emotion, latest minute", "Engagement index", "Emotion mix", "Faces in view",
                  "Europe/Berlin", "Data is fresh", "What these numbers mean"):
        assert words in live, words
    for words in ("History", "Engagement by hour of the week", "each point covers 15 minutes"):
        assert words in history, words
    for shot in ("live.png", "history.png"):
        assert (ARTIFACTS / shot).stat().st_size > 50_000


def grid_rows(page: Page, columns: int) -> list[list[str]]:
    """The lessons table's cells as text (the data grid keeps them in an accessible table)."""
    cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]').all_text_contents()
    return [cells[i:i + columns] for i in range(0, len(cells), columns)]


def test_a_lesson_deep_link_in_chromium(browser: Browser, served: Served) -> None:
    # a Maths lesson with an earlier one (its trend chart) at the top of its week's table: the
    # table is a data grid that renders only the rows in view (a week's Friday lessons were not,
    # so this failed when run on Saturday to Monday): the first such lesson of the newest week
    days = sorted(d for d, title in served.lessons if title == "Maths"
                  and expected.lesson(served.rows, "7A", *served.lessons[(d, title)][1:])[
                      "minutes"])[1:]
    newest_monday = max(d - timedelta(days=d.weekday()) for d in days)
    day = min(d for d in days if d >= newest_monday)
    lesson_id, start, end = served.lessons[(day, "Maths")]
    want = expected.lesson(served.rows, "7A", start, end)
    page = browser.new_page(viewport={"width": 1400, "height": 1700})
    page.goto(f"{served.url}/?classroom=7A&view=lessons&lesson={lesson_id}")
    wait_drawn(page, charts=4, metrics=4)
    assert page.locator(ERRORS).count() == 0, page.inner_text("body")
    monday = day - timedelta(days=day.weekday())
    assert f"week={monday.isoformat()}" in page.url and f"lesson={lesson_id}" in page.url

    rows = grid_rows(page, columns=10)
    local_day = start.astimezone(BERLIN)
    row = next(r for r in rows if r[0] == f"{local_day:%a %d %b}" and r[2] == "Maths")
    assert row[1] == "10:00–10:45"
    assert row[3] == want["main"]
    assert row[4] == f"{want['main_share']:.0%}"
    assert float(row[5]) == pytest.approx(want["engagement"])
    assert float(row[6]) == pytest.approx(want["faces_in_view"])
    assert (int(row[7]), int(row[8])) == (want["minutes"], want["hidden"])
    assert want["minutes"] + want["hidden"] == 45
    titles = [r[2] for r in rows]
    assert BOLD in titles and IMAGE in titles  # literally, as the timetable spells them
    # the table's toolbar is there (its Search), without "Download as CSV": Streamlit's exporter
    # would leave a title starting with = + - @ (timetables accept them) a spreadsheet formula
    page.locator('[data-testid="stDataFrame"]').hover()
    expect(page.get_by_role("button", name="Search", exact=True)).to_have_count(1)
    expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)
    assert page.locator("img[src*='h/x.png']").count() == 0

    metrics = page.locator('[data-testid="stMetric"]')
    shown = {metrics.nth(i).get_by_test_id("stMetricLabel").inner_text().strip():
             metrics.nth(i).get_by_test_id("stMetricValue").inner_text().strip()
             for i in range(metrics.count())}
    assert shown == {
        "Main emotion": want["main"],
        "Engagement": f"{want['engagement']:.2f}",
        "Faces in view": f"{want['faces_in_view']:.1f}",
        "Minutes charted": str(want["minutes"]),
    }
    # the share beneath, whole: in the box, "neutral · 100%" was cut to "neutral · 1…" at 1280 px
    main = metrics.filter(has_text="Main emotion")
    expect(main.get_by_test_id("stMetricDelta")).to_have_text(
        f"{want['main_share']:.0%} of the faces read")
    for box in ("stMetricValue", "stMetricDelta"):
        cut = main.get_by_test_id(box).evaluate("e => e.scrollWidth > e.clientWidth")
        assert not cut, box
    assert page.get_by_test_id("stText").first.inner_text() == "Maths"
    body = page.inner_text("body")
    for words in ("Emotion mix", "Engagement index",
                  "Faces in view and read per minute",
                  "Engagement in lessons with this title", f"{local_day:%a %d %b %Y}, 10:00–10:45"):
        assert words in body, words
    page.screenshot(path=ARTIFACTS / "lessons.png")

    # a markdown title opened from the select: shown as it is written, nothing rendered from it
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Open a lesson").click()
    option = page.get_by_role("option").filter(has_text=f"{local_day:%a %d %b} 11:00–11:45")
    assert option.inner_text().strip().endswith(f"· {BOLD}")  # an option's label: plain text
    option.click()
    expect(page.get_by_test_id("stText").first).to_have_text(BOLD, timeout=60_000)
    assert page.locator("strong", has_text=re.compile(r"^x$")).count() == 0
    assert page.locator("img[src*='h/x.png']").count() == 0

    # the address follows the teacher's clicks
    page.get_by_role("button", name="Next week →").click()
    next_monday = monday + timedelta(days=7)
    page.wait_for_url(re.compile(f"week={next_monday.isoformat()}"), timeout=60_000)
    assert "lesson=" not in page.url
    page.close()
    assert (ARTIFACTS / "lessons.png").stat().st_size > 50_000


def test_a_crafted_link_is_reported_in_chromium(browser: Browser, served: Served) -> None:
    """Values typed into the address bar that once raised (a superscript digit, a week in year
    9999): the page says which could not be followed, as text, and shows no traceback."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{served.url}/?classroom=7A&view=lessons&lesson=%C2%B2&week=9999-12-31")
    expect(page.get_by_text("This link could not be followed in full")).to_be_visible(
        timeout=90_000)
    expect(page.get_by_test_id("stText").filter(has_text="lesson='²'")).to_have_text(
        "lesson='²' is not a lesson number (a whole number from 1 to 2147483647)")
    expect(page.get_by_test_id("stText").filter(has_text="week=")).to_have_text(
        "week='9999-12-31' is outside the weeks the lessons view shows (2000 to 2099)")
    assert page.locator(ERRORS).count() == 0, page.inner_text("body")
    page.close()


def test_one_minute_of_data_is_drawn_on_the_whole_live_window(
    browser: Browser, served: Served
) -> None:
    """A classroom whose cameras have reported one minute: the page draws it (a step one minute
    wide in the emotion mix, a dot for engagement) on an axis that spans the hour asked for."""
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{served.url}/?classroom=lone&view=live")
    wait_drawn(page, charts=3, metrics=4)
    assert page.locator(ERRORS).count() == 0, page.inner_text("body")
    title = page.get_by_test_id("stHeading").filter(has_text="Lone minute").inner_text()
    assert title.replace("\u2060", "").strip() == LONE
    assert page.locator("strong", has_text=re.compile(r"^x$")).count() == 0
    assert page.locator("img[src*='h/x.png']").count() == 0
    # no autolink of the bare URLs (the heading's own anchor, #lone-minute-..., is no link out)
    assert page.locator("a[href*='evil']:not([href^='#'])").count() == 0
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    shots = [Image.open(io.BytesIO(charts.nth(i).screenshot())).convert("RGB") for i in range(3)]
    page.screenshot(path=ARTIFACTS / "lone-minute.png")
    page.close()

    def count(image: Image.Image, colour: str) -> int:
        wanted = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        return int((np.asarray(image) == wanted).all(axis=2).sum())

    mix, engagement, _ = shots  # in page order: the mix, then engagement beside faces in view
    assert count(mix, EMOTION_COLORS["neutral"]) > 100  # a block, not a hairline
    assert count(engagement, ENGAGEMENT_COLOR) > 10  # the dot
