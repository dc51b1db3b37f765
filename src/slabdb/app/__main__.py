"""``python -m slabdb.app [serve|setup|worker] --dsn ... --slabdb-url ... --port ...``

* ``setup``: load the product snapshot into Postgres (if the table is empty), fit the
  BM25 statistics, create the hybrid index, install the sync and queue every row.
* ``worker``: run sync workers that write dense + sparse records (until Ctrl-C).
* ``serve`` (the default): the web app; ``--workers N`` also runs N workers inside it.

The served SlabDB's API key is read from ``$SLABDB_API_KEY``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from slabdb.app.catalog import default_snapshot
from slabdb.app.pipeline import load_or_fit_encoder, open_workers, setup
from slabdb.app.settings import API_KEY_ENV, AppSettings
from slabdb.sync import WorkerPool, WorkerSettings

COMMANDS = ("serve", "setup", "worker")
DSN_ENV = "SLABDB_SYNC_DSN"
BM25_FILE = "bm25-stats.json.gz"
WORKER_BATCH_KEYS = 16
"""Smaller than the sync's default: a batch of long descriptions embeds in seconds on two
cores, so a stop (which waits for the batch in hand) is quick."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m slabdb.app", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--dsn", default=os.environ.get(DSN_ENV, ""), help=f"Postgres (or ${DSN_ENV})")
    p.add_argument("--slabdb-url", default="", help="a running `slabdb serve` (control plane)")
    p.add_argument("--slabdb-data", default="", help="or: an embedded SlabDB directory/URL")
    p.add_argument(
        "--slabdb-metrics-url", default="", help="the served SlabDB's --metrics-port listener"
    )
    p.add_argument("--state", type=Path, default=Path("demo-data/app"), help="app state dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=0, help="sync worker threads (serve/worker)")
    p.add_argument("--snapshot", type=Path, default=None, help="product catalog (setup)")
    p.add_argument("--rows", type=int, default=None, help="load only the first N rows (setup)")
    return p


def _settings(args: argparse.Namespace) -> AppSettings:
    if not args.dsn:
        sys.exit(f"pass --dsn or set ${DSN_ENV}")
    if not (args.slabdb_url or args.slabdb_data):
        sys.exit("pass --slabdb-url (slabdb serve) or --slabdb-data (embedded)")
    return AppSettings(
        dsn=args.dsn,
        slabdb_url=args.slabdb_url,
        slabdb_data=args.slabdb_data,
        slabdb_metrics_url=args.slabdb_metrics_url,
        bm25_path=args.state / BM25_FILE,
    )


def _setup(settings: AppSettings, args: argparse.Namespace) -> None:
    assert settings.bm25_path is not None
    index = settings.open_index()
    cfg, _ = setup(
        settings.dsn,
        index,
        snapshot=args.snapshot or default_snapshot(),
        encoder_path=settings.bm25_path,
        rows=args.rows,
        data=settings.slabdb_data,
        target_url=settings.slabdb_url,
        api_key_env=API_KEY_ENV if settings.slabdb_url else "",
    )
    index.close()
    print(f"set up: table {cfg.qualified_table} -> index {cfg.index} (sync {cfg.name})")


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _worker_pool(settings: AppSettings, threads: int) -> WorkerPool:
    from slabdb.app.catalog import ProductStore

    assert settings.bm25_path is not None
    index = settings.open_index()
    encoder = load_or_fit_encoder(ProductStore(settings.dsn), settings.bm25_path)
    return open_workers(
        settings.dsn,
        index,
        encoder,
        threads=threads,
        make_settings=lambda: WorkerSettings(batch_keys=WORKER_BATCH_KEYS),
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        argv = ["serve", *argv]
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("slabdb").setLevel(logging.INFO)
    settings = _settings(args)
    if args.command == "setup":
        _setup(settings, args)
        return 0
    if args.command == "worker":
        with _worker_pool(settings, max(1, args.workers)):
            _wait_for_signal()
        return 0
    import uvicorn

    from slabdb.app.web import create_app

    pool = _worker_pool(settings, args.workers) if args.workers > 0 else None
    if pool is not None:
        pool.start()
    try:
        print(f"SlabDB app on http://{args.host}:{args.port}/", flush=True)
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    finally:
        if pool is not None:
            pool.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
