"""What several ``slabdb sync`` commands share: options, which sync, where its index is."""

from __future__ import annotations

import typer

from slabdb.cli.data import require_existing
from slabdb.cli.errors import CommandError
from slabdb.cli.postgres import connect
from slabdb.sync import schema
from slabdb.sync.config import SyncConfig

NAME = typer.Option(None, "--name", help="Sync name (default: the only one installed).")
DATA_OVERRIDE = typer.Option(
    None,
    "--data",
    help="Use this SlabDB directory or store URL instead of the one `sync init` stored.",
)
QUEUE_URL = typer.Option(
    None, "--queue-url", envvar="SLABDB_SYNC_QUEUE_URL", help="SQS queue URL (--queue sqs)."
)
SQS_ENDPOINT = typer.Option(
    None, "--sqs-endpoint-url", envvar="AWS_ENDPOINT_URL_SQS", help="SQS endpoint override."
)


def installed_sync(dsn: str, name: str | None) -> str:
    """``name``, else the one sync installed in the database."""
    if name:
        return name
    with connect(dsn) as conn:
        names = schema.list_syncs(conn)
    if not names:
        raise CommandError("no sync is installed in this database (run `slabdb sync init`)")
    if len(names) > 1:
        raise CommandError(f"pass --name: this database has syncs {', '.join(names)}")
    return names[0]


def require_target_data(cfg: SyncConfig, data: str | None) -> None:
    """The embedded index's directory must exist (``--data`` or the stored location)."""
    if data:
        require_existing(data)
    elif not cfg.target_url and cfg.data:
        require_existing(cfg.data, what=f"the data location stored by `sync init` for {cfg.name}")
