"""Writing packs: small chunks back to back, on a writer thread."""

from __future__ import annotations

from .base import PACK_TARGET


class _BackgroundPacker:
    """Packs chunks on a writer thread; rows can be built before the bytes land.

    ``add(data)`` returns ``(pack name, offset)`` at once and queues the
    bytes for the pack they were placed in; a pack that reaches
    ``PACK_TARGET`` is handed over whole (its queued bytes, then its close)
    before the next one starts, so every offset names bytes of its own
    pack. ``flush()`` sends what is queued; ``close()`` waits until every
    pack is durable and re-raises any write error.
    """

    def __init__(self, blobs) -> None:
        import queue
        import threading

        self.blobs = blobs
        self.q: "queue.Queue" = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.writers: list = []
        self.current = None
        self.offset = 0
        self.pending: list = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, data) -> tuple[str, int]:
        if self.error is not None:
            raise self.error
        if self.current is None or self.offset >= PACK_TARGET:
            if self.current is not None:
                self.flush()
                self.q.put(("close", self.current))
            self.current = self.blobs.pack_writer()
            self.writers.append(self.current)
            self.offset = 0
        at = self.offset
        self.offset += len(data)
        self.pending.append(data)
        return self.current.name, at  # type: ignore[attr-defined]

    def flush(self) -> None:
        if self.error is not None:
            raise self.error
        if self.pending:
            self.q.put(("add", self.current, self.pending))
            self.pending = []

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item[0] == "stop":
                return
            if self.error is not None:
                continue
            try:
                if item[0] == "add":
                    item[1].add_many(item[2])
                else:
                    item[1].close()
            except BaseException as e:  # reported to the caller by write()/close()
                self.error = e

    def close(self) -> None:
        if self.current is not None:
            self.flush()
            self.q.put(("close", self.current))
            self.current = None
        self.q.put(("stop",))
        self.thread.join()
        if self.error is not None:
            self.abort()
            raise self.error

    def abort(self) -> None:
        if self.thread.is_alive():
            self.q.put(("stop",))
            self.thread.join()
        for w in self.writers:
            try:
                w.abort()
            except OSError:
                pass
