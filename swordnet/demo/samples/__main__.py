"""Regenerate the sample work images: ``python -m swordnet.demo.samples``."""

from swordnet.demo.samples import main

main()
