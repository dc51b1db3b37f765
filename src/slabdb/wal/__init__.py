"""Write-ahead log: entry codec, writer (LSN claimed by create-if-absent), replay."""

from slabdb.wal.codec import decode_ops, encode_ops
from slabdb.wal.log import (
    WalWriter,
    find_gap,
    first_lsn_after,
    read_wal,
    wal_gap_message,
    wal_key,
)

__all__ = [
    "WalWriter",
    "decode_ops",
    "encode_ops",
    "find_gap",
    "first_lsn_after",
    "read_wal",
    "wal_gap_message",
    "wal_key",
]
