"""A consumer's configuration, checked before it starts: no frame it counts may land in a minute
already shown, or be counted twice for want of remembering it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from classpulse.errors import UsageError
from classpulse.flags import MINUTE_CLOSES_AFTER_START_S
from classpulse.settings import Settings
from consumers.config import DEFAULTS, ConsumerConfig


def test_the_defaults_fill_the_time_a_minute_stays_open_exactly() -> None:
    """The closing delay is declared once (classpulse.flags) and follows from these defaults."""
    assert 60 + DEFAULTS.max_lag_s + 2 * DEFAULTS.flush_interval_s == MINUTE_CLOSES_AFTER_START_S
    DEFAULTS.check(Settings.max_clock_skew_s)


@pytest.mark.parametrize("changes", [{"max_lag_s": 121.0}, {"flush_interval_s": 6.0},
                                     {"max_lag_s": 3600.0, "duplicate_window_s": 7200.0}])
def test_a_frame_that_could_land_in_a_closed_minute_is_refused(changes: dict) -> None:
    config = ConsumerConfig(**changes)
    late = config.max_lag_s + 2 * config.flush_interval_s
    with pytest.raises(UsageError) as refused:
        config.check(Settings.max_clock_skew_s)
    assert str(refused.value) == (
        f"--max-lag {config.max_lag_s:g} plus twice --flush-interval "
        f"{config.flush_interval_s:g} is {late:g} s, over the 130 s after its end at which a "
        "minute is shown, so frames would change minutes already shown; lower them so that "
        "--max-lag + 2 x --flush-interval <= 130, or give --backfill to count recorded footage "
        "into a database nobody watches")
    replace(config, backfill=True).check(Settings.max_clock_skew_s)  # asked for: recorded footage


def test_a_shorter_lag_leaves_room_for_a_longer_flush_interval() -> None:
    ConsumerConfig(max_lag_s=60.0, flush_interval_s=35.0).check(Settings.max_clock_skew_s)


def test_a_duplicate_window_shorter_than_lag_and_skew_is_refused() -> None:
    """Keys are forgotten behind the camera's newest frame, which may run the allowed skew ahead
    of the consumer's clock; a frame --max-lag old is still counted, so its key must be kept."""
    with pytest.raises(UsageError) as refused:
        ConsumerConfig(duplicate_window_s=149.0).check(30.0)
    assert str(refused.value) == (
        "--duplicate-window 149 is shorter than --max-lag 120 plus --max-clock-skew 30, so a "
        "repeat of a frame could be counted again; give --duplicate-window 150 or more")
    ConsumerConfig(duplicate_window_s=150.0).check(30.0)


def test_consume_refuses_a_long_lag_before_it_starts(capsys: pytest.CaptureFixture[str],
                                                     tmp_path) -> None:
    """The check runs in ``classpulse consume`` itself, before the database or the networks."""
    from classpulse.cli import main

    url = f"sqlite:///{tmp_path / 'never.db'}"
    assert main(["consume", "--max-lag", "300", "--database-url", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--max-lag 300 plus twice --flush-interval 5" in err
    assert not (tmp_path / "never.db").exists()


def test_backfill_is_part_of_the_configuration() -> None:
    """``--backfill`` travels in the configuration, which allows the long lag and, in
    ``classpulse consume``, gives the sink ``backfill``, whose late writes revise no minute
    (tests/consumers/test_cli.py, tests/db/test_revised_minutes.py)."""
    import argparse

    from consumers.cli import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    given = ["consume", "--max-lag", "3600", "--duplicate-window", "7200"]
    assert not config_from_args(parser.parse_args(given)).backfill
    config = config_from_args(parser.parse_args([*given, "--backfill"]))
    assert config.backfill
    config.check(Settings.max_clock_skew_s)
