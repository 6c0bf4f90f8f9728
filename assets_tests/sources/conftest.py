"""The real PostgreSQL server, for the tests of the database sources."""

from assets_tests.postgres_server import postgres_server

__all__ = ["postgres_server"]
