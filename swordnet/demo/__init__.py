"""The demo: a generated pirate site, sample works and the end-to-end run."""
