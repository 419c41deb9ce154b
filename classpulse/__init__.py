"""ClassPulse: live, privacy-preserving classroom emotion aggregates.

This package holds what the parts share: settings, the wire format, the database schema and
migrations, the embedded broker and the command line.
"""

__version__ = "0.1.0"
