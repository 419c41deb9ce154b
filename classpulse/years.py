"""The days ClassPulse counts: 2000-01-01 to 2099-12-31 (UTC), both included.

A frame may be captured on them (``classpulse.wire`` refuses others), a timetable may name them
(``classpulse.lessons``), and the lessons view opens their weeks (``dashboard.lesson_frames``), so
no counted minute lies outside what they show. Hostile times (year 1, year 9999) are refused
before date arithmetic overflows on them. A module of its own so that the timetable and the
dashboard need not load the wire's image codecs for two dates.
"""

from __future__ import annotations

from datetime import date

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
