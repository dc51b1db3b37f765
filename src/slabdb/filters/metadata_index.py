"""A slab's metadata index: roaring bitmaps and numeric columns per field.

For each metadata field the index holds

* a *presence* bitmap: rows that have the field (whatever its value);
* one bitmap per distinct string (scalar strings and list elements alike) and per
  boolean value;
* a float64 *numeric column* of length ``n_rows`` (NaN where the row's value is missing
  or not a number), used for numeric ``$eq``/``$ne``/``$in``/``$nin`` and for ranges;
* :class:`FieldStats` (counts, numeric min/max, distinct values) that a query planner
  can use to skip a whole slab without opening it.

The index is immutable once built.  :meth:`MetadataIndex.to_bytes` writes a compact
binary form (a small JSON header, then roaring's portable serialization of every
bitmap and the raw little-endian numeric columns); :meth:`MetadataIndex.from_bytes`
reads only the header and decodes each bitmap the first time it is asked for.
Bitmaps handed out are frozen (shared, read-only); combine them into new ones.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from slabdb.core.errors import CorruptionError

F64 = npt.NDArray[np.float64]

_MAGIC = b"SMIX"
_VERSION = 1
_HEAD = struct.Struct("<4sI")  # magic, header length
_EMPTY = FrozenBitMap()


def numeric_value(value: Any) -> float | None:
    """A metadata value as float64 if it is a number (booleans are not), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def string_values(value: Any) -> list[str]:
    """The strings a metadata value offers to ``$eq``/``$in``: itself, or a list's strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


@dataclass(frozen=True)
class FieldStats:
    """What one slab knows about one field, for pruning and ``describe`` output.

    ``count`` rows have the field; of those ``numeric_count`` hold a number,
    ``string_count`` a string or a list with at least one string, ``bool_count`` a
    boolean.  ``min``/``max`` cover the numbers (None when there are none) and
    ``distinct`` counts distinct values (strings and list elements, booleans, numbers).
    """

    count: int
    numeric_count: int = 0
    string_count: int = 0
    bool_count: int = 0
    min: float | None = None
    max: float | None = None
    distinct: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldStats:
        return cls(
            count=int(data["count"]),
            numeric_count=int(data.get("numeric_count", 0)),
            string_count=int(data.get("string_count", 0)),
            bool_count=int(data.get("bool_count", 0)),
            min=None if data.get("min") is None else float(data["min"]),
            max=None if data.get("max") is None else float(data["max"]),
            distinct=int(data.get("distinct", 0)),
        )


_Ref = tuple[int, int]
"""(offset, length) of a serialized bitmap in the index's blob, not decoded yet."""


class _Field:
    __slots__ = ("bools", "numeric", "presence", "stats", "strings")

    def __init__(
        self,
        presence: AbstractBitMap | _Ref,
        strings: dict[str, AbstractBitMap | _Ref],
        bools: dict[bool, AbstractBitMap | _Ref],
        numeric: F64 | None,
        stats: FieldStats,
    ) -> None:
        self.presence = presence
        self.strings = strings
        self.bools = bools
        self.numeric = numeric
        self.stats = stats


class _Builder:
    __slots__ = ("bools", "num_rows", "num_vals", "present", "string_rows", "strings")

    def __init__(self) -> None:
        self.present: list[int] = []
        self.strings: dict[str, list[int]] = {}
        self.string_rows = 0
        self.bools: dict[bool, list[int]] = {}
        self.num_rows: list[int] = []
        self.num_vals: list[float] = []

    def add(self, row: int, value: Any) -> None:
        self.present.append(row)
        if isinstance(value, bool):
            self.bools.setdefault(value, []).append(row)
            return
        number = numeric_value(value)
        if number is not None:
            self.num_rows.append(row)
            self.num_vals.append(number)
            return
        strings = string_values(value)
        if strings:
            self.string_rows += 1
            for s in strings:
                self.strings.setdefault(s, []).append(row)

    def finish(self, n_rows: int) -> _Field:
        numeric: F64 | None = None
        lo = hi = None
        n_unique = 0
        if self.num_rows:
            numeric = np.full(n_rows, np.nan, dtype=np.float64)
            vals = np.asarray(self.num_vals, dtype=np.float64)
            numeric[np.asarray(self.num_rows, dtype=np.int64)] = vals
            numeric.flags.writeable = False
            lo, hi = float(vals.min()), float(vals.max())
            n_unique = len(np.unique(vals))
        stats = FieldStats(
            count=len(self.present),
            numeric_count=len(self.num_rows),
            string_count=self.string_rows,
            bool_count=sum(len(r) for r in self.bools.values()),
            min=lo,
            max=hi,
            distinct=len(self.strings) + len(self.bools) + n_unique,
        )
        return _Field(
            presence=FrozenBitMap(self.present),
            strings={s: FrozenBitMap(rows) for s, rows in self.strings.items()},
            bools={b: FrozenBitMap(rows) for b, rows in self.bools.items()},
            numeric=numeric,
            stats=stats,
        )


