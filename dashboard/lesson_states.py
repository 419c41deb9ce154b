"""Why a lesson's numbers are empty, as :func:`dashboard.lesson_frames.status` names it.

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
