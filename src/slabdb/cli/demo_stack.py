"""``slabdb demo``: the whole system on one machine, started and stopped as one.

In order (stopped in reverse, on Ctrl-C or SIGTERM):

1. PostgreSQL: Debian's binaries as the ``postgres`` user, the cluster in
   ``<data>/postgres`` (``initdb`` on the first run), listening on 127.0.0.1 only, its
   socket in ``<data>/run``; role and database ``slabdb`` / ``slabdb_demo``.
2. ``slabdb serve --init --data <data>/slabdb`` with metrics; its API key is read from
   ``<data>/slabdb/_control/default-api-key``.
3. ``python -m slabdb.app setup`` (first run only): the product snapshot into Postgres,
   BM25 statistics, the hybrid index, the sync and its bootstrap.
4. ``python -m slabdb.app worker``: sync workers writing dense + sparse records; a
   progress bar follows the pending events down to zero.
5. ``python -m slabdb.app serve``: the web app; then the line
   ``SlabDB demo ready: http://127.0.0.1:<port>/``.

Logs go to ``<data>/logs/<part>.log``. A second run finds everything in place (no
setup, nothing pending) and is ready as soon as the processes answer.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from slabdb.cli.demo_ports import DemoPorts, choose_ports
from slabdb.cli.demo_processes import Child, Children, http_ok, signals_ignored, wait_until
from slabdb.cli.errors import CommandError
from slabdb.cli.listen import check_port_free
from slabdb.cli.local_postgres import PostgresServer, owned_dir

DEMO_DATABASE = "slabdb_demo"
SYNC_NAME = "products"
API_KEY_ENV = "SLABDB_API_KEY"
BM25_FILE = "bm25-stats.json.gz"
KEY_FILE = Path("_control") / "default-api-key"
START_TIMEOUT_SECONDS = 120.0
SETUP_TIMEOUT_SECONDS = 900.0
STATUS_POLL_SECONDS = 0.5
PLAIN_PROGRESS_SECONDS = 15.0
READY_LINE = "SlabDB demo ready: http://{host}:{port}/"
MAX_SOCKET_PATH = 100
"""A Unix socket path must fit in 108 bytes (``.s.PGSQL.NNNNN`` included)."""


@dataclass(frozen=True)
class DemoOptions:
    data: Path
    port: int = 8080
    rows: int | None = None
    workers: int = 2
    host: str = "127.0.0.1"


SHARED_PG_BASE = Path("/var/lib/postgresql/slabdb-demo")
"""Where the cluster lives when the ``postgres`` user cannot enter the data directory
(a checkout under root's private home): one directory per data directory."""


@dataclass(frozen=True)
class DemoLayout:
    """The state directory's parts."""

    root: Path
    pg_base: Path | None = None
    """Where the cluster and its socket live, when not under ``root``."""

    @property
    def postgres(self) -> Path:
        return (self.pg_base or self.root) / "postgres"

    @property
    def run(self) -> Path:
        return (self.pg_base or self.root) / "run"

    def shared(self) -> DemoLayout:
        """This layout with its cluster under :data:`SHARED_PG_BASE`."""
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return replace(self, pg_base=SHARED_PG_BASE / digest)

    @property
    def slabdb(self) -> Path:
        return self.root / "slabdb"

    @property
    def app(self) -> Path:
        return self.root / "app"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def ports(self) -> Path:
        return self.root / "ports.json"


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


class DemoStack:
    """Starts the parts, waits for each, prints the ready line, stops them all."""

    def __init__(self, options: DemoOptions, console: Console | None = None) -> None:
        self.options = options
        self.layout = DemoLayout(options.data.resolve())
        self.console = console or Console()
        self.children = Children(self.layout.logs)
        self.postgres: PostgresServer | None = None
        self._postgres_started = False
        self.ports = DemoPorts()
        self.api_key = ""
        self.ready_seconds: float | None = None

    # -- the whole run --------------------------------------------------------------------

    def run(self) -> None:
        """Start everything, serve until Ctrl-C/SIGTERM (KeyboardInterrupt), stop."""
        started = time.monotonic()
        try:
            self.start()
            self.ready_seconds = time.monotonic() - started
            self._say(f"started in {self.ready_seconds:.1f} s; Ctrl-C stops everything")
            print(READY_LINE.format(host=self.options.host, port=self.options.port), flush=True)
            self._watch()
        except KeyboardInterrupt:
            self._say("stopping ...")
        finally:
            self.stop()

    def start(self) -> None:
        check_port_free(self.options.host, self.options.port)
        self._prepare_directories()
        self.ports = choose_ports(self.layout.ports, self.options.port)
        server = self._spawn_slabdb()
        self._start_postgres()
        wait_until(
            self._slabdb_healthy, "slabdb serve", timeout=START_TIMEOUT_SECONDS, watch=[server]
        )
        self.api_key = self._read_key()
        self._say(
            f"SlabDB on {self.slabdb_url}: console {self.slabdb_url}/console, API key in "
            f"{self.layout.slabdb / KEY_FILE}"
        )
        if self._needs_setup():
            self._setup()
        workers = self._spawn_workers()
        app = self._spawn_app()
        self._follow_sync(workers)
        url = f"http://{self.options.host}:{self.options.port}/healthz"
        wait_until(lambda: http_ok(url), "the web app", timeout=START_TIMEOUT_SECONDS, watch=[app])

    def stop(self) -> None:
        """Every child (last started first), then PostgreSQL; signals are ignored meanwhile."""
        with signals_ignored():
            self.children.stop_all(report=self._say)
            if self.postgres is not None and self._postgres_started:
                try:
                    self.postgres.stop("fast")
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                    self._say(f"[red]PostgreSQL did not stop cleanly:[/] {exc}")
                else:
                    self._say("stopped PostgreSQL")
            self._say("stopped")

    def _watch(self) -> None:
        """Until interrupted: say when a part stops (the app shows it too)."""
        while True:
            for child in self.children.newly_exited():
                self._say(
                    f"[yellow]{child.name} stopped[/] (exit {child.process.returncode}; "
                    f"log: {child.log_path})"
                )
            time.sleep(1.0)

    def _say(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    # -- directories and PostgreSQL ---------------------------------------------------------

    def _prepare_directories(self) -> None:
        root = self.layout.root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.layout.logs.mkdir(exist_ok=True)
        self.layout.app.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # the postgres user must pass through to <data>/postgres (not list or read)
            root.chmod(root.stat().st_mode | 0o111)

    def _start_postgres(self) -> None:
        layout = self.layout
        server = PostgresServer.at(layout.postgres, layout.run, 0, database=DEMO_DATABASE)
        if not self._reachable(server):
            layout = self.layout = layout.shared()
            owned_dir(SHARED_PG_BASE, server.run_as, mode=0o755)
            owned_dir(layout.pg_base or SHARED_PG_BASE, server.run_as)
            self._say(
                f"the {server.run_as} user cannot enter {layout.root}: its PostgreSQL "
                f"cluster lives in {layout.pg_base}"
            )
            server = PostgresServer.at(layout.postgres, layout.run, 0, database=DEMO_DATABASE)
        self._check_socket_path()
        if server.initialized() and server.running():
            self._say("stopping a PostgreSQL left running by an earlier demo")
            server.stop("fast")
        server = replace(server, port=self.ports.postgres)
        self.postgres = server
        if server.init():
            self._say(f"created a PostgreSQL cluster in {layout.postgres}")
        self._postgres_started = True
        server.start()
        server.ensure_database()
        self._say(f"PostgreSQL on 127.0.0.1:{server.port} (log: {server.log_path})")

    def _check_socket_path(self) -> None:
        socket_path = self.layout.run / f".s.PGSQL.{self.ports.postgres}"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            raise CommandError(
                f"--data {self.layout.root} is too deep for PostgreSQL's socket "
                f"({socket_path}): use a shorter path"
            )

    def _reachable(self, server: PostgresServer) -> bool:
        """Whether the server's user (``postgres`` when we are root) can enter the data
        directory, which every parent directory must allow."""
        if server.run_as is None:
            return True
        probe = ["runuser", "-u", server.run_as, "--", "test", "-x", str(self.layout.root)]
        return subprocess.run(probe, check=False).returncode == 0

    @property
    def dsn(self) -> str:
        assert self.postgres is not None
        return self.postgres.dsn

    # -- SlabDB ---------------------------------------------------------------------------

    @property
    def slabdb_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.slabdb}"

    def _spawn_slabdb(self) -> Child:
        argv = _python(
            "slabdb.cli", "serve", "--init", "--data", str(self.layout.slabdb),
            "--port", str(self.ports.slabdb), "--metrics-port", str(self.ports.metrics),
            "--log-level", "warning",
        )  # fmt: skip
        return self.children.spawn("slabdb-serve", argv)

    def _slabdb_healthy(self) -> bool:
        return http_ok(f"{self.slabdb_url}/health")

    def _read_key(self) -> str:
        path = self.layout.slabdb / KEY_FILE
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise CommandError(f"no API key at {path} ({exc.strerror})") from exc

    # -- the app: setup, workers, web -------------------------------------------------------

    def _app_args(self, command: str) -> list[str]:
        return _python(
            "slabdb.app", command, "--dsn", self.dsn, "--slabdb-url", self.slabdb_url,
            "--state", str(self.layout.app),
        )  # fmt: skip

    @property
    def _env(self) -> dict[str, str]:
        return {API_KEY_ENV: self.api_key}

    def _needs_setup(self) -> bool:
        """False when an earlier run finished the setup (sync bootstrapped, BM25 saved)."""
        from slabdb.sync import read_status

        if not (self.layout.app / BM25_FILE).exists():
            return True
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                status = read_status(conn, SYNC_NAME)
        except psycopg.Error:
            return True
        return not (status and status[0].bootstrapped)

    def _setup(self) -> None:
        argv = self._app_args("setup")
        if self.options.rows is not None:
            argv += ["--rows", str(self.options.rows)]
        with self.console.status("setting up: products into PostgreSQL, BM25, index, sync"):
            child = self.children.spawn("setup", argv, self._env)
            code = child.process.wait(SETUP_TIMEOUT_SECONDS)
        if code != 0:
            raise child.failed()
        self.children.forget(child)
        self._say(child.log_tail(1) or "set up")

    def _spawn_workers(self) -> Child:
        argv = [*self._app_args("worker"), "--workers", str(self.options.workers)]
        return self.children.spawn("sync-workers", argv, self._env)

    def _spawn_app(self) -> Child:
        argv = [
            *self._app_args("serve"),
            "--slabdb-metrics-url", f"http://127.0.0.1:{self.ports.metrics}",
            "--host", self.options.host, "--port", str(self.options.port),
        ]  # fmt: skip
        return self.children.spawn("web-app", argv, self._env)

    def _pending(self) -> int:
        from slabdb.sync import read_status

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            status = read_status(conn, SYNC_NAME)
        return status[0].pending if status else 0

    def _follow_sync(self, workers: Child) -> None:
        """A progress bar while the workers drain the outbox (the first run's embedding)."""
        pending = self._pending()
        if pending == 0:
            return
        self._say(
            f"embedding {pending:,} products (first run only); meanwhile the app at "
            f"http://{self.options.host}:{self.options.port}/ finds what is indexed so far"
        )
        columns = (
            TextColumn("indexing products"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(),
        )  # fmt: skip
        plain = not self.console.is_terminal  # a log or a pipe: a line now and then
        said = time.monotonic()
        with Progress(*columns, console=self.console, disable=plain) as bar:
            task = bar.add_task("sync", total=pending)
            total = pending
            while pending > 0:
                if not workers.alive():
                    raise workers.failed()
                time.sleep(STATUS_POLL_SECONDS)
                pending = self._pending()
                total = max(total, pending)
                bar.update(task, total=total, completed=total - pending)
                if plain and time.monotonic() - said >= PLAIN_PROGRESS_SECONDS:
                    self._say(f"indexing products: {total - pending:,}/{total:,}")
                    said = time.monotonic()
        self._say(f"indexed {total:,} products")
