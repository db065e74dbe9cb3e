"""Fixtures shared with the index tests (a synthetic 4-model collection)."""

from tests.index.conftest import cameras, collection  # noqa: F401
