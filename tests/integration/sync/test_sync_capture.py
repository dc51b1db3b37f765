"""Inserts, updates and deletes reach the index; what the reference design got wrong does not
happen here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from slabdb.core.errors import InvalidArgumentError
from slabdb.sync import bootstrap, init_sync, uninstall_sync

Env = Any


def pending(env: Env) -> int:
    return int(env.sql("SELECT count(*) FROM slabdb_sync.outbox")[0][0])


def test_insert_update_delete_are_reflected(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=20)
    assert pending(env) == 20  # the existing rows, bootstrapped
    env.sql(
        "INSERT INTO products (id, name, description, category, price) VALUES (100, 'lamp', 'bright', 'home', 9.5)"
    )
    env.drain()
    got = env.fetch("100#0")["100#0"][1]
    assert got == {"id": 100, "category": "home", "price": 9.5, "chunk": 0, "text": "lamp: bright"}

    env.sql("UPDATE products SET description = 'very bright', category = 'office' WHERE id = 100")
    env.drain()
    meta = env.fetch("100#0")["100#0"][1]
    assert meta["text"] == "lamp: very bright" and meta["category"] == "office"

    env.sql("DELETE FROM products WHERE id = 100")
    env.drain()
    assert env.fetch("100#0") == {}
    env.assert_in_sync()


def test_long_text_is_chunked_and_stale_chunks_removed(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=5)
    long = " ".join(f"word{i}" for i in range(3000))  # ~22 KB
    assert len(long) > 20_000
    env.sql("UPDATE products SET description = %s WHERE id = 3", (long,))
    env.drain()
    ids = {i for i in env.ids() if i.startswith("3#")}
    assert len(ids) > 20
    env.assert_in_sync()
    env.sql("UPDATE products SET description = 'short again' WHERE id = 3")
    env.drain()
    assert {i for i in env.ids() if i.startswith("3#")} == {"3#0"}
    env.assert_in_sync()


def test_primary_key_change_moves_the_vectors(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=5)
    env.sql("INSERT INTO products (id, name, description) VALUES (7, 'kite', 'flies high')")
    env.drain()
    env.sql("UPDATE products SET id = 70 WHERE id = 7")
    assert sorted(env.sql("SELECT key, op FROM slabdb_sync.outbox")) == [("7", "D"), ("70", "I")]
    env.drain()
    assert env.fetch("7#0") == {}
    assert env.fetch("70#0")["70#0"][1]["id"] == 70
    env.assert_in_sync()


def test_a_row_over_8000_bytes_inserts_fine(make_env: Callable[..., Env]) -> None:
    """The reference design's pg_notify(old+new row) fails the user's write at 8000 bytes."""
    env = make_env(rows=1)
    big = "x" * 50_000
    env.sql("INSERT INTO products (id, name, description) VALUES (2, 'big', %s)", (big,))
    env.sql("UPDATE products SET description = %s WHERE id = 2", (big + "y",))
    env.drain()
    env.assert_in_sync()


def test_irrelevant_update_enqueues_nothing_and_unchanged_text_embeds_nothing(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(rows=10)
    env.drain()
    calls = env.embedder.texts_embedded
    env.sql("UPDATE products SET stock = stock + 1")  # not in the text, metadata or key
    assert pending(env) == 0
    env.sql("UPDATE products SET name = name WHERE id = 1")  # no real change
    assert pending(env) == 0
    env.sql("UPDATE products SET price = 1000 WHERE id = 2")  # metadata only
    env.sql("UPDATE products SET name = 'X', description = 'Y' WHERE id = 3")
    env.sql(
        "UPDATE products SET name = 'product 3', description = 'a fine thing number 3' WHERE id = 3"
    )
    assert pending(env) == 3
    env.drain()
    assert env.embedder.texts_embedded == calls  # price re-written from stored vectors; 3 unchanged
    assert env.fetch("2#0")["2#0"][1]["price"] == 1000
    env.assert_in_sync()


def test_bootstrap_is_idempotent_resumable_and_never_double_enqueues(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(rows=250, enqueue_existing=False)
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        first = bootstrap(conn, env.cfg, batch=100)
        assert first.enqueued == 250 and not first.already_done
        assert pending(env) == 250  # bootstrap never touches the table: no trigger events
        again = bootstrap(conn, env.cfg, batch=100)
        assert again.already_done and pending(env) == 250
        # Restarting while events are pending still enqueues each key once.
        bootstrap(conn, env.cfg, batch=100, restart=True)
        assert pending(env) == 250
    assert env.sql("SELECT count(DISTINCT key) FROM slabdb_sync.outbox") == [(250,)]
    env.drain()
    assert len(env.ids()) == 250
    env.assert_in_sync()


def test_bootstrap_resumes_from_the_last_key(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=100, enqueue_existing=False)
    env.sql("INSERT INTO slabdb_sync.bootstrap (sync, last_key) VALUES ('products', '60')")
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        result = bootstrap(conn, env.cfg, batch=15)
    assert result.enqueued == 40
    assert env.sql("SELECT min(key::int), max(key::int) FROM slabdb_sync.outbox") == [(61, 100)]


def test_init_is_idempotent_and_uninstall_removes_everything(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=3, enqueue_existing=False)
    init_sync(
        env.dsn, table="products", key="id", template="{name}: {description}", index="products",
        metadata=["category", "price"], data=env.data, embedder="fake",
        embedder_options={"dimension": 16},
    )  # fmt: skip
    triggers = env.sql(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'products'::regclass AND NOT tgisinternal ORDER BY 1"
    )
    assert [t[0] for t in triggers] == [
        "slabdb_sync_products_del", "slabdb_sync_products_ins", "slabdb_sync_products_upd",
    ]  # fmt: skip
    env.sql("INSERT INTO products (id, name) VALUES (9, 'once')")
    assert pending(env) == 1
    uninstall_sync(env.dsn, "products")
    assert env.sql("SELECT to_regclass('slabdb_sync.outbox')") == [(None,)]
    env.sql("INSERT INTO products (id, name) VALUES (10, 'after')")  # no trigger left


def test_init_rejects_unknown_columns(make_env: Callable[..., Env]) -> None:
    env = make_env(rows=1)
    with pytest.raises(InvalidArgumentError, match="no column"):
        init_sync(
            env.dsn,
            table="products",
            key="id",
            template="{nope}",
            index="products",
            data=env.data,
            embedder="fake",
        )
