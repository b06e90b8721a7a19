"""Lazy, paged listings: W&B's ``Paginator`` shape, over any fetch function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidInput


class Paginator:
    """A lazy listing fetched ``per_page`` items at a time, like W&B's ``Paginator``.

    It is its own iterator (``next(p)`` works); iterating again replays the
    items already fetched before fetching more. ``cursor`` is set after the
    first page is fetched (None once the last page is in); ``start=cursor``
    resumes after it. ``len()`` counts without fetching the items.
    """

    def __init__(self, fetch: Callable[[int, str | None], tuple[list, str | None]],
                 count: Callable[[], int], per_page: int = 50, start: str | None = None) -> None:
        if not isinstance(per_page, int) or isinstance(per_page, bool) or per_page < 1:
            raise InvalidInput(f"per_page must be a positive integer, not {per_page!r}")
        self._fetch = fetch
        self._count = count
        self.per_page = per_page
        self.cursor: str | None = start
        self.objects: list = []
        self.index = -1
        self._started = False

    @property
    def more(self) -> bool:
        return not self._started or self.cursor is not None

    def _load_page(self) -> bool:
        if not self.more:
            return False
        items, self.cursor = self._fetch(self.per_page, self.cursor)
        self._started = True
        self.objects.extend(items)
        return True

    def __iter__(self) -> "Paginator":
        self.index = -1
        return self

    def __next__(self) -> Any:
        self.index += 1
        while len(self.objects) <= self.index:
            if not self._load_page():
                raise StopIteration
        return self.objects[self.index]

    def __len__(self) -> int:
        return self._count()

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice) or index < 0:
            while self._load_page():
                pass
        else:
            while index >= len(self.objects) and self._load_page():
                pass
        return self.objects[index]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} per_page={self.per_page}>"


class Chain:
    """Several listings one after another (W&B's ordered chained search: registry by registry).

    Lazy: a listing is asked for its items only when the previous one is
    done. ``len()`` adds up the lengths; ``versions(...)`` chains the
    versions of each listing, in order. There is no cursor (W&B refuses
    ``start=`` on an ordered chain too).
    """

    def __init__(self, sources: Any, versions: bool = False) -> None:
        self._sources = iter(sources)
        self._seen: list = []
        self._current: Any = None
        self._done = False

    def _next_source(self) -> bool:
        try:
            self._current = iter(next(self._sources))
        except StopIteration:
            self._done = True
            return False
        return True

    def __iter__(self) -> "Chain":
        return self

    def __next__(self) -> Any:
        while not self._done:
            if self._current is None and not self._next_source():
                break
            try:
                return next(self._current)
            except StopIteration:
                self._current = None
        raise StopIteration

    def _all_sources(self) -> list:
        # only for len() and versions(): take every remaining listing (they are lazy themselves)
        rest = list(self._sources)
        self._sources = iter(rest)
        return rest

    def versions(self, filter: dict | None = None, order: str | None = None, per_page: int = 50,
                 start: str | None = None) -> "Chain":
        if start is not None:
            raise InvalidInput(f"start={start!r} is not supported on an ordered listing")
        return Chain(s.versions(filter=filter, order=order, per_page=per_page) for s in self._all_sources())

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
