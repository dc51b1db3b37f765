"""The ``slabdb`` command line (Typer + Rich).

Importing this module (and ``slabdb --help``) loads no engine, server or Postgres code:
every command imports what it needs when it runs, and ``sync`` is a lazy sub-group.
"""

from __future__ import annotations

import typer

import slabdb
from slabdb.cli.bulk import import_command
from slabdb.cli.check import check
from slabdb.cli.demo import demo
from slabdb.cli.groups import LazyGroup, RootGroup
from slabdb.cli.indexes import compact, list_indexes
from slabdb.cli.serve import keys_app, serve

SYNC_HELP = (
    "Keep a Postgres table searchable by meaning. Every sync command takes --dsn "
    "or reads SLABDB_SYNC_DSN."
)


class SlabDBGroup(RootGroup):
    lazy_groups = (LazyGroup("sync", "slabdb.cli.sync:sync_app", SYNC_HELP),)


app = typer.Typer(
    cls=SlabDBGroup,
    help="SlabDB: a vector database with Pinecone's API and architecture, on your own machine.",
    no_args_is_help=True,
)
app.command()(serve)
app.add_typer(keys_app, name="keys")
app.command()(demo)
app.command("indexes")(list_indexes)
app.command()(compact)
app.command("check")(check)
app.command("import")(import_command)


def _print_version(value: bool) -> None:
    if value:
        print(f"slabdb {slabdb.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
