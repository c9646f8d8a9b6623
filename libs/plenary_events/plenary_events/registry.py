"""The one registry of Plenary's event types. Domain modules register their models on import."""

from plenary_kit.envelope import EventRegistry

registry = EventRegistry()


def load_all() -> EventRegistry:
    """Import every domain module so the registry knows every type; return it."""
    from plenary_events import topics  # noqa: F401  (imports the domain modules)

    return registry
