"""Test code shared across test directories, importable as ``scenarios`` (``tests/`` is on
pytest's ``pythonpath``).  :mod:`scenarios.data_plane` and :mod:`scenarios.waiting` use the
standard library only: the SDK 7/9 venvs, which have nothing but ``pinecone``, import them."""
