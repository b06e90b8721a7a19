"""Bundles: versions, links, lineage and their blobs in one verified tar file.

A bundle carries part of a store across an air gap. It is one POSIX tar
(``tar tf`` lists it) whose members are, in this order:

* ``localreg-bundle.json``: the index. Format and format version, the
  versions with their manifests, aliases, tags, metadata, descriptions and
  creation times, the registries (description, visibility, allowed types),
  the collections, the links (with their own index and aliases), the runs
  and lineage edges of what is exported, and the sha256 and size of every
  blob the bundle holds;
* ``localreg-bundle.sig`` when signed: an Ed25519 signature over the exact
  bytes of the index, which names every blob by digest, so one signature
  covers the whole bundle;
* ``blobs/<hex>``: the whole bytes of every file the selection needs,
  sorted by digest (less those the other side has: ``exclude_digests``).

Invariants:

* Export is deterministic: members are sorted and written with a fixed
  mtime, owner and mode, and the index holds no export time, so the same
  selection of the same store gives a byte-identical file (Ed25519
  signatures are deterministic too). Blobs are streamed through
  a :class:`BlobReader`, which checks every chunk against its digest on
  two threads while the tar is written, and the file appears under its
  name only once complete and checked.
* Import checks everything before it changes anything: member names and
  types, duplicates, truncation, the signature (when ``trust`` is given),
  the format version, the index schema, that every needed blob is in the
  bundle or the store, every conflict with the store, and every blob's
  size and digest (streamed from the tar into :class:`Staging`, where no
  row names them). Only then does one transaction record the blobs and
  add every row, keeping version indexes, link indexes and aliases as they
  were at the source. A crash before the commit leaves unindexed files
  that gc removes, never a partial import.
* Import adds; it never moves, edits or removes what the store holds.
  Where the bundle says something else about something the store already
  has (another digest, type, description, metadata or tags for the same
  ``name:vN``, an alias on another version, a link index taken by another
  source, a registry of other visibility) it refuses and lists every
  conflict. ``latest`` is managed: it ends on the newest version of each
  collection the import adds to. Runs that exist already are kept as they
  are. Re-importing a bundle therefore changes nothing.

Modules, along the seams: :mod:`.common` (format constants, errors,
reports), :mod:`.keys` (Ed25519 keys and signatures), :mod:`.tar` (the tar
written and read), :mod:`.index` (the index encoded, parsed and checked),
:mod:`.jsonstream` and :mod:`.reading` (the index read as a stream and
checked record by record), :mod:`.scratch` (where an import keeps it),
:mod:`.export`, :mod:`.apply` (the plan against the store and the rows
written) and :mod:`.importer`. Every public name is importable from here.
"""

# ruff: noqa: F401  (re-exports: every name that was importable from bundle.py stays so)
from __future__ import annotations

from .. import hashing
from ..errors import CorruptBlob
from .apply import _apply, _check_access, _Plan, _plan
from .common import (
    BLOB_DIR, BLOCK, FORMAT, FORMAT_VERSION, INDEX, MAX_INDEX_BYTES, MAX_PAX_BYTES, MAX_SIG_BYTES, MTIME, READ,
    SIGNATURE, ZERO_BLOCK, BundleConflict, BundleError, ExportReport, ImportReport, MissingDependency, SignatureError,
    UnsupportedBundle,
)
from .export import export_bundle, read_digests, selection_digests, store_digests
from .importer import import_bundle
from .index import _encode_index, _Schema
from .keys import fingerprint, keygen
from .reading import _Index, read_index
from .tar import _header, _Member, _parse_header, _TarFile, _tarfile_header

__all__ = [
    "BundleConflict", "BundleError", "ExportReport", "ImportReport", "MissingDependency", "SignatureError",
    "UnsupportedBundle", "export_bundle", "import_bundle", "keygen", "read_digests", "selection_digests",
    "store_digests",
]
