"""How a command fails: one line on stderr, ``error: <what>``, and exit status 1.

Commands raise :class:`CommandError` (or any :class:`~slabdb.core.errors.SlabDBError`);
the root group (:mod:`slabdb.cli.groups`) prints it with :func:`report_error`. Never a
traceback for a mistake the user can fix.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from slabdb.core.errors import SlabDBError

EXIT_ERROR = 1
"""Exit status of a command that failed (usage errors keep Click's 2)."""

stderr = Console(stderr=True)


class CommandError(SlabDBError):
    """A command cannot go on; its message is the one line the user sees."""


def one_line(message: str) -> str:
    """``message`` on one line (extra lines, such as libpq's hints, are dropped)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed"


def report_error(message: str) -> None:
    """Print ``error: <message>`` on stderr, never wrapped onto a second line."""
    line = Text("error: ", style="bold red")
    line.append(one_line(message))
    stderr.print(line, soft_wrap=True, highlight=False)
