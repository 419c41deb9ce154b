"""Outside text shown on a terminal or in a log: what acts on the terminal or splits the line is
escaped, every readable character stays as written."""

from __future__ import annotations

import pytest

from classpulse.safe_text import safe_text


@pytest.mark.parametrize("text", [
    "Maths", "Français", "Deutsch für Anfänger", "Ελληνικά", "日本語", "עברית", "🙂 emoji",
    "a b\u00a0c", r"C:\videos\cam1.mp4", "rtsp://cam.example/live?x=1&y=2", "",
])
def test_readable_text_is_unchanged(text: str) -> None:
    assert safe_text(text) == text


@pytest.mark.parametrize(("text", "shown"), [
    ("\x1b[2Jx", "\\x1b[2Jx"),  # Cc: an escape sequence clearing the screen
    ("a\nb\r\tc\x00\x7f\x85", "a\\nb\\r\\tc\\x00\\x7f\\x85"),  # Cc: line breaks, NUL, DEL, NEL
    ("\u202eevil\u200b\ufeff", "\\u202eevil\\u200b\\ufeff"),  # Cf: bidi override, zero widths
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # Zl, Zp: line and paragraph separators
    ("\U000e0041tag", "\\U000e0041tag"),  # Cf outside the BMP (a tag character)
    ("x\udcff", "x\\udcff"),  # a lone surrogate (undecodable bytes), which print() refuses
])
def test_what_acts_on_a_terminal_or_splits_a_line_is_escaped(text: str, shown: str) -> None:
    assert safe_text(text) == shown
    assert len(safe_text(text).splitlines()) <= 1
    assert safe_text(text).isprintable()
