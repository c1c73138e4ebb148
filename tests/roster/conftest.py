"""Fixtures for the roster reader tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# The shared folder sits beside the repository root; fixtures are read in place.
SHARED_ROSTER = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "roster"


@pytest.fixture
def shared_roster() -> Path:
    """Return the folder of roster files written by other projects."""
    if not SHARED_ROSTER.is_dir():
        pytest.fail(f"shared fixtures not found at {SHARED_ROSTER}: CI clones beside shared/")
    return SHARED_ROSTER
