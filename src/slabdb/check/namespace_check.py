"""Check one namespace's objects: its manifest, the slabs it lists, the log above its checkpoint.

Reads only (GET and the caller's LIST); every problem becomes a finding:

* errors: a manifest that fails its seal; a slab it lists that is missing, fails a
  section checksum or disagrees with the manifest; a gap in the log above the
  checkpoint; a log entry above the checkpoint that fails its checksum; a missing
  manifest when the log no longer starts at LSN 1 (its checkpoint is lost);
* warnings: a manifest written before sealing; slabs no manifest lists (left by a
  compaction or a crash; garbage collection removes them); objects of unknown kind.
"""

from __future__ import annotations

from collections.abc import Iterable

from slabdb.check.findings import Report
from slabdb.core.errors import CorruptionError, ObjectNotFoundError
from slabdb.lsm.manifest import ManifestRecord, SlabEntry
from slabdb.slab import SlabReader
from slabdb.storage.base import ObjectStore
from slabdb.storage.keys import (
    builder_lease_key,
    import_pending_prefix,
    lsn_of_key,
    manifest_key,
    slabs_prefix,
    wal_key,
    wal_prefix,
)
from slabdb.wal import decode_ops


def check_namespace(
    store: ObjectStore, prefix: str, keys: Iterable[str], report: Report, root: str = ""
) -> None:
    """Check the namespace at ``prefix``; ``keys`` are every key under it (one LIST)."""
    report.count("namespaces")
    present = set(keys)
    wal_lsns, slab_keys = _split(prefix, present, report, root)
    manifest = _read_manifest(store, prefix, present, report, root)
    if manifest is None:
        if manifest_key(prefix) not in present:
            _check_without_manifest(prefix, wal_lsns, slab_keys, report, root)
        return
    for entry in manifest.slabs:
        _check_slab(store, entry, report, root)
    importing = any(k.startswith(import_pending_prefix(prefix)) for k in present)
    unlisted = "slab not listed by the manifest (" + (
        "a running bulk import's, or " if importing else ""
    )
    for key in sorted(slab_keys - manifest.slab_keys()):
        report.warning(root + key, unlisted + "left for garbage collection to remove)")
    _check_log(store, prefix, wal_lsns, manifest.checkpoint_lsn, report, root)


def _split(prefix: str, present: set[str], report: Report, root: str) -> tuple[list[int], set[str]]:
    """(LSNs in the log, slab keys); anything else but the manifest is a warning."""
    lsns: list[int] = []
    slabs: set[str] = set()
    for key in sorted(present):
        if key.startswith(wal_prefix(prefix)):
            try:
                lsns.append(lsn_of_key(key))
                continue
            except ValueError:
                pass
        elif key.startswith(slabs_prefix(prefix)) and key.endswith(".slab"):
            slabs.add(key)
            continue
        elif key in (manifest_key(prefix), builder_lease_key(prefix)):
            continue
        elif key.startswith(import_pending_prefix(prefix)) and key.endswith(".json"):
            continue  # a running bulk import's record of its slabs (slabdb.bulk)
        report.warning(root + key, "unknown object in a namespace")
    return sorted(lsns), slabs


def _read_manifest(
    store: ObjectStore, prefix: str, present: set[str], report: Report, root: str
) -> ManifestRecord | None:
    key = manifest_key(prefix)
    if key not in present:
        return None
    report.count("manifests")
    try:
        manifest, sealed = ManifestRecord.read(store.get(key).data, prefix, where=root + key)
    except ObjectNotFoundError:
        return None  # deleted since the listing
    except CorruptionError as exc:
        report.error(root + key, exc.message)
        return None
    if not sealed:
        report.warning(root + key, "written before manifests were sealed (sealed on next flush)")
    return manifest


def _check_without_manifest(
    prefix: str, wal_lsns: list[int], slab_keys: set[str], report: Report, root: str
) -> None:
    key = root + manifest_key(prefix)
    if wal_lsns and wal_lsns[0] == 1:
        for slab in sorted(slab_keys):  # a first flush that crashed before publishing
            report.warning(root + slab, "slab of a namespace without a manifest")
        _report_gaps(prefix, wal_lsns, 0, report, root)
    elif wal_lsns:
        first = root + wal_key(prefix, wal_lsns[0])
        report.error(key, f"missing, but the log starts at {first}: the checkpoint is lost")
    elif slab_keys:
        report.error(key, f"missing, but {len(slab_keys)} slab(s) exist: the checkpoint is lost")


def _check_slab(store: ObjectStore, entry: SlabEntry, report: Report, root: str) -> None:
    """GET (not the listing: it may predate the manifest) and verify one listed slab."""
    report.count("slabs")
    key = root + entry.key
    try:
        reader = SlabReader.from_bytes(store.get(entry.key).data, where=key)
    except ObjectNotFoundError:
        report.error(key, "listed by the manifest but missing")
        return
    except CorruptionError as exc:
        report.error(key, exc.message)
        return
    facts = (reader.n, reader.level, reader.min_lsn, reader.max_lsn)
    expected = (entry.count, entry.level, entry.min_lsn, entry.max_lsn)
    if facts != expected:
        report.error(
            key,
            f"(rows, level, min LSN, max LSN) is {facts}, the manifest says {expected}",
        )


def _check_log(
    store: ObjectStore,
    prefix: str,
    lsns: list[int],
    checkpoint: int,
    report: Report,
    root: str,
) -> None:
    """Entries above the checkpoint must run on from ``checkpoint + 1`` and decode."""
    above = [lsn for lsn in lsns if lsn > checkpoint]
    _report_gaps(prefix, above, checkpoint, report, root)
    for lsn in above:
        report.count("wal entries")
        key = wal_key(prefix, lsn)
        try:
            decode_ops(store.get(key).data, where=root + key)
        except ObjectNotFoundError:
            continue  # garbage-collected since the listing (a checkpoint passed it)
        except CorruptionError as exc:
            report.error(root + key, exc.message)


def _report_gaps(prefix: str, lsns: list[int], after: int, report: Report, root: str) -> None:
    """One error per run of LSNs missing between ``after + 1`` and the last present one."""
    expected = after + 1
    for lsn in lsns:
        if lsn > expected:
            first, last = root + wal_key(prefix, expected), wal_key(prefix, lsn - 1)
            missing = first if lsn - 1 == expected else f"{first} .. {last.rsplit('/', 1)[-1]}"
            report.error(
                missing,
                f"missing from the log above checkpoint {after}, but LSN {lsn} "
                "exists: acknowledged writes are lost",
            )
        expected = lsn + 1
