"""The database console at ``/console`` on ``slabdb serve``: Jinja2 pages and htmx, every
asset in this package (``static/``: htmx 2.0.11, the same file as the demo app's).

It shows what only SlabDB has: per project (the API key's), the indexes and their
namespaces with record counts; per namespace the LSM tree (slabs per level with record
counts and sizes, memtable, WAL LSN against checkpoint, compaction backlog), refreshed
every two seconds; a query playground (text embedded by the index's model, or a record
id; filter JSON; top_k) and browsing by id prefix. See ``docs/design/app.md``.
"""

from slabdb.api.console.routes import CONSOLE_PATH, STATIC_PATH, install_console

__all__ = ["CONSOLE_PATH", "STATIC_PATH", "install_console"]
