"""The web console and REST API (FastAPI): ``swordnet serve``. Nothing else imports it."""
