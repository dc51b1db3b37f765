"""A node for the builder-lease test: writes its own batches with the builder lease on.

Prints ``HOLDER <id>`` once, ``ACK <batch>`` after each acknowledged upsert,
``COMPACTING`` when a compaction starts merging (it then takes a moment, so the parent
can kill it there) and ``PUBLISH <version> <lease holder in the store> <epoch>`` after
every manifest this process published.  Stops writing when ``--stop-file`` appears.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from writer_child import batch_records

import slabdb
from slabdb import EngineConfig
from slabdb.engine import maintenance
from slabdb.engine.lease import LeaseRecord
from slabdb.lsm import manifest as manifest_module
from slabdb.storage.keys import builder_lease_key


def _instrument() -> None:
    original_publish = manifest_module.ManifestStore.publish
    original_merge = maintenance.merge_slabs

    def publish(self, record, expected_etag):  # type: ignore[no-untyped-def]
        etag = original_publish(self, record, expected_etag)
        lease = LeaseRecord.from_bytes(self._store.get(builder_lease_key(self.prefix)).data)
        print(f"PUBLISH {record.version} {lease.holder} {lease.epoch}", flush=True)
        return etag

    def merge(*args, **kwargs):  # type: ignore[no-untyped-def]
        print("COMPACTING", flush=True)
        time.sleep(0.3)
        return original_merge(*args, **kwargs)

    manifest_module.ManifestStore.publish = publish  # type: ignore[method-assign]
    maintenance.merge_slabs = merge  # type: ignore[assignment]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--writer", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--lease-seconds", type=float, default=2.0)
    args = ap.parse_args()
    _instrument()
    config = EngineConfig(
        flush_records=100,
        level_fanout=3,
        compaction_max_inputs=3,
        gc_grace_seconds=2.0,
        refresh_interval_seconds=0.2,
        background_interval_seconds=0.05,
        builder_lease=True,
        builder_lease_seconds=args.lease_seconds,
    )
    db = slabdb.connect(args.url, config=config)
    if not db.has_index("crash"):
        with contextlib.suppress(slabdb.core.errors.AlreadyExistsError):
            db.create_index(name="crash", dimension=8, metric="cosine")
    index = db.Index("crash")
    assert db._worker is not None and db._worker.leases is not None
    print(f"HOLDER {db._worker.leases.holder}", flush=True)
    batch = 0
    while not os.path.exists(args.stop_file):
        index.upsert(vectors=batch_records(args.writer, batch, overwrite=False))
        print(f"ACK {batch}", flush=True)
        batch += 1
        time.sleep(0.02)
    ns = db.open_namespaces()[0]
    print("STATS " + json.dumps(ns.stats()), flush=True)
    db.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
