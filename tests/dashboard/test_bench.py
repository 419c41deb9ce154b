"""``classpulse bench dashboard``, run small on SQLite: it seeds what its header says, times every
page kind, and reuses a database it seeded only with the same sizes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from classpulse.cli import main

PAGES = ("live, last 60 minutes", "range, one day", "range, one week", "range, one month",
         "range, one year", "lessons, a week and one lesson")


def test_bench_dashboard_times_every_page_on_the_rows_it_seeded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    sizes = ["--classrooms", "2", "--cameras", "1", "--days", "14", "--school-hours", "8-10"]
    assert main(["bench", "dashboard", "--database-url", url, *sizes, "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    # 14 days from any minute hold ten school days' worth of minutes: 2 hours of each
    rows = 2 * 1 * 10 * 120
    assert re.search(rf"^sqlite [\d.]+, {rows:,} rows in emotion_minutes \(2 classrooms x 1 "
                     r"cameras x 14 days, school hours 8-10 UTC, Monday to Friday\); .* 2 page "
                     "views per kind", out, re.M), out
    table = [line.split(" | ") for line in out.splitlines() if line.startswith("| ") and
             not line.startswith(("| page", "| ---"))]
    assert {row[0].lstrip("| ") for row in table} == set(PAGES)
    by_query = {(row[0].lstrip("| "), row[1]): row for row in table}
    for page in PAGES:
        assert by_query[(page, "classrooms")][2] == "2"  # both seeded classrooms listed
        assert (page, "**whole page**") in by_query
    assert by_query[("live, last 60 minutes", "cameras")][2] == "1"
    assert by_query[("live, last 60 minutes", "minute buckets")][2] != "0"
    for row in table:
        median, p95 = float(row[3]), float(row[4].rstrip(" |"))
        assert 0 < median <= p95

    # seeded with other sizes: refused in one line, before anything is timed
    assert main(["bench", "dashboard", "--database-url", url, *_with(sizes, ["--cameras", "2"]),
                 "--repeat", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert (f"already holds {rows:,} minute rows of 2 classrooms and 2 cameras" in captured.err
            and "--cameras 2 --days 14 --school-hours 8-10 seeds" in captured.err), captured.err
    for other in (["--days", "21"], ["--school-hours", "8-11"], ["--school-hours", "all"]):
        assert main(["bench", "dashboard", "--database-url", url, *_with(sizes, other),
                     "--repeat", "1"]) == 2, other
        assert "already holds" in capsys.readouterr().err

    # the same sizes: the rows are reused, and the header still describes them
    assert main(["bench", "dashboard", "--database-url", url, *sizes, "--repeat", "1"]) == 0
    assert f"{rows:,} rows in emotion_minutes (2 classrooms x 1 cameras x 14 days" in (
        capsys.readouterr().out)


def _with(sizes: list[str], other: list[str]) -> list[str]:
    """``sizes`` with one flag's value replaced."""
    out = list(sizes)
    out[out.index(other[0]) + 1] = other[1]
    return out


def test_a_database_consumers_write_to_is_refused_before_anything_changes(
        migrated_sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Seeding rewrites emotion_minutes whole (TRUNCATE on PostgreSQL): under compose DATABASE_URL
    is production's, where that lost what consumers committed meanwhile."""
    from sqlalchemy import text

    from classpulse.db.engine import make_engine

    engine = make_engine(migrated_sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
                          "VALUES ('classpulse', 'frames', 0, 42)"))
    assert main(["bench", "dashboard", "--database-url", migrated_sqlite_url, "--classrooms", "1",
                 "--cameras", "1", "--days", "1", "--repeat", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"classpulse bench: database {migrated_sqlite_url} holds consumers' offsets, so consumers "
        "write to it, and the benchmark would add synthetic classrooms and rewrite "
        "emotion_minutes; give --database-url an empty database of its own, or leave "
        "DATABASE_URL unset for a temporary SQLite file\n")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM classrooms")).scalar_one() == 0
    engine.dispose()


def test_without_a_database_url_it_seeds_a_temporary_file(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """Not the default DATABASE_URL (a classpulse.db where it runs, or production's)."""
    from contextlib import ExitStack

    from classpulse.settings import Settings
    from dashboard.bench import bench_url

    monkeypatch.chdir(tmp_path)
    with ExitStack() as stack:
        url = bench_url(stack, Settings())
        path = Path(url.removeprefix("sqlite:///"))
        assert url.startswith("sqlite:///") and path.parent.is_dir()
        assert tmp_path not in path.parents
    assert not path.parent.exists()  # removed with the run
    given = Settings(database_url="sqlite:///given.db", explicit=frozenset({"database_url"}))
    with ExitStack() as stack:
        assert bench_url(stack, given) == "sqlite:///given.db"
