"""Flags several parsers share are declared once (``classpulse.flags``), so they cannot drift."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from classpulse.cli import build_parser
from classpulse.flags import port, port_or_off
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
