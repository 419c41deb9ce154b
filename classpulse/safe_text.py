"""Text from outside (a cameras.yaml key, a stream URL, a stored lesson title) made safe to print
to a terminal or write to a log line.

Such text can hold an escape sequence that clears a terminal or recolours it (``\\x1b[2J``), a
newline that forges a second log line, or a bidirectional override (U+202E) or line separator
(U+2028) that makes what is shown differ from what is stored. Those characters are written as
Python-style escapes instead, so the reader sees that they are there; every other character,
letters of any script included (``Müller``, ``Éloïse``), is kept as it is.
"""

from __future__ import annotations

import unicodedata

# control (Cc), format (Cf: bidirectional overrides, zero-width characters), line and paragraph
# separators (Zl, Zp); and lone surrogates (Cs), which are no text and make print() raise
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}  # as Python's repr() writes them


def safe_text(value: str) -> str:
    """``value`` with its control and format characters escaped (``\\x1b``, ``\\n``,
    ``\\u202e``), so it stays one line and shows what it holds.

    A backslash is kept as it is (a Windows path stays readable), so a text that spells ``\\x1b``
    itself looks the same as one holding the character: shown text is for reading, not parsing.
    """
    if value.isprintable():  # the usual case; False for every escaped category (and a few more)
        return value
    return "".join(_escape(c) if unicodedata.category(c) in _ESCAPED_CATEGORIES else c
                   for c in value)


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
