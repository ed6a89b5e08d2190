"""`python -m tiercel module:app [options]`: see tiercel.cli."""

from tiercel.cli import main

main()
