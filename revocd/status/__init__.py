"""Freshness, answers and the in-memory status cache."""
