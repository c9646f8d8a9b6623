"""Plenary's shared plumbing: the one home of what every service needs."""
