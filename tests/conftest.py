"""Fixtures shared by every test area: real services (broker, PostgreSQL, SQLite) and data paths."""

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.db"]
