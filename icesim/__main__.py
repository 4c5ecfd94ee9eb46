"""`python -m icesim` = the `icesim` command."""

from .cli import main

main()