class MetadataIndex:
    """Bitmaps, numeric columns and stats over the metadata of ``n_rows`` rows."""

    __slots__ = ("_blob", "_fields", "_n_rows")

    def __init__(self, n_rows: int, fields: dict[str, _Field], blob: memoryview | None = None):
        self._n_rows = n_rows
        self._fields = fields
        self._blob = blob

    # --- construction ---------------------------------------------------------------
    @classmethod
    def build(cls, rows: Sequence[Mapping[str, Any] | None]) -> MetadataIndex:
        """Index one metadata dict (or None: no metadata) per row."""
        builders: dict[str, _Builder] = {}
        for row, metadata in enumerate(rows):
            if not metadata:
                continue
            for name, value in metadata.items():
                builder = builders.get(name)
                if builder is None:
                    builder = builders[name] = _Builder()
                builder.add(row, value)
        n = len(rows)
        return cls(n, {name: b.finish(n) for name, b in builders.items()})

    # --- reading --------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._fields)

    @property
    def field_stats(self) -> dict[str, FieldStats]:
        return {name: f.stats for name, f in self._fields.items()}

    def all_rows(self) -> BitMap:
        """A new bitmap of every row ``0 .. n_rows-1``."""
        return BitMap(range(self._n_rows))

    def presence(self, field: str) -> AbstractBitMap:
        """Rows that have ``field``."""
        f = self._fields.get(field)
        if f is None:
            return _EMPTY
        if isinstance(f.presence, tuple):
            f.presence = self._load(f.presence)
        return f.presence

    def string_rows(self, field: str, value: str) -> AbstractBitMap:
        """Rows whose ``field`` is ``value`` or a list containing ``value``."""
        f = self._fields.get(field)
        if f is None:
            return _EMPTY
        return self._term(f.strings, value)

    def bool_rows(self, field: str, value: bool) -> AbstractBitMap:
        """Rows whose ``field`` is the boolean ``value``."""
        f = self._fields.get(field)
        if f is None:
            return _EMPTY
        return self._term(f.bools, value)

    def numeric(self, field: str) -> F64 | None:
        """The read-only float64 column of ``field`` (NaN = missing or not a number)."""
        f = self._fields.get(field)
        return None if f is None else f.numeric

    def distinct_strings(self, field: str) -> list[str]:
        """Every distinct string (or list element) ``field`` holds."""
        f = self._fields.get(field)
        return [] if f is None else list(f.strings)

    def _term(self, terms: dict[Any, AbstractBitMap | _Ref], key: Any) -> AbstractBitMap:
        got = terms.get(key)
        if got is None:
            return _EMPTY
        if isinstance(got, tuple):
            got = terms[key] = self._load(got)
        return got

    def _load(self, ref: _Ref) -> FrozenBitMap:
        assert self._blob is not None
        offset, length = ref
        try:
            return FrozenBitMap.deserialize(self._blob[offset : offset + length])  # type: ignore[arg-type]
        except ValueError as exc:
            raise CorruptionError(f"metadata index: a bitmap does not decode ({exc})") from exc

    # --- serialization --------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The compact binary form :meth:`from_bytes` reads."""
        parts: list[bytes] = []
        size = 0

        def put(data: bytes, align: int = 1) -> list[int]:
            nonlocal size
            pad = -size % align
            if pad:
                parts.append(b"\0" * pad)
                size += pad
            parts.append(data)
            size += len(data)
            return [size - len(data), len(data)]

        def bitmap(bm: AbstractBitMap | _Ref) -> list[int]:
            if isinstance(bm, tuple):
                bm = self._load(bm)
            return put(bm.serialize())

        fields_meta = []
        for name, f in self._fields.items():
            numeric = None
            if f.numeric is not None:
                numeric = put(np.ascontiguousarray(f.numeric, dtype="<f8").tobytes(), align=8)
            fields_meta.append(
                {
                    "name": name,
                    "presence": bitmap(f.presence),
                    "strings": [[s, *bitmap(bm)] for s, bm in f.strings.items()],
                    "bools": [[b, *bitmap(bm)] for b, bm in f.bools.items()],
                    "numeric": numeric,
                    "stats": f.stats.to_dict(),
                }
            )
        header = json.dumps(
            {"version": _VERSION, "n_rows": self._n_rows, "fields": fields_meta},
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")
        head = _HEAD.pack(_MAGIC, len(header)) + header
        head += b"\0" * (-len(head) % 8)
        return head + b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> MetadataIndex:
        """Read :meth:`to_bytes` output; bitmaps decode lazily on first use."""
        view = memoryview(data).cast("B")
        try:
            magic, header_len = _HEAD.unpack_from(view, 0)
            if magic != _MAGIC:
                raise ValueError("bad magic")
            header_end = _HEAD.size + header_len
            header = json.loads(bytes(view[_HEAD.size : header_end]).decode("utf-8"))
            if header.get("version") != _VERSION:
                raise ValueError(f"unsupported version {header.get('version')!r}")
            blob = view[header_end + (-header_end % 8) :]
            n_rows = int(header["n_rows"])
            fields: dict[str, _Field] = {}
            for meta in header["fields"]:
                numeric = None
                if meta["numeric"] is not None:
                    offset, length = meta["numeric"]
                    if length != 8 * n_rows or offset + length > len(blob):
                        raise ValueError("numeric column has the wrong length")
                    numeric = np.frombuffer(blob, dtype="<f8", count=n_rows, offset=offset)
                fields[str(meta["name"])] = _Field(
                    presence=_ref(meta["presence"], len(blob)),
                    strings={str(s): _ref((o, n), len(blob)) for s, o, n in meta["strings"]},
                    bools={bool(b): _ref((o, n), len(blob)) for b, o, n in meta["bools"]},
                    numeric=numeric,
                    stats=FieldStats.from_dict(meta["stats"]),
                )
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            raise CorruptionError(f"metadata index does not decode: {exc}") from exc
        return cls(n_rows, fields, blob)


def _ref(pair: Sequence[int], blob_len: int) -> _Ref:
    offset, length = int(pair[0]), int(pair[1])
    if offset < 0 or length < 0 or offset + length > blob_len:
        raise ValueError("a bitmap lies outside the index")
    return (offset, length)
