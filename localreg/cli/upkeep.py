"""Store upkeep on the command line: ``gc``, ``fsck``, ``delete`` and ``verify --all``.

Each command calls one library verb (:func:`localreg.gc.gc`,
:func:`localreg.fsck.fsck`, :func:`localreg.versions.delete`,
:func:`localreg.fsck.verify`) and prints its report, or with ``--json``
the report's ``to_dict()``. Commands that find problems exit 1 through a
:class:`~localreg.errors.LocalregError`, so the group prints the one
``Error: ...`` line.
"""

from __future__ import annotations

import re
from typing import Any

import click

from .. import fsck as fsck_mod
from .. import gc as gc_mod
from .. import names, versions
from ..errors import Conflict, StoreError, VerificationError
from . import State, _plural, _print_json, _size, cli, pass_state, progress

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Duration(click.ParamType):
    """A duration: a number of seconds, or a number with a unit (``30s``, ``10m``, ``1h``, ``2d``, ``1w``)."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
        if not m:
            self.fail(f"{value!r} is not a duration: use e.g. 0, 30s, 10m, 1h or 2d", param, ctx)
        return float(m[1]) * UNITS[m[2] or "s"]


@cli.command(name="gc")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--grace", type=Duration(), default="1h", show_default=True,
              help="Keep unneeded blobs and files younger than this (0, 30s, 10m, 1h, 2d): "
                   "a write in progress may still commit them.")
@pass_state
def gc_command(state: State, dry_run: bool, grace: float) -> None:
    """Delete expired versions and remove blobs no version needs.

    Versions whose ttl has passed are deleted first (with their aliases and
    links). Then blobs and packs that no remaining version needs, and files
    left by interrupted writes, are removed once older than the grace
    period. A pack that still holds a needed blob stays whole; its dead
    bytes are reported.

    Example:

    \b
        localreg gc --dry-run
        localreg gc --grace 10m
    """
    store = state.store()
    report = gc_mod.gc(store, grace=grace, dry_run=dry_run)
    if state.as_json:
        _print_json(report.to_dict())
        return
    would = "Would " if dry_run else ""
    for name in report.expired_versions:
        click.echo(f"{would}{'delete' if dry_run else 'Deleted'} expired version {name}")
    for line in report.expired_refused:
        click.echo(f"Kept expired version {line}")
    for what in report.removed:
        click.echo(f"{would}{'remove' if dry_run else 'Removed'} {what}")
    click.echo(
        f"{'Would free' if dry_run else 'Freed'} {_size(report.bytes_freed)} ({report.bytes_freed} bytes): "
        f"{_plural(report.loose_removed, 'loose object')}, {_plural(report.packs_removed, 'pack')} and "
        f"{_plural(report.orphan_files_removed, 'orphan file')}; "
        f"{_plural(report.chunks_removed, 'unneeded blob')} {'would leave' if dry_run else 'left'} the index"
    )
    if report.pack_bytes_dead:
        click.echo(f"{_size(report.pack_bytes_dead)} of dead space stays in packs that still hold needed blobs")
    if report.kept_young:
        what = "blob or file" if report.kept_young == 1 else "blobs and files"
        click.echo(f"Kept {report.kept_young} unneeded {what} younger than the grace period")


@cli.command(name="fsck")
@click.option("--repair", is_flag=True, help="Fix what can be fixed safely and say what cannot.")
@click.option("--rebuild-index", is_flag=True,
              help="First rebuild the chunk index from the blob store (pack footers, loose objects).")
@pass_state
def fsck_command(state: State, repair: bool, rebuild_index: bool) -> None:
    """Check the store for missing blobs, dangling aliases and links, and leftovers.

    Problems (an index row whose bytes are gone or truncated, an alias or a
    link that points at nothing) make the command exit 1. --repair deletes
    dangling rows and the index rows of lost blobs, then lists what it
    could not fix (lost bytes must be restored). Leftovers (orphan blobs,
    dead pack space, temp files) are no problem: 'localreg gc' removes them.

    --rebuild-index first adds the index rows the blob store can vouch for
    (every pack lists its chunks in a footer; loose objects are named by
    their digest), for a database whose chunk index was lost or damaged;
    then the store is checked as usual. 'localreg verify --all' re-hashes
    every blob afterwards.

    Example:

    \b
        localreg fsck
        localreg fsck --repair
        localreg fsck --rebuild-index
    """
    store = state.store(allow_unaccounted=rebuild_index)
    rebuilt = None
    if rebuild_index:
        with progress("Reading packs") as cb:
            rebuilt = fsck_mod.rebuild_index(store, callback=cb)
        if not state.as_json:
            _print_rebuild(store, rebuilt)
    report = fsck_mod.fsck(store, repair=repair)
    if state.as_json:
        _print_json({**report.to_dict(), **({"rebuilt": rebuilt.to_dict()} if rebuilt is not None else {})})
    else:
        for f in report.problems:
            click.echo(f"problem: {f.message}")
        for f in report.leftovers:
            click.echo(f"leftover: {f.message}")
        for line in report.repaired:
            click.echo(f"repaired: {line}")
        for line in report.unrepaired:
            click.echo(f"cannot repair: {line}")
    if not report.clean:
        if repair:
            n = len(report.unrepaired)
            raise StoreError(f"{_plural(n, 'problem')} {'remains' if n == 1 else 'remain'} in store {store.home} "
                             "after repair")
        raise StoreError(
            f"{_plural(len(report.problems), 'problem')} found in store {store.home}; "
            "'localreg fsck --repair' fixes what it safely can"
        )
    if not state.as_json:
        done = f" ({_plural(len(report.repaired), 'repair')} made)" if report.repaired else ""
        gc_note = f"; {_plural(len(report.leftovers), 'leftover')} for 'localreg gc'" if report.leftovers else ""
        click.echo(f"OK: store {store.home} is consistent{done}{gc_note}")


def _print_rebuild(store: Any, r: "fsck_mod.RebuildReport") -> None:
    click.echo(f"Rebuilt the chunk index of {store.home} from {store.blobs.url}: read {_plural(r.packs, 'pack')} "
               f"({r.packs_with_footer} with a footer) and {_plural(r.loose, 'loose object')}; added "
               f"{_plural(r.chunks_added, 'chunk row')} and {_plural(r.files_added, 'chunked-file row')}")
    for line in r.recovered:
        click.echo(f"recovered: {line}")
    for line in r.unrecovered:
        click.echo(f"not recovered: {line}")


@cli.command(name="delete")
@click.argument("ref")
@click.option("--delete-aliases", is_flag=True, help="Delete the version with its aliases (else it refuses).")
@click.option("--unlink", "unlink_links", is_flag=True,
              help="Unlink the version from every registry collection first (else it refuses while linked).")
@pass_state
def delete_command(state: State, ref: str, delete_aliases: bool, unlink_links: bool) -> None:
    """Delete a version, or unlink a linked version.

    REF must name the version (:vN or :ALIAS), never just the collection.
    A source version with aliases other than latest is kept unless
    --delete-aliases; one linked into a registry is kept unless --unlink.
    A linked REF (in a registry) is unlinked; its source stays. The bytes
    stay until 'localreg gc'.

    Example:

    \b
        localreg delete demo/my-model:v1
        localreg delete demo/my-model:staging --delete-aliases --unlink
        localreg delete wandb-registry-model/my-model:v0
    """
    parsed = names.parse_ref(ref)
    if not parsed.alias:
        raise names.InvalidName(
            f"{ref!r} names no version: add :vN or :ALIAS (e.g. {ref}:v0) to say which one to delete", ref
        )
    store = state.store()
    v = versions.resolve(store, parsed)
    if v.is_link:
        versions.unlink(store, v)
        if state.as_json:
            _print_json({"unlinked": v.qualified_name, "source": v.source_qualified_name})
            return
        click.echo(f"Unlinked {v.qualified_name} (source {v.source_qualified_name} stays)")
        return
    user_aliases = [a for a in v.aliases if a != names.LATEST]
    if user_aliases and not delete_aliases:
        raise Conflict(f"{v.qualified_name} has aliases {', '.join(user_aliases)}; "
                       "pass --delete-aliases to delete it with them")
    links = versions.links_of(store, v)
    if links and not unlink_links:
        raise Conflict(f"{v.qualified_name} is linked to {', '.join(link.qualified_name for link in links)}; "
                       "pass --unlink to unlink it and delete it")
    versions.delete(store, v, delete_aliases=delete_aliases, unlink_links=unlink_links)
    if state.as_json:
        _print_json({"deleted": v.qualified_name, "aliases": list(v.aliases),
                     "unlinked": [link.qualified_name for link in links]})
        return
    for link in links:
        click.echo(f"Unlinked {link.qualified_name}")
    click.echo(f"Deleted {v.qualified_name}; its blobs stay until 'localreg gc'")


def verify_store(state: State) -> None:
    """``localreg verify --all``: re-hash every stored blob (see :func:`localreg.fsck.verify`)."""
    store = state.store()
    with progress("Verifying blobs") as cb:
        report = fsck_mod.verify(store, callback=cb)
    problems = [f"{problem} (needed by {', '.join(report.versions.get(d, [])) or 'no version'})"
                for d, problem in sorted(report.bad.items())]
    if state.as_json:
        _print_json(report.to_dict())
    else:
        for p in problems:
            click.echo(p)
    if problems:
        raise VerificationError(
            f"{len(problems)} of {_plural(report.checked, 'blob')} missing or corrupt in store {store.home}",
            problems,
        )
    if not state.as_json:
        click.echo(f"OK: {_plural(report.checked, 'blob')} in store {store.home} match their digests")
