"""The root command's lazy subcommands, and help texts in plain words.

``attribution --help`` must start fast (well under half a second): it lists every command, but importing
the scheduler, the collectors or the simulator pulls in APScheduler, SQLAlchemy, numpy and pydantic. So
the root (:class:`LazyGroup`) holds a placeholder for each of those (its name and short help, in its place
in the list) and imports the real command only when it is run or its own help is asked for, built exactly
as ``app.add_typer`` would have built it. Whoever walks the whole tree (``commands``: tests, docs) gets
every real command.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:  # typer vendors click: its commands are of these types, not the click package's
    from typer._click import Command, Context, HelpFormatter

_ROLES = re.compile(r":(?:class|func|meth|attr|mod|data):`~?([^`]+)`")


def plain(text: str | None) -> str | None:
    """Docstrings are reStructuredText for the docs; ``--help`` shows them as plain text."""
    return None if text is None else _ROLES.sub(r"\1", text).replace("``", "")


def plain_tree(command: Command) -> Command:
    """``command`` and everything under it with every help text in plain words (in place)."""
    todo = [command]
    while todo:
        one = todo.pop()
        one.help = plain(one.help)
        one.short_help = plain(one.short_help)
        for param in one.params:
            if hasattr(param, "help"):
                param.help = plain(param.help)
        subs = one.loaded if isinstance(one, LazyGroup) else getattr(one, "commands", {})
        todo.extend(subs.values())
    return command


class LazyGroup(TyperGroup):
    """A typer group whose ``lazy`` commands (name -> ``"module:attribute"``, a ``typer.Typer`` or a
    command function) are imported on first use; until then their placeholder stands in."""

    lazy: ClassVar[dict[str, str]] = {}

    def __init__(self, **attrs: Any) -> None:
        self._listing = False
        super().__init__(**attrs)
        plain_tree(self)

    @property
    def loaded(self) -> MutableMapping[str, Command]:
        """The commands as they stand: the lazy ones still placeholders unless they were used."""
        return self._commands

    @property
    def commands(self) -> MutableMapping[str, Command]:
        """Every command, the lazy ones imported."""
        for name in self.lazy:
            self._load(name)
        return self._commands

    @commands.setter
    def commands(self, value: MutableMapping[str, Command]) -> None:
        self._commands = value
        self._imported: set[str] = set()

    def add_command(self, cmd: Command, name: str | None = None) -> None:
        self._commands[name or cmd.name or ""] = cmd

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self._commands)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if not self._listing:
            self._load(cmd_name)
        return self._commands.get(cmd_name)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The list of commands, from the placeholders: nothing is imported to list it."""
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def _load(self, name: str) -> None:
        if name not in self.lazy or name in self._imported:
            return
        module, _, attribute = self.lazy[name].partition(":")
        target = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer(rich_markup_mode=self.rich_markup_mode)  # built as add_typer builds it
        holder.callback()(_no_options)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
        else:
            holder.command(name)(target)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        self._commands[name] = plain_tree(group.commands[name])
        self._imported.add(name)


def _no_options() -> None:
    """A callback, so that typer builds a group around the one command."""
