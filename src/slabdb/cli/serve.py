"""``slabdb serve`` and ``slabdb keys ...`` (projects and API keys)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from slabdb.cli.data import DATA_HELP, DEFAULT_DATA, create_directory, require_existing
from slabdb.cli.errors import CommandError
from slabdb.cli.listen import check_port_free

console = Console()
keys_app = typer.Typer(
    help="Manage API keys (the catalog in the --data directory, or --catalog).",
    no_args_is_help=True,
)

SERVE_DATA_HELP = (
    "The database: a directory (it must exist unless --init), file:///abs/dir, memory:// "
    "or s3://bucket/prefix."
)
CATALOG_HELP = (
    "Control catalog (projects, keys, index slots): a SQLite file path or a postgresql:// URL. "
    "Default: <data>/_control/catalog.sqlite3."
)


# A Typer command declares one parameter per command-line option: the long parameter list
# is the option list. The body is a few named steps.
def serve(
    data: str = typer.Option(DEFAULT_DATA, help=SERVE_DATA_HELP),
    init: bool = typer.Option(
        False,
        "--init",
        help="Create the --data directory (mode 0700) if it does not exist: a new database.",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(5080, min=1, max=65535, help="Control-plane port; index N on port+N."),
    catalog: str = typer.Option("", help=CATALOG_HELP),
    advertise_host: str = typer.Option(
        "", help="Host name to put in index hosts (default: --host)."
    ),
    advertise_port: int = typer.Option(
        0,
        min=0,
        max=65535,
        help="Port to put in index hosts, e.g. a load balancer's (default: the port served "
        "on; with per-index ports, index N on this port + N).",
    ),
    insecure_dev: bool = typer.Option(
        False, "--insecure-dev", help="Accept any API key (like Pinecone's local emulator)."
    ),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
    model_alias: Annotated[
        list[str] | None,
        typer.Option(
            "--model-alias",
            help="NAME=MODEL: let create_index_for_model call a local embedding model by "
            "another name, e.g. llama-text-embed-v2=minilm (repeatable).",
        ),
    ] = None,
    allow_test_embedders: bool = typer.Option(
        False,
        "--allow-test-embedders",
        help="Also allow the 'fake' embedding model (hash vectors, no meaning; for tests).",
    ),
    tls_cert: str = typer.Option(
        "", help="Serve REST and gRPC over TLS with this certificate (PEM, chain first)."
    ),
    tls_key: str = typer.Option("", help="The private key (PEM) of --tls-cert."),
    tls_self_signed: bool = typer.Option(
        False,
        "--tls-self-signed",
        help="Serve over TLS with a local CA and certificate for localhost/127.0.0.1, made "
        "(once) under <data>/_control/tls/; clients trust its ca.pem. For local use.",
    ),
    metrics_port: int = typer.Option(
        0, min=0, max=65535, help="Serve Prometheus metrics on this port (default: off)."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", help="Address of the metrics listener (no API key: keep it private)."
    ),
    docs: bool = typer.Option(
        False, "--docs", help="Serve API docs at /docs and /openapi.json (no key needed)."
    ),
    base_domain: str = typer.Option(
        "",
        help="Route by host name: serve every index on one port as "
        "<index>-<project>.DOMAIN (point a wildcard DNS record *.DOMAIN at the server or "
        "its load balancer). Default: each index on its own port.",
    ),
    data_port: int = typer.Option(
        0,
        min=0,
        max=65535,
        help="With --base-domain: serve the indexes on this port (default: the control port).",
    ),
    import_root: Annotated[
        list[str] | None,
        typer.Option(
            "--import-root",
            help="A directory (or s3://bucket/prefix) that bulk-import URIs sent over the API "
            "may lie under (repeatable). Without a directory, local paths are refused; "
            "without an s3:// prefix, any s3:// URI is allowed.",
        ),
    ] = None,
) -> None:
    """Serve the Pinecone-compatible REST and gRPC API.

    The first start in a database creates project 'default' and prints its API key
    (also stored in <data>/_control/default-api-key, mode 0600).
    """
    aliases = _model_aliases(model_alias or [], allow_test_embedders)
    _check_tls(tls_cert, tls_key, tls_self_signed)
    domain = _check_routing(base_domain, data_port, port)
    if not init:
        require_existing(data, hint="pass --init to create a new database there")
    _check_ports_free(host, port, metrics_host, metrics_port, data_port)  # before creating
    if init and (created := create_directory(data)) is not None:
        console.print(f"created data directory {created}", highlight=False)

    from slabdb.api.serve_options import ServeOptions
    from slabdb.api.server import run
    from slabdb.core.config import Settings

    settings = Settings(data=data)
    options = ServeOptions(
        data=settings.data, host=host, port=port, catalog=catalog or None,
        advertise_host=advertise_host or None, advertise_port=advertise_port or None,
        insecure_dev=insecure_dev, log_level=log_level,
        allow_test_embedders=allow_test_embedders, model_aliases=tuple(aliases.items()),
        docs=docs, metrics_host=metrics_host, metrics_port=metrics_port or None,
        tls_cert=tls_cert or None, tls_key=tls_key or None, tls_self_signed=tls_self_signed,
        base_domain=domain, data_port=data_port or None, import_roots=tuple(import_root or ()),
    )  # fmt: skip
    run(options, settings.engine_config())


def _model_aliases(specs: list[str], allow_test_embedders: bool) -> dict[str, str]:
    """``--model-alias NAME=MODEL`` values as a dict, checked against the known models."""
    from slabdb.embed.models import EmbedModels, parse_aliases

    try:
        aliases = parse_aliases(specs)
        EmbedModels(allow_test_models=allow_test_embedders, aliases=aliases)  # validate
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--model-alias") from exc
    return aliases


def _check_ports_free(
    host: str, port: int, metrics_host: str, metrics_port: int, data_port: int
) -> None:
    """One line for a port that is taken (or clashes), before anything is created."""
    check_port_free(host, port)
    if metrics_port:
        if metrics_port == port:
            raise CommandError("--metrics-port must differ from --port (index ports follow it)")
        check_port_free(metrics_host, metrics_port, flag="--metrics-port")
    if data_port:
        check_port_free(host, data_port, flag="--data-port")


_DOMAIN = re.compile(
    r"^(?=.{1,189}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _check_routing(base_domain: str, data_port: int, port: int) -> str | None:
    """The base domain (lower-case, no trailing dot) or None; one line if it cannot work."""
    domain = base_domain.strip().lower().rstrip(".")
    if base_domain and not _DOMAIN.match(domain):
        raise CommandError(f"--base-domain {base_domain!r} is not a DNS name")
    if data_port and not domain:
        raise CommandError("--data-port needs --base-domain (without it each index has its port)")
    if data_port and data_port == port:
        raise CommandError("--data-port must differ from --port (or leave it out)")
    return domain or None


def _check_tls(cert: str, key: str, self_signed: bool) -> None:
    """One line for a TLS option that cannot work, before anything is created."""
    if self_signed and (cert or key):
        raise CommandError("use either --tls-self-signed or --tls-cert/--tls-key, not both")
    if bool(cert) != bool(key):
        raise CommandError("--tls-cert and --tls-key go together")
    if cert:
        from slabdb.api.tls import TlsFiles, server_context

        try:
            server_context(TlsFiles(Path(cert), Path(key)))
        except ValueError as exc:
            raise CommandError(str(exc)) from None


def _catalog(data: str, catalog: str):  # type: ignore[no-untyped-def]
    """The control catalog named by ``--catalog`` (the store is not touched then), else the
    SQLite file in the ``--data`` directory."""
    from slabdb.api.control_files import catalog_url
    from slabdb.control.catalog_db import ControlCatalog
    from slabdb.core.errors import StorageError
    from slabdb.storage import open_store

    try:
        if catalog:
            return ControlCatalog(catalog)
        require_existing(data)
        store = open_store(data)
        try:
            return ControlCatalog(catalog_url(store, None))
        finally:
            store.close()
    except StorageError as exc:  # the message never holds the URL's password
        raise typer.BadParameter(exc.message, param_hint="--catalog") from None


@keys_app.command("create")
def keys_create(
    project: str = typer.Option("default", help="Project the key belongs to (created if new)."),
    data: str = typer.Option(DEFAULT_DATA, help=DATA_HELP),
    catalog: str = typer.Option("", help=CATALOG_HELP),
) -> None:
    """Create an API key and print it (it is shown only this once)."""
    from slabdb.client import validation
    from slabdb.control.keys import new_key
    from slabdb.control.projects import DEFAULT_PROJECT
    from slabdb.core.errors import AlreadyExistsError, NotFoundError

    cat = _catalog(data, catalog)
    try:
        try:
            cat.get_project(project)
        except NotFoundError:
            validation.index_name(project)
            prefix = "" if project == DEFAULT_PROJECT else f"projects/{project}/"
            try:
                cat.create_project(project, prefix)
                console.print(f"created project [bold]{project}[/]", highlight=False)
            except AlreadyExistsError:  # created concurrently (another server or CLI)
                pass
        key = new_key()
        cat.add_key(key.key_id, project, key.key_hash)
    finally:
        cat.close()
    print(key.plaintext)


@keys_app.command("list")
def keys_list(
    project: str = typer.Option("", help="Only this project's keys."),
    data: str = typer.Option(DEFAULT_DATA, help=DATA_HELP),
    catalog: str = typer.Option("", help=CATALOG_HELP),
) -> None:
    """List key ids (never the keys themselves)."""
    cat = _catalog(data, catalog)
    try:
        rows = cat.list_keys(project or None)
    finally:
        cat.close()
    table = Table("key id", "project", "created", "revoked")
    for r in rows:
        created = dt.datetime.fromtimestamp(r.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        table.add_row(r.key_id, r.project, created, "yes" if r.revoked else "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The 8-character key id (sdb-<key id>-...)."),
    data: str = typer.Option(DEFAULT_DATA, help=DATA_HELP),
    catalog: str = typer.Option("", help=CATALOG_HELP),
) -> None:
    """Revoke a key (servers stop accepting it within a few seconds)."""
    cat = _catalog(data, catalog)
    try:
        cat.revoke_key(key_id)
    finally:
        cat.close()
    console.print(f"revoked {key_id}")
