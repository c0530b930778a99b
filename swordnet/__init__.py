"""Swordnet: piracy monitoring and takedown tracker (application shell)."""

__version__ = "0.1.0"
