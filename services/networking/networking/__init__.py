"""Plenary networking service."""
