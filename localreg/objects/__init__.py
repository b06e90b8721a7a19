"""Files in and out of the blob store, with their chunk index in SQLite.

A file below ``PACK_LIMIT`` is one chunk named by its own digest, in a
pack; a bigger one is a list of content-defined chunks (a row of
``chunked_files``), each packed, or with ``whole=True`` one loose object:
creating one file per small blob costs about as much as copying it, so
10,000 small files become a handful of packs and 10,000 rows. Every pack
ends with a footer listing what it holds (``packs``), so the chunk index
can be rebuilt from the blob store alone.

Ingest keeps a stat cache (path, device, inode, size, mtime in ns ->
digest): a file whose stat is unchanged is not read again. Entries whose
mtime is too close to the moment they were read are not cached, since a
write within the same timestamp tick would go unseen ("racy clean", as
git calls it).

Reads always re-hash: a chunk whose bytes do not match its digest raises
:class:`~localreg.errors.CorruptBlob` naming it. Bytes handed to a caller
as they are read (:meth:`Objects.iter_bytes`, what the web download
streams) were checked before they were yielded, and a damaged file never
comes out whole; a download to files never leaves wrong bytes under a
final name.

The package is split along its seams: ``base`` (constants, :class:`Entry`),
``core`` (:class:`Objects`, the chunk index), ``ingest``, ``read``
(:class:`BlobReader`), ``checkout`` (materialize, links, ``verify_tree``),
``staging`` (:class:`Staging`) and ``packs`` (writing packs, their footers). Every public
name is importable from ``localreg.objects``.
"""

from .base import PACK_LIMIT, PACK_TARGET, Entry
from .checkout import LINK_MODES, _reflink, verify_tree  # noqa: F401 (_reflink: tests)
from .core import Objects
from .ingest import _read_small  # noqa: F401 (tests wrap it)
from .read import BlobReader
from .staging import Staging

__all__ = ["BlobReader", "Entry", "LINK_MODES", "Objects", "PACK_LIMIT", "PACK_TARGET", "Staging", "verify_tree"]
