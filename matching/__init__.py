"""Fingerprint signal types, their indexes, and the match index. Pure: no database."""
