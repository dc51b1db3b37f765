"""The root command group: sub-groups loaded on first use, errors printed in one line.

``slabdb --help`` must answer at once, so a heavy sub-group (``sync`` imports psycopg and
the whole pipeline) is listed from a :class:`LazyGroup` entry — its name and help only —
and imported when a command is resolved through it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer import _click as click  # Typer 0.29 (pinned) vendors Click: its classes are these
from typer.core import TyperGroup

from slabdb.cli.errors import EXIT_ERROR, report_error
from slabdb.core.errors import SlabDBError


@dataclass(frozen=True)
class LazyGroup:
    """A sub-group listed by name and help, imported (``module:attribute``, a Typer app)
    only when one of its commands runs."""

    name: str
    target: str
    help: str

    def load(self) -> click.Command:
        module_name, _, attribute = self.target.partition(":")
        sub_app = getattr(importlib.import_module(module_name), attribute)
        command = typer.main.get_command(sub_app)
        command.name = self.name
        command.help = self.help
        return command

    def placeholder(self) -> click.Command:
        """What the root's help lists: the name and help, nothing imported."""
        return TyperGroup(name=self.name, help=self.help)


class RootGroup(TyperGroup):
    """``slabdb``: resolves lazy sub-groups and turns SlabDB errors into one line."""

    lazy_groups: ClassVar[tuple[LazyGroup, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = {group.name: group for group in self.lazy_groups}
        self._formatting_help = False
        for group in self.lazy_groups:  # listed (and suggested for typos) like the others
            self.commands.setdefault(group.name, group.placeholder())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self._lazy.pop(cmd_name, None) if not self._formatting_help else None
        if lazy is not None:
            self.commands[cmd_name] = lazy.load()
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._formatting_help = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._formatting_help = False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SlabDBError as exc:
            report_error(exc.message)
            raise typer.Exit(EXIT_ERROR) from None
