"""Where ``bench pipeline`` and ``bench soak`` run: a configured broker keeps no topic of theirs,
and a configured database gets no rows of theirs unless the bench command itself was told so."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from classpulse.settings import Settings
from classpulse.topics import topic_exists
from pipeline_bench.harness import bench_place


@pytest.mark.broker
def test_a_configured_database_is_not_written_and_the_topic_goes_with_the_bench(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS from the environment (a production shell): the
    bench's rows go to a temporary SQLite file, and its topic, its own, is deleted at its end."""
    configured = tmp_path / "production.db"
    settings = Settings.load(environ={"DATABASE_URL": f"sqlite:///{configured}",
                                      "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap})
    with ExitStack() as stack:
        first = bench_place(stack, settings, "bench", 1)
        with ExitStack() as other:
            second = bench_place(other, settings, "bench", 1)
            assert second.kafka_topic != first.kafka_topic
        assert first.kafka_bootstrap_servers == kafka_bootstrap
        assert first.database_url != settings.database_url
        assert topic_exists(kafka_bootstrap, first.kafka_topic) is True
    assert not configured.exists(), "the configured database was written"
    assert topic_exists(kafka_bootstrap, first.kafka_topic) is False
    assert topic_exists(kafka_bootstrap, second.kafka_topic) is False


@pytest.mark.broker
def test_the_bench_s_own_database_url_flag_is_used(kafka_bootstrap: str, tmp_path: Path) -> None:
    named = f"sqlite:///{tmp_path / 'asked.db'}"
    settings = Settings.load({"database_url": named, "kafka_bootstrap_servers": kafka_bootstrap})
    with ExitStack() as stack:
        run = bench_place(stack, settings, "bench", 1, database_flag=named)
        assert run.database_url == named
    engine = create_engine(named)
    try:
        assert "emotion_minutes" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
