"""``localreg export``, ``import`` and ``keygen``: bundles for air-gapped transfer.

The work is :mod:`localreg.bundle`'s; these commands parse, call it and
print. It is imported inside the commands, so ``localreg --help`` does not
pay for it.
"""

from __future__ import annotations

import sys

import click

from ..text import plural
from . import State, _print_json, _size, cli, pass_state, progress


@cli.command(name="export")
@click.argument("selections", nargs=-1, metavar="SELECTION...")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Bundle file to write (with --digests-only: the digest list; default stdout).")
@click.option("--exclude-from", "exclude_from", multiple=True, type=click.Path(exists=True),
              help="Leave out blobs listed in this digest list or held by this store folder (repeatable).")
@click.option("--sign", "sign_key", type=click.Path(exists=True, dir_okay=False),
              help="Sign the bundle with this Ed25519 private key (see 'localreg keygen').")
@click.option("--digests-only", is_flag=True,
              help="Print the blob digests the selection needs (all the store holds, without one) instead.")
@pass_state
def export_cmd(state: State, selections: tuple[str, ...], output: str | None, exclude_from: tuple[str, ...],
               sign_key: str | None, digests_only: bool) -> None:
    """Write versions, links and their files to one verified bundle file.

    SELECTION is a version (ENTITY/PROJECT/NAME:ALIAS, ORG/wandb-registry-R/C:ALIAS),
    a collection (ENTITY/PROJECT/NAME, ORG/wandb-registry-R/C), a registry
    (ORG/wandb-registry-R) or a project (ENTITY/PROJECT). A link brings its
    source version. The bundle is a tar file; exporting the same selection
    again gives the same bytes.

    For an incremental bundle, print on the importing side what it holds and
    carry that list over:

    Example:

    \b
        localreg export acme/wandb-registry-model -o models.tar --sign ~/.localreg/key
        localreg --home /target export --digests-only -o have.txt
        localreg export team/demo --exclude-from have.txt -o demo-update.tar
    """
    from .. import bundle

    store = state.store()
    if digests_only:
        if exclude_from or sign_key:
            raise click.UsageError("--digests-only takes no --exclude-from or --sign")
        if selections:
            digests = bundle.selection_digests(store, list(selections))
        else:
            digests = bundle.store_digests(store)
        lines = "".join(d + "\n" for d in digests)
        if output is not None:
            with open(output, "w", encoding="utf-8") as f:
                f.write(lines)
            if state.as_json:
                _print_json({"path": output, "digests": len(digests)})
            else:
                click.echo(f"Wrote {plural(len(digests), 'digest')} to {output}", err=True)
        elif state.as_json:
            _print_json(digests)
        else:
            sys.stdout.write(lines)
        return
    if not selections:
        raise click.UsageError("give at least one SELECTION (or --digests-only)")
    if output is None:
        raise click.UsageError("give the bundle file with -o FILE")
    exclude: set[str] = set()
    for source in exclude_from:
        exclude |= bundle.read_digests(source)
    with progress(f"Exporting to {output}") as cb:
        report = bundle.export_bundle(store, list(selections), output, exclude_digests=exclude,
                                      sign_key=sign_key, callback=cb)
    if state.as_json:
        _print_json(report.to_dict())
        return
    click.echo(f"Exported {plural(len(report.versions), 'version')}, {plural(len(report.links), 'link')} "
               f"and {plural(report.blobs, 'blob')} ({_size(report.bytes)}) to {report.path} "
               f"({_size(report.size)})")
    if report.excluded:
        click.echo(f"  left out {plural(report.excluded, 'blob')} the other side has")
    if report.signed_by:
        click.echo(f"  signed by {report.signed_by}")


@cli.command(name="import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the bundle and print what would be added; write nothing.")
@click.option("--trust", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Require a signature by this Ed25519 public key (repeatable: any of them).")
@pass_state
def import_cmd(state: State, path: str, dry_run: bool, trust: tuple[str, ...]) -> None:
    """Check a bundle, then add everything it holds in one transaction.

    Versions, links and aliases keep their indexes and names. Nothing is
    written unless every member, blob digest and (with --trust) the
    signature check out and nothing in the store conflicts; every conflict
    is listed. Importing the same bundle again changes nothing.

    Example:

    \b
        localreg import models.tar --dry-run
        localreg import models.tar --trust ~/.localreg/key.pub
    """
    from .. import bundle
    from ..errors import Conflict

    store = state.store(create=True)
    try:
        with progress(f"Checking {path}") as cb:
            report = bundle.import_bundle(store, path, trust=list(trust) or None, dry_run=dry_run, callback=cb)
    except bundle.BundleConflict as e:
        if not state.as_json:
            for c in e.conflicts:
                click.echo(f"conflict: {c}", err=True)
        else:
            _print_json({"ok": False, "conflicts": e.conflicts})
        raise Conflict(f"{plural(len(e.conflicts), 'conflict')} with the store; nothing was imported") from None
    if state.as_json:
        _print_json(report.to_dict())
        return
    verb = "Would add" if dry_run else "Added"
    if report.signed_by:
        click.echo(f"Signature by {report.signed_by}: good")
    if not report.changed:
        click.echo(f"Nothing to add: the store already holds everything in {path}")
        return
    click.echo(f"{verb} {plural(len(report.versions), 'version')}, {plural(len(report.links), 'link')}, "
               f"{plural(len(report.aliases), 'alias', 'aliases')}, {plural(len(report.runs), 'run')} and "
               f"{plural(report.blobs, 'blob')} ({_size(report.bytes)}) from {path}")
    for title, items in (("registries", report.registries), ("allowed types", report.types_added),
                         ("collections", report.collections), ("versions", report.versions),
                         ("links", report.links), ("aliases", report.aliases), ("runs", report.runs)):
        if items:
            click.echo(f"  {title}:")
            for item in items:
                click.echo(f"    {item}")


@cli.command(name="keygen")
@click.argument("path", type=click.Path(dir_okay=False))
@pass_state
def keygen_cmd(state: State, path: str) -> None:
    """Make an Ed25519 key pair for signing bundles: PATH (private, 0600) and PATH.pub.

    Keep PATH on the exporting side; carry PATH.pub to the importing side
    and pass it to 'localreg import --trust'.

    Example:

    \b
        localreg keygen ~/.localreg/key
        localreg export acme/wandb-registry-model -o models.tar --sign ~/.localreg/key
    """
    from .. import bundle

    priv, pub, fp = bundle.keygen(path)
    if state.as_json:
        _print_json({"private_key": str(priv), "public_key": str(pub), "fingerprint": fp})
        return
    click.echo(f"Wrote private key {priv} (keep it secret) and public key {pub}")
    click.echo(f"  fingerprint {fp}")
