"""Plenary sessions service: agenda, speakers, seats and waiting lists, live sessions, Q&A, recordings."""
