"""Driving the real page with Streamlit's ``AppTest``: settings in, chart data and downloads out."""

from __future__ import annotations

import functools
import json
import re
import sys
from datetime import date, time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from sqlalchemy import inspect
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
from streamlit.testing.v1 import AppTest, local_script_runner

from classpulse.db.engine import make_engine
from classpulse.db.rule import store_min_faces
from dashboard.auth import login_throttle

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
SETTINGS_VARS = ("DATABASE_URL", "MIN_FACES_SHOWN", "DASHBOARD_PASSWORD", "ENGAGEMENT_WEIGHTS")


def open_page(monkeypatch: pytest.MonkeyPatch, url: str, min_faces: int = 3,
              password: str | None = None) -> AppTest:
    """The page as ``classpulse dashboard`` starts it: arguments after ``--``, environment.

    ``min_faces`` is stored as the database's small-group rule (what ``classpulse db upgrade
    --min-faces-shown`` does), which the page follows. Query caches live as long as the process
    (their TTL is seconds); a test's database changed since the last test, so they start empty;
    so does the process-wide count of wrong passwords.
    """
    st.cache_data.clear()
    login_throttle.clear()  # each test starts as a fresh server: no wrong passwords yet
    engine = make_engine(url)
    try:
        if inspect(engine).has_table("small_group_rule"):
            with engine.begin() as conn:
                store_min_faces(conn, min_faces)
    finally:
        engine.dispose()
    monkeypatch.setattr(sys, "argv", [str(APP), "--database-url", url])
    for var in SETTINGS_VARS:
        monkeypatch.delenv(var, raising=False)
    if password is not None:
        monkeypatch.setenv("DASHBOARD_PASSWORD", password)
    return AppTest.from_file(str(APP), default_timeout=60)


def rerun_fragments(at: AppTest) -> AppTest:
    """Rerun the page's fragments alone, as the browser asks the server to every ``run_every``:
    each fragment function runs again with the arguments it was given by the page's last full
    run, and nothing else of the page runs (unless a fragment asks for a full rerun).

    AppTest runs the whole page on every ``run()``; this makes one run a fragment run by adding
    the fragments' ids to the rerun request, as the browser's request carries them.
    """
    fragments = list(at._fragment_storage._fragments)  # AppTest keeps them between runs
    assert fragments, "the page drew no fragment"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local_script_runner, "RerunData",
                      functools.partial(RerunData, fragment_id_queue=fragments, is_auto_rerun=True))
        return at.run()


def choose_range(at: AppTest, classroom: str, first: date, last: date, start: time,
                 end: time) -> AppTest:
    """Pick a classroom and a date/time range in the sidebar, then rerun."""
    at.run()
    assert not at.exception and not at.error, texts(at)
    at.selectbox(key="classroom").set_value(classroom).run()
    at.radio(key="mode").set_value("Date range").run()
    at.date_input(key="days").set_value((first, last))
    at.time_input(key="from_time").set_value(start)
    at.time_input(key="to_time").set_value(end)
    return at.run()


LABELS = ("utc", "wall", "time", "emotion", "order", "weekday", "edge", "isolated", "current")


def charts(at: AppTest, with_breaks: bool = False) -> dict[str, pd.DataFrame]:
    """Each drawn chart's data by its title, decoded from what Streamlit sends the browser.

    The rows that only break a line at a gap (every value missing) and the copies that close a
    step area's last bucket (``edge``) are dropped unless asked for.
    """
    out = {}
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        (dataset,) = element.proto.datasets
        data = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
        if not with_breaks:
            values = [c for c in data.columns if c not in LABELS]
            data = data.dropna(subset=values, how="all")
            if "edge" in data.columns:
                data = data[~data["edge"].astype(bool)]
            data = data.reset_index(drop=True)
        out[spec["title"]] = data
    return out


ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescaped(markdown: str) -> str:
    """Markdown with CommonMark's backslash escapes undone and word joiners dropped: the
    characters a reader sees where the page escaped a stored string (the page's own ``**`` stay)."""
    return ESCAPED.sub(r"\1", markdown).replace("\u2060", "")


def metric_texts(at: AppTest) -> dict[str, str]:
    """The page's metric boxes by label: the value, then its delta (the small type beneath it)
    after " · " where it has one."""
    return {m.label: m.value + (f" · {m.delta}" if m.delta else "") for m in at.metric}


def raw_texts(at: AppTest) -> dict[str, list[str]]:
    """The page's messages by kind, as the Markdown the page sent."""
    return {
        "title": [e.value for e in at.title],
        "caption": [e.value for e in at.caption],
        "info": [e.value for e in at.info],
        "warning": [e.value for e in at.warning],
        "error": [e.value for e in at.error],
        "markdown": [e.value for e in at.markdown],
        "text": [e.value for e in at.text],
        "subheader": [e.value for e in at.subheader],
    }


def texts(at: AppTest) -> dict[str, list[str]]:
    """The page's messages by kind, escapes undone, for assertions on wording."""
    return {kind: [unescaped(v) if kind != "text" else v for v in values]
            for kind, values in raw_texts(at).items()}


def assert_no_error(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
