"""A lesson's state, as :mod:`dashboard.lesson_frames` names it: why its numbers are empty
(:func:`~dashboard.lesson_frames.status`), or why they rest on part of it
(:func:`~dashboard.lesson_frames.part_of_lesson`).

Apart from both modules that use them: ``lesson_frames`` decides the state and imports
``dashboard.text`` (for the minute's closing time), and ``text`` words each state, so neither can
import the other for them.
"""

from __future__ import annotations

NO_DATA = "no data"
NOT_YET = "not held yet"
UNDER_WAY = "under way, no minute yet"
CLOSING = "ended, minutes still closing"
ALL_HIDDEN = "all minutes hidden"
UNREADABLE = "most faces not read"
# every state a lesson without numbers to show may be in; "" is a lesson with them
STATES: tuple[str, ...] = (NO_DATA, NOT_YET, UNDER_WAY, CLOSING, ALL_HIDDEN, UNREADABLE)

SO_FAR = "under way"
PART_RECORDED = "partly recorded"
# every state of a lesson with minutes whose numbers rest on part of it: under way, ended with its
# last minutes still closing (CLOSING again: with no minute yet it is a state of STATES), or ended
# with data for too few of its minutes; the row's note adds how many (``dashboard.text.
# lesson_part``), and the lesson is compared with no other
PART_STATES: tuple[str, ...] = (SO_FAR, CLOSING, PART_RECORDED)
