"""JSON read as a stream: the index of a bundle is checked record by record, never held whole.

:class:`Stream` walks a JSON text arriving in pieces (the bytes of a tar
member): the caller steps through objects (:meth:`Stream.object`) and arrays
(:meth:`Stream.array`) and reads each small value whole (:meth:`Stream.value`,
the C parser of :mod:`json`). At most one value, and one piece of input, is
in memory at a time; a value longer than ``max_value`` characters is refused.
Duplicate keys, ``NaN`` and the infinities are refused, as the whole-document
parser refused them.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_WS = re.compile(r"[ \t\n\r]*")


class Refused(ValueError):
    """JSON that is well formed but refused (a duplicate key, NaN): reading more input would not change it."""


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict:
    d = {}
    for k, v in pairs:
        if k in d:
            raise Refused(f"duplicate key {k!r}")
        d[k] = v
    return d


def _no_constant(name: str) -> Any:
    raise Refused(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_dupes, parse_constant=_no_constant)


class Stream:
    """A JSON text from ``pieces`` (UTF-8 bytes), read one value at a time."""

    def __init__(self, pieces: Iterable[bytes], max_value: int) -> None:
        self._pieces = iter(pieces)
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.max_value = max_value
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.before = 0  # characters read before buf

    @property
    def at(self) -> int:
        """How many characters have been read (for messages)."""
        return self.before + self.pos

    def _more(self) -> None:
        piece = next(self._pieces, None)
        text = self._utf8.decode(b"" if piece is None else piece, final=piece is None)
        self.eof = piece is None
        self.before += self.pos
        self.buf = self.buf[self.pos:] + text
        self.pos = 0

    def peek(self) -> str:
        """The next character that is not white space ('' at the end)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or self.eof:
                return self.buf[self.pos:self.pos + 1]
            self._more()

    def take(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            found = repr(c) if c else "the end"
            raise json.JSONDecodeError(f"expected {' or '.join(map(repr, chars))}, found {found}", "", self.at)
        self.pos += 1
        return c

    def value(self) -> Any:
        """The next value, whole."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof:  # a number may go on in the next piece
                    self.pos = end
                    return value
            except Refused:
                raise
            except json.JSONDecodeError as e:
                if self.eof:
                    raise json.JSONDecodeError(e.msg, "", self.before + e.pos) from None
            if len(self.buf) - self.pos > self.max_value:
                raise Refused(f"the value at character {self.at} is longer than {self.max_value} characters")
            self._more()

    def match(self, pattern: re.Pattern[str], longest: int) -> re.Match[str] | None:
        """``pattern`` matched at the next character (no white space skipped), consumed; None if it does not match.

        For the commonest records written as export writes them (a fast path:
        the caller reads anything else with :meth:`value`). ``longest``: the
        most characters a match can span.
        """
        if len(self.buf) - self.pos < longest and not self.eof:
            self._more()
        m = pattern.match(self.buf, self.pos)
        if m is not None:
            self.pos = m.end()
        return m

    def object(self) -> Iterator[str]:
        """The keys of an object, in order; read each value before asking for the next key."""
        self.take("{")
        if self.peek() == "}":
            self.pos += 1
            return
        seen: set[str] = set()
        while True:
            if self.peek() != '"':
                raise json.JSONDecodeError("expected a key", "", self.at)
            key = self.value()
            if key in seen:
                raise Refused(f"duplicate key {key!r}")
            seen.add(key)
            self.take(":")
            yield key
            if self.take(",}") == "}":
                return

    def array(self) -> Iterator[int]:
        """The positions of an array's items; read each item before asking for the next."""
        self.take("[")
        if self.peek() == "]":
            self.pos += 1
            return
        i = 0
        while True:
            yield i
            i += 1
            if self.take(",]") == "]":
                return

    def skip(self) -> None:
        """Read past the next value, of any size."""
        c = self.peek()
        if c == "[":
            for _ in self.array():
                self.skip()
        elif c == "{":
            for _ in self.object():
                self.skip()
        else:
            self.value()

    def end(self) -> None:
        if self.peek():
            raise json.JSONDecodeError("extra data after the document", "", self.at)
