"""Persistence of accepted evidence: the Store protocol and its backends."""
