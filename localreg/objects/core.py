"""The chunk index of a store (:class:`Objects`), its verbs gathered from the modules beside it."""

from __future__ import annotations

from .checkout import _Checkout
from .ingest import _Ingest
from .read import _Read


class Objects(_Ingest, _Read, _Checkout):
    """The chunk index of a store and the file-level verbs over it.

    The index itself (``present``, ``_record``, locating blobs, ``reader``)
    is in ``index``; ingest, reading and checkout each add their verbs.
    """
