"""The files ``slabdb serve`` keeps under ``<data>/_control/``: the SQLite control
catalog, the first API key (mode 0600) and the ``--tls-self-signed`` CA and certificate."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from slabdb.api.serve_options import ServeOptions
from slabdb.api.tls import LOCAL_NAMES, TLS_DIR, TlsFiles, self_signed
from slabdb.control.catalog_db import ControlCatalog
from slabdb.control.keys import NewKey
from slabdb.storage import ObjectStore
from slabdb.storage.local_writer import make_private_dir

CONTROL_DIR = "_control"
CATALOG_FILE = "catalog.sqlite3"
DEFAULT_KEY_FILE = "default-api-key"


def local_root(store: ObjectStore) -> Path | None:
    """The directory of a local store, else None."""
    url = store.url
    return Path(urlsplit(url).path) if url.startswith("file://") else None


def catalog_url(store: ObjectStore, explicit: str | None) -> str:
    """The control catalog: explicit path/URL, else ``<data dir>/_control/catalog.sqlite3``."""
    if explicit:
        return explicit
    root = local_root(store)
    if root is None:
        raise SystemExit(
            "a non-local --data store needs --catalog (a SQLite file path or a postgresql:// URL)"
        )
    return str(root / CONTROL_DIR / CATALOG_FILE)


def write_key_file(catalog: ControlCatalog, store: ObjectStore, key: NewKey) -> Path | None:
    """Keep the first key in a 0600 file next to the SQLite catalog (or in the data dir)."""
    if catalog.kind == "sqlite":
        directory = Path(catalog.url).parent
    else:
        root = local_root(store)
        if root is None:
            return None
        directory = root / CONTROL_DIR
    make_private_dir(directory, parents=True)
    path = directory / DEFAULT_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.plaintext + "\n")
    os.chmod(path, 0o600)
    return path


def tls_files(options: ServeOptions, store: ObjectStore) -> TlsFiles | None:
    """The certificate and key to serve with, making them for ``--tls-self-signed``."""
    if options.tls_cert and options.tls_key:
        return TlsFiles(Path(options.tls_cert), Path(options.tls_key))
    if not options.tls_self_signed:
        return None
    root = local_root(store)
    if root is None:
        raise SystemExit(
            "--tls-self-signed writes its CA under the data directory: use --tls-cert and "
            "--tls-key with a non-local --data store"
        )
    extra = [h for h in (options.advertise_host, options.host) if h and h not in ("0.0.0.0", "::")]
    if options.base_domain:
        extra.append(f"*.{options.base_domain}")
    make_private_dir(root / CONTROL_DIR)
    return self_signed(root / CONTROL_DIR / TLS_DIR, [*LOCAL_NAMES, *extra])


def trust_hint(files: TlsFiles | None) -> str:
    """What a client must trust to reach a TLS port, for the mux's log lines."""
    if files is None:
        return ""
    if files.ca is not None:
        return f"the CA certificate {files.ca}"
    return f"the CA that signed {files.cert}"
