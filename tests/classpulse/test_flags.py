"""Flags several parsers share are declared once (``classpulse.flags``), so they cannot drift."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from classpulse.cli import build_parser
from classpulse.flags import (
    MAX_FPS,
    MAX_PARTITIONS,
    MAX_TIMEOUT_S,
    MIN_FPS,
    camera_fps,
    partition_count,
    port,
    port_or_off,
    timeout_seconds,
)
from classpulse.settings import DEVICES


def parsers(parser: argparse.ArgumentParser, name: str = "classpulse"
            ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                yield from parsers(child, f"{name} {child_name}")


def test_every_device_flag_offers_the_settings_devices() -> None:
    found = {}
    for name, parser in parsers(build_parser()):
        for action in parser._actions:
            if "--device" in action.option_strings:
                found[name] = action
    assert sorted(found) == ["classpulse bench gate", "classpulse bench model",
                             "classpulse bench pipeline", "classpulse bench soak",
                             "classpulse consume", "classpulse demo",
                             "classpulse model evaluate", "classpulse model train"]
    assert all(action.choices is DEVICES for action in found.values())  # the one declaration


def test_every_port_flag_checks_its_range() -> None:
    types = {}
    for name, parser in parsers(build_parser()):
        for action in parser._actions:
            if any(flag.endswith("port") for flag in action.option_strings):
                types[f"{name} {action.option_strings[0]}"] = action.type
    assert types == {"classpulse broker --port": port, "classpulse dashboard --port": port,
                     "classpulse demo --port": port, "classpulse consume --metrics-port":
                     port_or_off}


@pytest.mark.parametrize("text", ["٨٠", "８０", "²", "8O", "", "+8501"])
def test_a_port_is_ascii_digits(text: str) -> None:
    """int() read other scripts' digits ('٨٠' as 80) that no client writes as a port; the flags
    and KAFKA_BOOTSTRAP_SERVERS now share one reading (classpulse.settings.port_number)."""
    with pytest.raises(argparse.ArgumentTypeError) as info:
        port(text)
    assert str(info.value) == f"{text!r} is not a port number"


def test_every_partitions_flag_has_the_one_maximum() -> None:
    types = {name: action.type for name, parser in parsers(build_parser())
             for action in parser._actions if "--partitions" in action.option_strings}
    assert types == {"classpulse broker": partition_count, "classpulse produce": partition_count}
    assert partition_count(str(MAX_PARTITIONS)) == MAX_PARTITIONS == 1000


@pytest.mark.parametrize(("command", "given"), [("produce", "99999999999"),
                                                 ("broker", "2147483647"), ("broker", "1001")])
def test_a_partition_count_past_the_maximum_is_one_line_before_anything_starts(
        command: str, given: str, capsys: pytest.CaptureFixture[str]) -> None:
    """produce --partitions 99999999999 was a 44-line struct.error traceback from kafka's
    create_topics, and broker --partitions 2147483647 hung the embedded broker."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--partitions", given])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"classpulse {command}: error: argument --partitions: {given} partitions is more than "
        f"1000; give 1 to 1000, e.g. as many as the consumers (see classpulse {command} --help)\n")


@pytest.mark.parametrize(("flag", "given", "said"), [
    ("--fps", "1e-10", "'1e-10' frames a second is outside what a camera sends; give 0.01667 (a "
                       "frame a minute) to 60"),
    ("--fps", "0.01", "'0.01' frames a second is outside what a camera sends; give 0.01667 (a "
                      "frame a minute) to 60"),
    ("--fps", "61", "'61' frames a second is outside what a camera sends; give 0.01667 (a frame "
                    "a minute) to 60"),
    ("--fps", "nan", "'nan' frames a second is outside what a camera sends; give 0.01667 (a "
                     "frame a minute) to 60"),
    ("--close-timeout", "1e10", "'1e10' seconds is more than a day; give at most 86400"),
    ("--connect-timeout", "86401", "'86401' seconds is more than a day; give at most 86400"),
])
def test_a_produce_rate_or_timeout_out_of_range_is_one_line_before_anything_starts(
        flag: str, given: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--fps 1e-10 waited longer than a lock can: OverflowError, the camera's worker dead, exit
    1, and each restart by compose sent the folder's first image again; --close-timeout 1e10
    raised the same once every frame was sent, exit 1 without the summary."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["produce", flag, given])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (f"classpulse produce: error: argument {flag}: {said} (see "
                                       "classpulse produce --help)\n")


def test_the_produce_limits_are_inclusive() -> None:
    assert (camera_fps(repr(MIN_FPS)), camera_fps("60")) == (MIN_FPS, MAX_FPS) == (1 / 60, 60)
    assert timeout_seconds("86400") == MAX_TIMEOUT_S == 86400
    args = build_parser().parse_args(["produce", "--fps", "0.02", "--close-timeout", "3600"])
    assert (args.fps, args.close_timeout) == (0.02, 3600)
