"""The core: settings, database, data model, time, text checks, the instance key.

It imports nothing else of ours (the layers contract in pyproject.toml checks it)."""
