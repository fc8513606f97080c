"""``python -m openlend.antifraud [--output FILE]``: train the fraud model and print its metrics."""

from .model import main

main()
