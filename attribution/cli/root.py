"""The root ``attribution`` command: every group and command in its place, the heavy ones lazily.

``scheduler``, ``collect`` and ``sim`` are imported only when used (:class:`~attribution.cli.lazy.LazyGroup`):
their placeholders here carry the short help the root's ``--help`` lists, and ``tests/test_cli.py`` checks
that it matches the real commands'.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.main

from attribution.cli.admin import config_app, db_app, keys_app, serve
from attribution.cli.budgets import budgets_app
from attribution.cli.common import console
from attribution.cli.demo import demo
from attribution.cli.lazy import LazyGroup
from attribution.cli.ledger import attribute, period_app
from attribution.cli.reports import report_app


class RootGroup(LazyGroup):
    lazy = {  # noqa: RUF012 - read only, as LazyGroup.lazy
        "scheduler": "attribution.scheduler.app:scheduler_command",
        "collect": "attribution.collectors.cli:collect_app",
        "sim": "attribution.sim.cli:app",
    }


#: Plain help (no rich boxes): rich help printed a ``<bool>`` metavar beside every flag.
app = typer.Typer(
    cls=RootGroup,
    no_args_is_help=True,
    add_completion=False,
    help="The ``attribution`` command line.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _imported_when_run() -> None:
    """A lazy command's placeholder: never run, the real command replaces it first."""


app.command(
    "scheduler",
    help="Collect on a schedule (one job per collector and source) and attribute what was collected.",
)(_imported_when_run)
app.command()(demo)
app.command()(attribute)
app.command()(serve)
app.add_typer(db_app, name="db")
app.add_typer(report_app, name="report")
app.add_typer(period_app, name="period")
app.add_typer(budgets_app, name="budgets")
app.add_typer(
    typer.Typer(help="Collect telemetry from the configured sources into the database."), name="collect"
)
app.add_typer(
    typer.Typer(help="``attribution sim``: the simulated cluster, as history files or live endpoints."),
    name="sim",
)
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("attribution")
        except PackageNotFoundError:  # run from a checkout without installing it
            from attribution import __version__ as installed
        console().print(f"attribution {installed}")
        raise typer.Exit


@app.callback()
def _setup_logging(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version, exit."),
    ] = False,
) -> None:
    # Every command (serve, scheduler, collect, attribute, ...) logs as log_format/log_level say. A bad
    # config is left for the command itself to report, with the key and the problem.
    from attribution.config import load_settings
    from attribution.errors import AttributionError
    from attribution.logging import setup_from_settings, setup_logging

    try:
        setup_from_settings(load_settings())
    except AttributionError:
        setup_logging()


def cli_command() -> Any:
    """The click command behind ``app`` (typer's own click), with every help text in plain words."""
    return typer.main.get_command(app)
