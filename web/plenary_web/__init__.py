"""Plenary's browser app, served by the gateway at `/`."""
