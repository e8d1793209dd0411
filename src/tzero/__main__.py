"""``python -m tzero``: the command line."""

from tzero.cli import main

main()
