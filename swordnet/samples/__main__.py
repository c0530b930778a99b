"""Regenerate the sample work images: ``python -m swordnet.samples``."""

from swordnet.samples import main

main()
