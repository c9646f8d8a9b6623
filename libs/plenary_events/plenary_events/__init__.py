"""Plenary's event contracts: the topic catalogue, versioned event models and the shared vocabularies.

Every event model is registered in `registry` under its versioned type name; `contracts/` at the repo root holds
the JSON Schemas and the AsyncAPI document generated from them (`python -m plenary_events.export`).
"""

from plenary_events.registry import registry

__all__ = ["registry"]
