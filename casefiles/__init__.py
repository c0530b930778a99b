"""Hits to cases: review decisions, the case state, and the hash-chained custody log."""
