"""What every part of a bundle shares: the format constants, the errors, the reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import Conflict, LocalregError

FORMAT = "localreg-bundle"
FORMAT_VERSION = 1
INDEX = "localreg-bundle.json"
SIGNATURE = "localreg-bundle.sig"
BLOB_DIR = "blobs/"
MTIME = 946684800  # 2000-01-01: fixed, and not so old that tar warns about it
# the largest index read: 1.5 times the largest real selection measured (bench/bundle_memory.py --sizes-only:
# 1 version x 1,000,000 files: 226 MB; 100,000 versions x 10 files: 258 MB). Read as a stream, its size costs no
# memory, but for a signed bundle (--trust), whose signature covers the index whole and is checked on it whole
MAX_INDEX_BYTES = 384 << 20
# the largest record of the index (a version without its manifest, a run, a link...) held whole while checked
MAX_RECORD_CHARS = 16 << 20
# version and link indexes: below 2**31, which no collection nears (a version a second for 68 years), and far
# from SQLite's 2**63, where next_idx = max(idx) + 1 turns into a float (issue 12 item 7)
MAX_INDEX = 2**31 - 1
# sizes: up to 2**53 bytes (8 PiB), the largest integer every JSON reader (JavaScript's included) holds exactly
MAX_SIZE = 2**53
EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # of no bytes
MAX_SIG_BYTES = 4096
MAX_PAX_BYTES = 4096
READ = 1 << 20
BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)

# -- errors ----------------------------------------------------------------------------


class BundleError(LocalregError, ValueError):
    """The bundle cannot be used: not a bundle, unsafe, truncated, corrupt or inconsistent. Nothing was written."""

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedBundle(BundleError):
    """The bundle was written in a newer format than this localreg reads."""

    def __init__(self, message: str, path: object = None, version: object = None) -> None:
        super().__init__(message, path)
        self.version = version


class SignatureError(BundleError):
    """``trust`` was given and the bundle is unsigned, signed by another key, or altered since it was signed."""


class BundleConflict(Conflict):
    """The store has diverged from the bundle; ``conflicts`` lists every difference. Nothing was written."""

    def __init__(self, message: str, conflicts: list[str]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class MissingDependency(LocalregError, ImportError):
    """An optional package this feature needs is not installed."""


# -- reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_bundle` wrote."""

    path: str
    versions: tuple[str, ...]
    links: tuple[str, ...]
    registries: tuple[str, ...]
    runs: int
    blobs: int
    bytes: int
    excluded: int
    size: int
    signed_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("versions", "links", "registries"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_bundle` added (with ``dry_run``: would add).

    ``blobs``/``bytes`` count blobs written to the store; ``blobs_present``
    those of the bundle it already had. ``signed_by`` is the fingerprint of
    the trusted key that signed the bundle (None when ``trust`` was not given).
    """

    path: str
    dry_run: bool
    format_version: int
    signed_by: str | None = None
    registries: tuple[str, ...] = ()
    types_added: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    lineage: int = 0
    blobs: int = 0
    bytes: int = 0
    blobs_present: int = 0

    @property
    def changed(self) -> bool:
        """True if the import added (or would add) anything."""
        return bool(self.registries or self.types_added or self.collections or self.versions or self.links
                    or self.aliases or self.runs or self.lineage or self.blobs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        d["changed"] = self.changed
        return d
