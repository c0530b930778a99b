"""Modules pytest must not import to collect their doctests (``--doctest-modules``).

Paths are fnmatch patterns from this directory (``*`` crosses ``/``), so they hold wherever
the packages' subfolders move: Alembic's environment runs migrations when imported and only
works inside Alembic, its revision files have no examples, and ``__main__`` runs the CLI.
"""

collect_ignore_glob = ["swordnet/*migrations/*", "swordnet/*__main__.py"]
