"""Shared fixtures: the real-stack fixtures live in the kit so every test package uses the same ones."""

from __future__ import annotations

import pytest
from plenary_kit.auth import generate_keypair

pytest_plugins = ["plenary_kit.testing.stack_fixtures"]


@pytest.fixture(scope="session")
def jwt_keys() -> tuple[str, str]:
    """(private PEM, public PEM) of a key pair made for this test session."""
    return generate_keypair()
