"""Reading many stored pieces from an object store: each pack read once, in few, parallel requests.

On local disk a piece is one ``pread``. On an object store every read is a
request, so reading 10,000 packed files one by one costs 10,000 GETs (and
fsspec's read-ahead can pull tens of MiB for each). Here the pieces a verb
needs are put in the order of their packs, neighbouring ranges are merged
into spans of up to ``SPAN_MAX`` bytes, and several spans are in flight at
once; the pieces come back in the order asked, so memory stays near
``SPANS_IN_FLIGHT * SPAN_MAX``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptBlob

SPAN_MAX = 16 << 20      # bytes fetched by one ranged GET
SPAN_GAP = 1 << 20       # ranges closer than this are fetched together (the gap is read and dropped)
SPANS_IN_FLIGHT = 4      # ranged GETs running at once


@dataclass
class Piece:
    """One range of one stored object; ``key`` is whatever the caller needs back with the bytes."""

    path: str
    offset: int
    size: int
    key: Any = None


@dataclass
class _Span:
    path: str
    start: int
    end: int
    pieces: list[Piece] = field(default_factory=list)


def plan(pieces: Iterable[Piece]) -> list[_Span]:
    """Merge ``pieces`` (in the order given) into spans: consecutive pieces of one object
    that lie close together and ascending share one span."""
    spans: list[_Span] = []
    for p in pieces:
        last = spans[-1] if spans else None
        end = p.offset + p.size
        if (last is not None and last.path == p.path and last.end <= p.offset <= last.end + SPAN_GAP
                and end - last.start <= SPAN_MAX):
            last.end = end
            last.pieces.append(p)
        else:
            spans.append(_Span(p.path, p.offset, end, [p]))
    return spans


class Fetcher:
    """Fetches pieces from the blob store's filesystem (use it for object stores, not local disk)."""

    def __init__(self, fs: Any, *, in_flight: int = SPANS_IN_FLIGHT) -> None:
        self.fs = fs
        self.in_flight = max(1, in_flight)
        self._async = bool(getattr(fs, "async_impl", False)) and hasattr(fs, "_cat_file")

    def _start(self, span: _Span) -> concurrent.futures.Future:
        if self._async:
            coro = self.fs._cat_file(span.path, start=span.start, end=span.end)
            return asyncio.run_coroutine_threadsafe(coro, self.fs.loop)
        fut: concurrent.futures.Future = concurrent.futures.Future()
        try:
            fut.set_result(self.fs.cat_file(span.path, start=span.start, end=span.end))
        except BaseException as e:  # noqa: BLE001 - handed to the caller with its span
            fut.set_exception(e)
        return fut

    def fetch(self, pieces: Iterable[Piece]) -> Generator[tuple[Piece, bytes | BaseException], None, None]:
        """Yield ``(piece, bytes)`` in the order given; a piece whose object is missing or
        too short comes with the error instead of bytes (the others still come)."""
        queue: deque[tuple[_Span, concurrent.futures.Future]] = deque()
        spans = iter(plan(pieces))
        try:
            for span in spans:
                queue.append((span, self._start(span)))
                if len(queue) >= self.in_flight:
                    yield from self._deliver(*queue.popleft())
            while queue:
                yield from self._deliver(*queue.popleft())
        finally:
            for _span, fut in queue:
                fut.cancel()

    @staticmethod
    def _deliver(span: _Span, fut: concurrent.futures.Future) -> Iterator[tuple[Piece, bytes | BaseException]]:
        try:
            data = fut.result()
        except FileNotFoundError:
            err: BaseException = CorruptBlob(f"{span.path} is missing")
            for p in span.pieces:
                yield p, err
            return
        except OSError as e:
            for p in span.pieces:
                yield p, e
            return
        view = memoryview(data)
        for p in span.pieces:
            at = p.offset - span.start
            piece = bytes(view[at:at + p.size])
            if len(piece) != p.size:
                yield p, CorruptBlob(f"{span.path} is truncated ({span.start + len(data)} bytes, "
                                     f"a blob ends at {p.offset + p.size})")
            else:
                yield p, piece
