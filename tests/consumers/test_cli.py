"""``classpulse consume``'s flags: defaults come from ConsumerConfig, declared once."""

from __future__ import annotations

import pytest

from classpulse.cli import build_parser
from classpulse.errors import UsageError
from consumers.cli import config_from_args
from consumers.config import ConsumerConfig


def test_flag_defaults_are_the_config_defaults() -> None:
    args = build_parser().parse_args(["consume"])
    assert config_from_args(args) == ConsumerConfig()


def test_flags_reach_the_config_and_bad_ones_are_named() -> None:
    args = build_parser().parse_args(["consume", "--duplicate-window", "30", "--max-lag", "60",
                                      "--db-timeout", "5"])
    config = config_from_args(args)
    assert (config.duplicate_window_s, config.max_lag_s, config.db_timeout_s) == (30.0, 60.0, 5.0)
    bad = build_parser().parse_args(["consume", "--duplicate-window", "0", "--db-timeout", "-1"])
    with pytest.raises(UsageError, match="--duplicate-window, --db-timeout must be positive"):
        config_from_args(bad)
