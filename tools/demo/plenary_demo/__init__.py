"""Plenary demo dataset: the virtual WSIS Forum 2020, generated deterministically (no I/O in this package's
generators; the loader that sends the data to the services lives beside them)."""

from plenary_demo.population import expected_figures, generate_attendees
from plenary_demo.programme import generate_exhibitors, generate_sessions, generate_speakers

__all__ = [
    "expected_figures",
    "generate_attendees",
    "generate_exhibitors",
    "generate_sessions",
    "generate_speakers",
]
