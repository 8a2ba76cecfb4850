"""``python -m attribution.scheduler``, where the CLI is not installed."""

import typer

from attribution.scheduler.app import scheduler_command

typer.run(scheduler_command)
