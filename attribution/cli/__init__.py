"""The ``attribution`` command line, a module per command group.

:mod:`~attribution.cli.root` assembles them; :mod:`~attribution.cli.launch` is the console script's entry
(``attribution = "attribution.cli:entry"``). Every heavy import (the scheduler, collectors, SQLAlchemy,
numpy, FastAPI, the reports) happens inside the command that needs it, so ``attribution --help`` starts
fast.
"""

from attribution.cli.launch import entry, main
from attribution.cli.root import app, cli_command

__all__ = ["app", "cli_command", "entry", "main"]
