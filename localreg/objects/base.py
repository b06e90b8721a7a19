"""Constants, the manifest :class:`Entry` and small helpers shared by the objects modules."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

PACK_LIMIT = 1 << 20          # files below this size are one chunk in a pack
CDC_AVG = 128 << 10           # content-defined chunking of bigger files (FastCDC):
CDC_MIN = 32 << 10            #   average, smallest and largest chunk; every chunk
CDC_MAX = 512 << 10           #   goes into a pack
CDC_BATCH = 4 << 20           # chunk bytes hashed and looked up per step
HASH_THREAD_MIN = 8 << 20     # reads of this many bytes hash on a second thread ...
HASH_BATCH = 4 << 20          # ... fed this many bytes at a time
PACK_TARGET = 64 << 20        # start a new pack past this size
BATCH_BYTES = 8 << 20         # bytes read ahead per hashing batch
RACY_NS = 50_000_000          # mtime this close to "now" is not trusted (ns clocks)
RACY_COARSE_NS = 2_000_000_000  # ... or this close, on filesystems with whole-second mtimes
SQL_VARS = 500
VERIFY_THREAD_MIN = 64 << 10  # pieces this big are checked on the verifying threads, smaller ones at once
VERIFY_BATCH = 1 << 20        # bytes of pieces checked per task on the verifying threads
VERIFY_IN_FLIGHT = 32 << 20   # most bytes read and not yet checked
OPEN_PACKS = 64               # pack files a reader keeps open
SPOOL_MAX = 16 << 20         # loose objects up to this size are read whole and checked before a byte is handed out


@dataclass(frozen=True)
class Entry:
    """One manifest entry: a logical path and the file it holds."""

    path: str
    digest: str
    size: int
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["ref"] is None:
            del d["ref"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Entry":
        return cls(path=d["path"], digest=d["digest"], size=int(d["size"]), ref=d.get("ref"))


def _chunks(seq: Sequence, n: int = SQL_VARS) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i: i + n]


def _racy(st: os.stat_result, now_ns: int) -> bool:
    margin = RACY_COARSE_NS if st.st_mtime_ns % 1_000_000_000 == 0 else RACY_NS
    return now_ns - st.st_mtime_ns < margin


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns and a.st_ino == b.st_ino
