"""The demo web app: search, filter and edit a Postgres product table indexed by SlabDB.

``create_app(AppSettings(dsn=..., slabdb_url=...))`` builds the FastAPI app (Jinja2 +
htmx, every asset in the package); :mod:`slabdb.app.pipeline` sets up the table, the
sync and the hybrid (dense + BM25) index; ``python -m slabdb.app`` runs them. See
``docs/design/app.md``.
"""

from slabdb.app.settings import AppSettings, Services, build_services
from slabdb.app.web import create_app

__all__ = ["AppSettings", "Services", "build_services", "create_app"]
