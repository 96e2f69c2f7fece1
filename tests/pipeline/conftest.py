"""Fixtures of the pipeline's handler tests: the papers library on each store, and the fixtures of
``tests/papers`` (one library per test, both dialects)."""

from tests.papers.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    library_dialect,
    library_store,
    papers,
    shared_postgres_library,
)
