"""`classpulse demo` hands its children the database URL through their environment: a command line
is readable by every local user (`ps`), and the URL may hold the database's password."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from classpulse import demo
from classpulse.cli import main

pytestmark = pytest.mark.broker


def test_the_database_url_never_reaches_a_childs_command_line(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    started: list[tuple[str, list[str], dict[str, Any]]] = []

    def start_child(name: str, command: list[str], **popen: Any) -> subprocess.Popen:
        """Record what the demo would run; run a real child that just waits to be stopped."""
        started.append((name, list(command), popen))
        return subprocess.Popen(["sleep", "60"])

    monkeypatch.setattr(demo, "start_child", start_child)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///not-this-one.db")  # the flag wins
    status = main(["demo", "--source", "synthetic:classroom", "--duration", "0.5",
                   "--bootstrap-servers", kafka_bootstrap, "--database-url", url])
    assert status == 0
    assert [name for name, _, _ in started] == ["cameras", "consumer", "dashboard"]
    for name, command, popen in started:
        assert "--database-url" not in command, name
        assert not any(url in part for part in command), name
        assert popen["env"]["DATABASE_URL"] == url, name
        assert "--bootstrap-servers" in command  # the rest still comes as flags
    assert (tmp_path / "demo.db").exists()  # migrated by the demo itself
