"""The chunk index of a store: what is there and where (the base every verb of :class:`Objects` builds on)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CorruptBlob

if TYPE_CHECKING:
    from ..store import Store
    from .read import BlobReader


class _Index:
    """The chunk index (``chunks``, ``chunked_files``, the stat cache) of a store."""

    def __init__(self, store: "Store") -> None:
        self.store = store
        self.blobs = store.blobs

    # -- what is there --------------------------------------------------------

    def present(self, digests: Iterable[str]) -> set[str]:
        """The subset of ``digests`` whose bytes the store holds (one query, any count)."""
        arg = json.dumps(list(set(digests)))
        if arg == "[]":
            return set()
        return {
            r[0]
            for r in self.store.db.execute(
                "SELECT digest FROM chunks WHERE digest IN (SELECT value FROM json_each(?)) "
                "UNION ALL SELECT digest FROM chunked_files WHERE digest IN (SELECT value FROM json_each(?))",
                [arg, arg],
            )
        }

    def _record(self, chunk_rows: list[tuple], cache_rows: list[tuple], file_rows: Sequence[tuple] = ()) -> None:
        with self.store.transaction() as db:
            if file_rows:
                db.conn.executemany(
                    "INSERT OR IGNORE INTO chunked_files (digest, size, chunks) VALUES (?, ?, ?)", file_rows
                )
            if chunk_rows:
                db.conn.executemany(
                    "INSERT OR IGNORE INTO chunks (digest, size, pack, offset, created_at) VALUES (?, ?, ?, ?, ?)",
                    chunk_rows,
                )
            if cache_rows:
                db.conn.executemany(
                    "INSERT OR REPLACE INTO stat_cache (path, dev, ino, size, mtime_ns, digest) VALUES (?, ?, ?, ?, ?, ?)",
                    cache_rows,
                )

    # -- ingest -----------------------------------------------------------------

    @staticmethod
    def drop_stale_cache_rows(db: Any) -> int:
        """Delete stat-cache rows naming bytes the store no longer holds; call in the transaction that removed them.

        :meth:`add_files` trusts a matching row without asking whether its
        digest is still stored, so every verb that drops chunk rows (gc,
        fsck --repair) calls this.
        """
        return db.execute(
            "DELETE FROM stat_cache WHERE digest NOT IN (SELECT digest FROM chunks) "
            "AND digest NOT IN (SELECT digest FROM chunked_files)"
        ).rowcount

    def _locate_many(self, digests: list[str]) -> dict[str, tuple[int, str | None, int | None]]:
        """``{digest: (size, pack, offset)}`` of the single-chunk blobs among ``digests``."""
        return {
            r[0]: (r[1], r[2], r[3])
            for r in self.store.db.execute(
                "SELECT digest, size, pack, offset FROM chunks WHERE digest IN (SELECT value FROM json_each(?))",
                [json.dumps(digests)],
            )
        }

    def _locate_all(self, digests: Iterable[str]) -> dict[str, list[tuple[str, int, str | None, int | None]]]:
        """``{digest: [(chunk digest, size, pack, offset)]}`` for the files among ``digests`` the store has, in few queries."""
        wanted = sorted(set(digests))
        if not wanted:
            return {}
        out = {d: [(d, s, p, o)] for d, (s, p, o) in self._locate_many(wanted).items()}
        rest = [d for d in wanted if d not in out]
        if not rest:
            return out
        lists = {
            r[0]: json.loads(r[1])
            for r in self.store.db.execute(
                "SELECT digest, chunks FROM chunked_files WHERE digest IN (SELECT value FROM json_each(?))",
                [json.dumps(rest)],
            )
        }
        where = self._locate_many(sorted({cd for parts in lists.values() for cd, _size in parts}))
        for digest, parts in lists.items():
            located = []
            for cd, _size in parts:
                loc = where.get(cd)
                if loc is None:
                    raise CorruptBlob(f"chunk {cd} of blob {digest} is not in the store", digest)
                located.append((cd, loc[0], loc[1], loc[2]))
            out[digest] = located
        return out

    def reader(self, digests: Iterable[str], known: dict[str, tuple[int, str | None, int | None]] | None = None
               ) -> "BlobReader":
        """A :class:`BlobReader` for the files ``digests``: close it, or use it as a context manager.

        ``known``: ``{digest: (size, pack, offset)}`` of single-chunk files
        the caller has looked up already, in the same snapshot.
        """
        from .read import BlobReader  # read builds on this module

        return BlobReader(self, digests, known)  # type: ignore[arg-type]
