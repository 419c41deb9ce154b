"""The timetable: lessons imported from a school's CSV or iCalendar files (``classpulse lessons``)."""
