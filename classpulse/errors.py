"""Errors shared by every part."""


class UsageError(Exception):
    """A problem the user can fix (bad file, missing weights, unreachable service).

    The CLI prints it as one line, without a traceback, and exits with status 2. The message must
    name the offending value and say what to do.
    """
