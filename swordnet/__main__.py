"""``python -m swordnet``: the same as the ``swordnet`` command."""

from swordnet.cli.main import main

main()
