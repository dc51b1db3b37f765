"""The server's control plane: projects, API keys and the catalog they live in.

* :mod:`slabdb.control.catalog_db` - the SQL catalog (SQLite by default, Postgres to share).
* :mod:`slabdb.control.keys` - API key format, hashing and constant-time checks.
* :mod:`slabdb.control.prefixed_store` - one project's view of the shared object store.
* :mod:`slabdb.control.projects` - a :class:`~slabdb.Client` per project, index slots.
"""
