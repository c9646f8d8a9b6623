"""Test support: in-memory twins (memory.py) and the real-stack pytest fixtures (stack_fixtures.py)."""
