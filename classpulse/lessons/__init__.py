"""The timetable: lessons read from a school's CSV or iCalendar file (``classpulse lessons``)."""
