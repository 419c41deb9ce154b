"""A lesson's state, as :mod:`dashboard.lesson_frames` names it: why its numbers are empty
(:func:`~dashboard.lesson_frames.status`), or why they rest on part of it
(:func:`~dashboard.lesson_frames.part_of_lesson`).

Apart from both modules that use them: ``lesson_frames`` decides the state and imports
``dashboard.text`` to word a row's note (``text.lesson_part``), and ``text`` words each state, so
neither can import the other for them. Both, and the page, name them here.
"""

from __future__ import annotations

# why a lesson has no numbers to show; "" is a lesson with them
NO_DATA = "no data"
NOT_YET = "not held yet"
UNDER_WAY = "under way, no minute yet"
CLOSING = "ended, minutes still closing"
ALL_HIDDEN = "all minutes hidden"
UNREADABLE = "most faces not read"

# why a lesson's numbers rest on part of it: under way, ended with its last minutes still closing
# (CLOSING again: with no minute yet it is a state above), or ended with data for too few of its
# minutes; the row's note adds how many (``dashboard.text.lesson_part``), and the lesson is
# compared with no other
SO_FAR = "under way"
PART_RECORDED = "partly recorded"
