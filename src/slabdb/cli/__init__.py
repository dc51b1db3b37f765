"""The ``slabdb`` command line (Typer + Rich): serve, sync, demo, keys, indexes, compact.

Heavy modules (numpy, the engine, the servers) are imported inside the commands, so
``slabdb --help`` answers at once.
"""
