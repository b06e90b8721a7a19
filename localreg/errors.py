"""The exception tree of localreg.

Every error localreg raises on purpose derives from :class:`LocalregError`
and is mixed with the builtin exception a caller would already catch
(``ValueError`` for bad input, ``LookupError`` for things that are not
there, ``AttributeError`` for W&B members that a draft does not have yet).

W&B's own classes live here too, at the paths W&B code imports them from
(``wandb.Error``, ``wandb.errors.CommError``, ``wandb.errors.UsageError``,
``wandb.sdk.artifacts.exceptions.ArtifactFinalizedError`` ...), and
localreg's classes derive from the W&B class W&B raises in the same
situation, so ``except localreg.errors.NotFound`` and
``except wandb.errors.CommError`` both catch a missing artifact.
This module imports nothing from localreg.
"""

from __future__ import annotations

from typing import Any


# -- W&B's classes (wandb/errors/errors.py, wandb/sdk/artifacts/exceptions.py) --------------------


class Error(Exception):
    """W&B's base error (``wandb.Error``); ``message`` and ``context`` as W&B has them."""

    def __init__(self, message: str = "", context: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = context or {}


class CommError(Error):
    """W&B: an error talking to the server. localreg raises it where W&B's server would refuse."""

    def __init__(self, msg: str = "", exc: BaseException | None = None) -> None:
        super().__init__(msg)
        self.exc = exc


class UsageError(Error):
    """W&B: the SDK was used in a way it does not allow (e.g. no active run)."""


class ArtifactStatusError(AttributeError):
    """W&B: an artifact is in the wrong state (draft vs. logged) for the member used."""

    def __init__(self, msg: str = "Artifact is in an invalid state for the requested operation.",
                 name: str | None = None, obj: Any = None) -> None:
        super().__init__(msg, name=name, obj=obj)


class ArtifactNotLoggedError(ArtifactStatusError):
    """W&B: a member that exists only once the artifact is logged was used on a draft."""


class ArtifactFinalizedError(ArtifactStatusError):
    """W&B: a member that changes files was used on a logged (finalized) artifact."""


# -- localreg's tree -------------------------------------------------------------------------------


class LocalregError(Exception):
    """Root of every error localreg raises on purpose."""


class InvalidInput(LocalregError, ValueError):
    """A value given by the caller is not acceptable; nothing was written."""


class ApiUsageError(InvalidInput, CommError):
    """Bad input to a method W&B's ``Api`` wraps, so W&B code sees ``CommError`` (and ``ValueError``)."""


class InvalidName(InvalidInput):
    """A name, type, alias, tag, ref or path does not follow the rules."""

    def __init__(self, message: str, value: object = None) -> None:
        super().__init__(message)
        self.value = value


class InvalidMetadata(InvalidInput):
    """Metadata, config or a filter that is not JSON-able or breaks a limit."""


class InvalidFilter(InvalidInput):
    """A MongoDB-style filter that localreg cannot read."""


class TypeMismatch(InvalidInput):
    """An artifact's type does not fit the collection or registry."""


class NotFound(LocalregError, LookupError, CommError, ValueError):
    """Something named by the caller does not exist.

    W&B reports a missing artifact, collection or project as ``CommError``
    from ``Api()`` calls and as ``ValueError`` from ``run.use_artifact``,
    ``add_file`` and ``Api().registry``: this is both.
    """

    def __init__(self, message: str, ref: object = None) -> None:
        super().__init__(message)
        self.ref = ref

    def __str__(self) -> str:  # LookupError would not quote, but be explicit
        return str(self.args[0]) if self.args else ""


class EntryNotFound(NotFound, KeyError):
    """A file is not in an artifact (W&B's ``get_entry`` raises ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class FileNotInArtifact(NotFound, FileNotFoundError):
    """``remove()`` of a path a draft does not hold (W&B raises ``FileNotFoundError``)."""

    def __str__(self) -> str:  # OSError would format errno-style otherwise
        return str(self.args[0]) if self.args else ""


class AlreadyExists(LocalregError, ValueError):
    """Something the caller asked to create exists already."""


class Conflict(LocalregError, CommError, ValueError):
    """The request contradicts the state of the store (e.g. deleting an aliased version).

    W&B's server refuses these, so W&B code sees a ``CommError``.
    """


class ArtifactStateError(LocalregError, ArtifactStatusError):
    """A member was used in the wrong life-cycle state (draft vs. logged)."""


class ArtifactNotLogged(ArtifactStateError, ArtifactNotLoggedError):
    """A member that exists only once logged was used on a draft."""


class ArtifactFinalized(ArtifactStateError, ArtifactFinalizedError):
    """The files of a logged artifact cannot change."""


class RunStateError(LocalregError, UsageError, AttributeError):
    """A run was used after it finished, or a module-level call needs ``init()`` first (W&B: UsageError)."""


class StoreError(LocalregError, OSError):
    """The store itself cannot be used: missing, corrupt, too new, read-only, busy."""


class StoreBusy(StoreError):
    """SQLite stayed locked by other writers after every retry."""


class ReadOnlyStore(StoreError):
    """The store's home cannot be written to."""


class IncompatibleStore(StoreError):
    """The store was written by a newer localreg."""


class CorruptDatabase(StoreError):
    """``localreg.db`` is damaged: SQLite finds it malformed, or a value in it cannot be read back.

    The message names the file and the way out: restore a backup
    (``localreg restore``), or rebuild the chunk index from the blobs
    (``localreg fsck --rebuild-index``).
    """

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:  # OSError would format errno-style otherwise
        return str(self.args[0]) if self.args else ""


class UnaccountedStore(StoreError):
    """The database cannot account for what the blob store holds.

    Its database is missing or empty (or records another store, or an
    incomplete chunk index) while the blob store holds the data of a store:
    opening it as new, or collecting garbage in it, would lose that data.
    ``reasons`` lists what does not match.
    """

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or []

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DiskFull(StoreError):
    """The disk (or a quota, or a file size limit) ran out while writing; nothing half-written was kept."""


class CorruptBlob(LocalregError, OSError):
    """Stored bytes do not match their digest, or are missing."""

    def __init__(self, message: str, digest: str | None = None) -> None:
        super().__init__(message)
        self.digest = digest


class VerificationError(LocalregError, ValueError):
    """A download does not match the manifest of its version."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class FileChanged(LocalregError, OSError):
    """A file changed while it was being read into the store."""


class PermissionDenied(LocalregError, PermissionError):
    """The acting user may not do this; logged in the audit log."""

    def __init__(self, message: str, user: str | None = None, action: str | None = None,
                 target: str | None = None) -> None:
        super().__init__(message)
        self.user = user
        self.action = action
        self.target = target

    def __str__(self) -> str:  # PermissionError would format errno-style otherwise
        return str(self.args[0]) if self.args else ""


class LocalregWarning(UserWarning):
    """Something works but is risky, e.g. a store on a network filesystem where SQLite locking is unsafe."""
