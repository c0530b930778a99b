"""Registered works: registration, precomputed fingerprints, quarantine, previews."""
