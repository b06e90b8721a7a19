"""The ``localreg`` command line: parse, call one library verb, print.

Every command opens the store named by ``--home`` (else ``$LOCALREG_HOME``,
else the user data folder). Only ``init``, ``log``, ``registry create``,
``seed`` and ``quickstart`` create a missing store; the others report that it
is missing.

:class:`LocalregGroup` turns every :class:`~localreg.errors.LocalregError`
into one ``Error: <message>`` line on stderr and exit code 1, in one
place; click's usage errors keep exit code 2. ``--json`` makes listing and
show commands print one JSON document built from the ``to_dict()`` of the
library's dataclasses.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import click

from .. import catalog, ingest, names, orgs, registries, runs, versions
from ..blobs import Callback, parse_blob_options
from ..errors import AlreadyExists, LocalregError, LocalregWarning, NotFound, VerificationError
from ..objects import LINK_MODES, Objects, verify_tree
from ..store import Store, __version__
from ..text import plural

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
PROGRESS_DELAY = 0.5  # seconds before a bar appears: short transfers draw nothing


# -- errors, in one place ---------------------------------------------------------


def _one_line(message: str) -> str:
    return " ".join(message.split())


class LocalregGroup(click.Group):
    """A click group that reports library errors as ``Error: ...`` and exit code 1
    (and library warnings, such as a home on a network filesystem, as ``Warning: ...``)."""

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():  # restores showwarning when the command ends
            shown = warnings.showwarning

            def show(message, category, filename, lineno, file=None, line=None) -> None:
                if issubclass(category, LocalregWarning):
                    click.echo(f"Warning: {_one_line(str(message))}", err=True)
                else:
                    shown(message, category, filename, lineno, file, line)

            warnings.showwarning = show
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LocalregError as e:
            raise click.ClickException(_one_line(str(e))) from None
        except OSError as e:
            if e.errno == errno.EPIPE:
                raise  # click exits quietly when stdout is closed (``localreg ls | head``)
            # an unwritable --root, a full disk: the user's environment, never a traceback
            where = f": {e.filename}" if e.filename else ""
            raise click.ClickException(_one_line(f"{e.strerror or e}{where}")) from None
        except Exception as e:
            # a database the library did not get to translate (corrupt, truncated, on a full disk);
            # sqlite3 is not imported here: if it never loaded, this cannot be one of its errors
            sqlite3 = sys.modules.get("sqlite3")
            if sqlite3 is None or not isinstance(e, sqlite3.DatabaseError):
                raise
            state = ctx.obj
            store = getattr(state, "_store", None)
            where = store.db_path if store is not None else getattr(state, "home", None) or "the store"
            raise click.ClickException(_one_line(f"cannot use the database {where}: {e}")) from None


# -- shared state ----------------------------------------------------------------------


@dataclass
class State:
    home: str | None
    as_json: bool
    _store: Store | None = field(default=None, repr=False)

    def store(self, create: bool = False, allow_unaccounted: bool = False) -> Store:
        """The store, opened once per command; ``create`` makes a missing one.

        ``allow_unaccounted`` is for the commands that rebuild a store whose
        database was lost (``fsck --rebuild-index``): see :class:`Store`.
        """
        if self._store is None:
            try:
                self._store = Store(self.home, create=create, allow_unaccounted=allow_unaccounted)
            except NotFound as e:
                raise NotFound(f"{e}; create one with 'localreg init' or 'localreg quickstart'", e.ref) from None
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_state = click.make_pass_decorator(State)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


class JSONParam(click.ParamType):
    """A JSON document given on the command line."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            self.fail(f"not valid JSON: {e}", param, ctx)


# -- progress -------------------------------------------------------------------------


class ProgressBar(Callback):
    """An fsspec ``Callback`` drawn as a click progress bar.

    The bar appears only once a transfer has run for ``delay`` seconds, so
    quick ones print nothing.
    """

    def __init__(self, label: str, file: TextIO | None = None, delay: float | None = None) -> None:
        super().__init__()
        self.label = label
        self.file = file
        self.delay = PROGRESS_DELAY if delay is None else delay
        self.started = time.monotonic()
        self.bar: Any = None

    def call(self, hook_name: str | None = None, **kwargs: Any) -> None:
        if self.bar is None:
            if not self.size or time.monotonic() - self.started < self.delay:
                return
            self.bar = click.progressbar(length=self.size, label=self.label, file=self.file or sys.stderr)
            self.bar.__enter__()
        self.bar.update(self.value - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@contextmanager
def progress(label: str) -> Iterator[ProgressBar | None]:
    """A progress callback when stderr is a terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    with ProgressBar(label) as bar:
        yield bar


# -- formatting -------------------------------------------------------------------------


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _aliases(v: versions.Version) -> str:
    return ", ".join(v.aliases) or "-"


def _short(digest: str) -> str:
    return digest[: len("sha256:") + 12]


def _run_line(run: runs.RunInfo) -> str:
    job = f", {run.job_type}" if run.job_type else ""
    return f"{run.path} ({run.state}{job})"


# -- the group ----------------------------------------------------------------------------


@click.group(cls=LocalregGroup)
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Store folder (default: $LOCALREG_HOME, else the user data folder).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@click.version_option(__version__, prog_name="localreg")
@click.pass_context
def cli(ctx: click.Context, home: str | None, as_json: bool) -> None:
    """localreg: W&B Artifacts and the W&B Registry, on your own disk.

    Example:

    \b
        localreg quickstart
        localreg ls
        localreg --json show wandb-registry-model/sample-model:production
    """
    state = State(home, as_json)
    ctx.obj = state
    ctx.call_on_close(state.close)


# -- logging and reading versions ------------------------------------------------------------


@cli.command(name="log")
@click.argument("path")
@click.option("--project", "-p", required=True, help="Project to log into.")
@click.option("--entity", "-e", help="Entity (team or user) of the project.")
@click.option("--name", "-n", required=True, help="Artifact name.")
@click.option("--type", "-t", "type_", required=True, help="Artifact type, e.g. model or dataset.")
@click.option("--alias", "-a", "aliases", multiple=True, help="Alias to set (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Tag to set (repeatable).")
@click.option("--metadata", "-m", type=JSONParam(), help="Metadata as a JSON object.")
@click.option("--description", "-d", help="Description of the version.")
@pass_state
def log_artifact(state: State, path: str, project: str, entity: str | None, name: str, type_: str,
                 aliases: tuple[str, ...], tags: tuple[str, ...], metadata: Any, description: str | None) -> None:
    """Log a file, folder or URI as the next version of an artifact.

    Logging content identical to an existing version of the artifact makes
    no new version: that version gets the aliases (deduplicated).

    Example:

    \b
        localreg log ./model --project demo --name my-model --type model \\
            --alias staging --metadata '{"accuracy": 0.91}'
    """
    store = state.store(create=True)
    with progress(f"Logging {path}") as cb:
        v, created = ingest.log_path(
            store, path, name=name, type=type_, entity=entity, project=project, aliases=aliases,
            tags=tags, metadata=metadata, description=description, callback=cb,
        )
    if state.as_json:
        _print_json({**v.to_dict(), "deduplicated": not created})
        return
    if created:
        click.echo(f"Logged {v.qualified_name}")
    else:
        click.echo(f"Deduplicated: {v.qualified_name} already holds this content")
    click.echo(f"  digest   {v.digest}")
    click.echo(f"  files    {v.file_count} ({_size(v.size)})")
    click.echo(f"  aliases  {_aliases(v)}")


@cli.command(name="get")
@click.argument("ref")
@click.option("--root", type=click.Path(file_okay=False), help="Folder to write into (default ./artifacts/NAME:vN).")
@click.option("--link-mode", type=click.Choice(LINK_MODES), default="copy", show_default=True,
              help="How to place files stored whole on a local blob store (others are copied); "
                   "hardlink and symlink make the store's copy read-only.")
@pass_state
def get_artifact(state: State, ref: str, root: str | None, link_mode: str) -> None:
    """Download the files of an artifact version.

    REF is [[ENTITY/]PROJECT/]NAME[:ALIAS|:vN] or [ORG/]wandb-registry-R/NAME[:ALIAS];
    without an alias it means latest. Every file is verified as it is written.

    Example:

    \b
        localreg get demo/my-model:production --root ./model
        localreg get demo/my-model:v3 --link-mode hardlink
        localreg get wandb-registry-model/my-model:latest
    """
    store = state.store()
    v = versions.resolve(store, ref)
    entries = versions.entries(store, v)
    root = root or os.path.join("artifacts", v.source_name)
    with progress(f"Downloading {v.name}") as cb:
        Objects(store).materialize(entries, root, callback=cb, link_mode=link_mode)
    if state.as_json:
        _print_json({"root": os.path.abspath(root), "version": v.to_dict(), "files": [e.to_dict() for e in entries]})
        return
    click.echo(f"Downloaded {v.qualified_name} ({plural(len(entries), 'file')}, {_size(v.size)}) to {root}")


def _project_arg(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    parts = value.split("/")
    if len(parts) > 2:
        raise names.InvalidName(f"invalid project {value!r}: expected ENTITY/PROJECT or PROJECT", value)
    if len(parts) == 1:
        return None, names.check_name(parts[0], "project name")
    return names.check_name(parts[0], "entity name"), names.check_name(parts[1], "project name")


@cli.command(name="ls")
@click.argument("project_path", metavar="[ENTITY/PROJECT]", required=False)
@pass_state
def list_artifacts(state: State, project_path: str | None) -> None:
    """List artifacts and their versions (one project, or all).

    Example:

    \b
        localreg ls
        localreg ls my-team/demo
    """
    store = state.store()
    entity, project = _project_arg(project_path)
    if project_path is None:
        collections = catalog.project_collections(store)
    else:
        collections = catalog.project_collections(store, entity or store.default("entity"), project)
    listing = [(c, catalog.collection_versions(store, c.id)) for c in collections]
    if state.as_json:
        _print_json([{**c.to_dict(), "versions": [v.to_dict() for v in vs]} for c, vs in listing])
        return
    if not listing:
        click.echo("No artifacts" + (f" in project {project_path}" if project_path else " in this store"))
        return
    current = None
    for c, vs in listing:
        scope = f"{c.entity}/{c.project}"
        if scope != current:
            if current is not None:
                click.echo()
            click.echo(scope)
            current = scope
        kind = "" if c.is_sequence else "link collection, "
        click.echo(f"  {c.name} ({c.type}, {kind}{plural(len(vs), 'version')})")
        for v in vs:
            click.echo(
                f"    {v.version:<5} {_short(v.digest)}  {plural(v.file_count, 'file'):>9}  "
                f"{_size(v.size):>9}  {_aliases(v)}" + (f"  -> {v.source_qualified_name}" if v.is_link else "")
            )


@cli.command(name="show")
@click.argument("ref")
@pass_state
def show_artifact(state: State, ref: str) -> None:
    """Show a version: files, aliases, metadata, links, lineage.

    Example:

    \b
        localreg show demo/my-model:v2
        localreg --json show wandb-registry-model/my-model:production
    """
    store = state.store()
    v = versions.resolve(store, ref)
    entries = versions.entries(store, v)
    links = versions.links_of(store, v)
    logged_by = runs.logged_by(store, v)
    used_by = runs.used_by(store, v)
    if state.as_json:
        _print_json({
            **v.to_dict(),
            "files": [e.to_dict() for e in entries],
            "links": [link.to_dict() for link in links],
            "logged_by": logged_by.to_dict() if logged_by else None,
            "used_by": [r.to_dict() for r in used_by],
        })
        return
    click.echo(f"{v.qualified_name} ({v.type})")
    if v.is_link:
        click.echo(f"  links to     {v.source_qualified_name}")
    click.echo(f"  digest       {v.digest}")
    click.echo(f"  size         {plural(v.file_count, 'file')}, {_size(v.size)}")
    click.echo(f"  created      {v.created_at} by {v.created_by}")
    click.echo(f"  aliases      {_aliases(v)}")
    click.echo(f"  tags         {', '.join(v.tags) or '-'}")
    if v.description:
        click.echo(f"  description  {v.description}")
    if v.metadata:
        click.echo(f"  metadata     {json.dumps(v.metadata, sort_keys=True, ensure_ascii=False)}")
    click.echo(f"  logged by    {_run_line(logged_by) if logged_by else '-'}")
    click.echo(f"  used by      {', '.join(_run_line(r) for r in used_by) or '-'}")
    click.echo("  files:")
    for e in entries:
        where = f"  -> {e.ref}" if e.ref else ""
        click.echo(f"    {e.path}  {_size(e.size)}  {_short(e.digest)}{where}")
    click.echo("  links:" if links else "  links:       -")
    for link in links:
        click.echo(f"    {link.qualified_name} ({_aliases(link)})")


# -- aliases and links ---------------------------------------------------------------------


@cli.group(name="alias")
def alias_group() -> None:
    """Add or remove aliases of a version.

    Example:

    \b
        localreg alias add demo/my-model:v3 production
        localreg alias rm demo/my-model:v3 production
    """


@alias_group.command(name="add")
@click.argument("ref")
@click.argument("alias")
@pass_state
def alias_add(state: State, ref: str, alias: str) -> None:
    """Set ALIAS on a version, moving it off whichever version had it.

    Example:

    \b
        localreg alias add demo/my-model:v3 production
    """
    store = state.store()
    v = versions.add_aliases(store, versions.resolve(store, ref), [alias])
    if state.as_json:
        _print_json(v.to_dict())
        return
    click.echo(f"{v.qualified_name}: aliases {_aliases(v)}")


@alias_group.command(name="rm")
@click.argument("ref")
@click.argument("alias")
@pass_state
def alias_rm(state: State, ref: str, alias: str) -> None:
    """Remove ALIAS from a version (latest is managed and stays).

    Example:

    \b
        localreg alias rm demo/my-model:v3 production
    """
    store = state.store()
    v = versions.remove_aliases(store, versions.resolve(store, ref), [alias])
    if state.as_json:
        _print_json(v.to_dict())
        return
    click.echo(f"{v.qualified_name}: aliases {_aliases(v)}")


@cli.command(name="link")
@click.argument("ref")
@click.argument("target_path")
@click.option("--alias", "-a", "aliases", multiple=True, help="Alias for the linked version (repeatable).")
@pass_state
def link_artifact(state: State, ref: str, target_path: str, aliases: tuple[str, ...]) -> None:
    """Link a version into a registry or project link collection (no data is copied).

    TARGET_PATH is [ORG/]wandb-registry-REGISTRY/COLLECTION, or a link
    collection of a project (W&B's "portfolio"): COLLECTION, PROJECT/COLLECTION
    or ENTITY/PROJECT/COLLECTION (entity: the source's; project: the default
    project). The collection is created with the artifact's type on first use.

    Example:

    \b
        localreg link demo/my-model:v3 wandb-registry-model/my-model --alias production
        localreg link demo/my-model:v3 my-team/demo/candidates --alias best
    """
    store = state.store()
    link = registries.link(store, versions.resolve(store, ref), target_path, aliases)
    if state.as_json:
        _print_json(link.to_dict())
        return
    click.echo(f"Linked {link.source_qualified_name} as {link.qualified_name} (aliases {_aliases(link)})")


@cli.command(name="unlink")
@click.argument("linked_ref")
@pass_state
def unlink_artifact(state: State, linked_ref: str) -> None:
    """Remove a linked version; its source version stays.

    Example:

    \b
        localreg unlink wandb-registry-model/my-model:v0
    """
    store = state.store()
    link = versions.resolve(store, linked_ref)
    versions.unlink(store, link)
    if state.as_json:
        _print_json({"unlinked": link.qualified_name, "source": link.source_qualified_name})
        return
    click.echo(f"Unlinked {link.qualified_name} (source {link.source_qualified_name} stays)")


# -- orgs ----------------------------------------------------------------------------------------


@cli.group(name="org")
def org_group() -> None:
    """List orgs, and put entities (teams, users) in them.

    Example:

    \b
        localreg org ls
        localreg org add acme alice
    """


@org_group.command(name="ls")
@pass_state
def org_ls(state: State) -> None:
    """List the orgs with their entities.

    Example:

    \b
        localreg org ls
    """
    store = state.store()
    listing = catalog.org_entities(store)
    if state.as_json:
        _print_json([{"name": o, "entities": ents} for o, ents in listing])
        return
    for o, ents in listing:
        click.echo(f"{o}  entities: {', '.join(ents) or '-'}")


@org_group.command(name="add")
@click.argument("org")
@click.argument("entity")
@pass_state
def org_add(state: State, org: str, entity: str) -> None:
    """Put ENTITY in ORG (both made if missing): a user in several orgs must then name the org
    of a registry path, as in W&B.

    Example:

    \b
        localreg org add acme alice
    """
    store = state.store()
    in_orgs = orgs.add_entity(store, org, entity)
    if state.as_json:
        _print_json({"entity": entity, "orgs": in_orgs})
        return
    click.echo(f"{entity} is in {', '.join(in_orgs)}")


# -- registries --------------------------------------------------------------------------------


@cli.group(name="registry")
def registry_group() -> None:
    """Create, list and show registries.

    Example:

    \b
        localreg registry create evals --type eval-results
        localreg registry ls
        localreg registry show model
    """


@registry_group.command(name="create")
@click.argument("name")
@click.option("--org", help="Organization (default: the store's).")
@click.option("--visibility", type=click.Choice(registries.VISIBILITIES), default="organization",
              show_default=True, help="Who can see the registry.")
@click.option("--type", "-t", "types", multiple=True,
              help="Artifact type the registry allows (repeatable; none: every type).")
@click.option("--description", "-d", help="What the registry is for.")
@pass_state
def registry_create(state: State, name: str, org: str | None, visibility: str,
                    types: tuple[str, ...], description: str | None) -> None:
    """Create a registry in an organization.

    Example:

    \b
        localreg registry create evals --type eval-results --description "Evaluation runs"
    """
    store = state.store(create=True)
    reg = registries.create_registry(store, name, org=org, visibility=visibility, description=description,
                                     artifact_types=list(types) if types else None)
    if state.as_json:
        _print_json(reg.to_dict())
        return
    click.echo(f"Created registry {reg.org}/{reg.full_name}")


def _types(reg: registries.Registry) -> str:
    return "all types" if reg.artifact_types is None else ", ".join(reg.artifact_types) or "none"


@registry_group.command(name="ls")
@click.option("--org", help="Organization (default: the store's).")
@pass_state
def registry_ls(state: State, org: str | None) -> None:
    """List the registries of an organization.

    Example:

    \b
        localreg registry ls --org my-org
    """
    store = state.store()
    regs = registries.list_registries(store, org)
    if state.as_json:
        _print_json([r.to_dict() for r in regs])
        return
    for r in regs:
        click.echo(f"{r.org}/{r.full_name}  {r.visibility}  types: {_types(r)}  "
                   f"{plural(r.collection_count, 'collection')}")
        if r.description:
            click.echo(f"    {r.description}")


@registry_group.command(name="show")
@click.argument("name")
@click.option("--org", help="Organization (default: the store's).")
@pass_state
def registry_show(state: State, name: str, org: str | None) -> None:
    """Show a registry and its collections.

    Example:

    \b
        localreg registry show model
    """
    store = state.store()
    reg = registries.get_registry(store, name, org)
    colls = catalog.registry_collections(store, reg)
    if state.as_json:
        _print_json({**reg.to_dict(), "collections": [c.to_dict() for c in colls]})
        return
    click.echo(f"{reg.org}/{reg.full_name}")
    if reg.description:
        click.echo(f"  description  {reg.description}")
    click.echo(f"  visibility   {reg.visibility}")
    click.echo(f"  types        {_types(reg)}")
    click.echo("  collections:" if colls else "  collections: -")
    for c in colls:
        click.echo(f"    {c.name} ({c.type}, {plural(c.version_count, 'version')})")


@cli.command(name="versions")
@click.argument("collection_path")
@pass_state
def list_versions(state: State, collection_path: str) -> None:
    """List the versions of a collection: index, aliases and source.

    COLLECTION_PATH is ORG/wandb-registry-R/COLLECTION (or
    ENTITY/PROJECT/NAME for the versions of a source artifact).

    Example:

    \b
        localreg versions my-org/wandb-registry-model/my-model
    """
    store = state.store()
    ref = names.parse_ref(collection_path, allow_alias=False, what="collection path")
    cid, _type, _where = versions.collection_id(store, ref)
    coll = registries.get_collection(store, cid)
    vs = catalog.collection_versions(store, cid)
    if state.as_json:
        _print_json({**coll.to_dict(), "versions": [v.to_dict() for v in vs]})
        return
    click.echo(f"{coll.path} ({coll.type}, {plural(len(vs), 'version')})")
    for v in vs:
        source = v.source_qualified_name if v.is_link else _short(v.digest)
        click.echo(f"  {v.version:<5} {_aliases(v):<30} {source}")


# -- checks and the store itself ---------------------------------------------------------------


@cli.command(name="verify")
@click.argument("ref", required=False)
@click.option("--all", "all_", is_flag=True, help="Re-hash every stored blob and name the versions needing a bad one.")
@click.option("--root", type=click.Path(file_okay=False), help="Also verify a downloaded folder.")
@pass_state
def verify_artifact(state: State, ref: str | None, all_: bool, root: str | None) -> None:
    """Re-hash a version's stored files (and a download: --root), or every stored blob (--all).

    Exits with 1 and lists every problem if anything is missing or changed.

    Example:

    \b
        localreg verify demo/my-model:v3 --root ./artifacts/my-model:v3
        localreg verify --all
    """
    if all_:
        if ref is not None or root is not None:
            raise click.UsageError("--all verifies every stored blob: give no REF or --root with it")
        from .upkeep import verify_store
        verify_store(state)
        return
    if ref is None:
        raise click.UsageError("give a REF to verify, or --all to verify every stored blob")
    store = state.store()
    v = versions.resolve(store, ref)
    entries = versions.entries(store, v)
    objects = Objects(store)
    problems: list[str] = []
    checked = objects.check_many(e.digest for e in entries if e.ref is None)
    for e in entries:
        if e.ref is not None:
            continue
        if checked[e.digest]:
            problems.append(f"stored file {e.path!r}: {checked[e.digest]}")
    if root is not None:
        problems += [f"{root}: {p}" for p in verify_tree(entries, root)]
    if state.as_json:
        _print_json({"version": v.qualified_name, "root": root, "ok": not problems, "problems": problems})
    else:
        for p in problems:
            click.echo(p)
    if problems:
        raise VerificationError(
            f"{plural(len(problems), 'problem')} found in {v.qualified_name}" + (f" and {root}" if root else ""),
            problems,
        )
    if not state.as_json:
        where = f" and {root}" if root else ""
        click.echo(f"OK: {v.qualified_name}{where} ({plural(len(entries), 'file')}) match their digests")


@cli.command(name="info")
@pass_state
def store_info(state: State) -> None:
    """Show where the store is, its defaults and what it holds.

    Example:

    \b
        localreg --home ./my-store info
    """
    store = state.store()
    s = catalog.stats(store)
    data = {
        "home": str(store.home),
        "blob_url": store.blob_url,
        "org": store.default("org"),
        "entity": store.default("entity"),
        "project": store.default("project"),
        "version": __version__,
        **s.to_dict(),
    }
    if state.as_json:
        _print_json(data)
        return
    rows = [
        ("home", data["home"]), ("blob url", data["blob_url"]), ("org", data["org"]),
        ("entity", data["entity"]), ("project", data["project"]),
        ("registries", s.registries), ("collections", s.collections), ("versions", s.versions),
        ("links", s.links), ("runs", s.runs), ("bytes", f"{_size(s.bytes)} ({s.bytes} bytes in {plural(s.chunks, 'blob')})"),
    ]
    for k, val in rows:
        click.echo(f"{k:<12} {val}")


@cli.command(name="init")
@click.option("--org", help="Default organization (registries live here).")
@click.option("--entity", "-e", help="Default entity (team or user).")
@click.option("--project", "-p", help="Default project.")
@click.option("--blob-url", help="Where blobs go: a folder or an fsspec URL such as s3://bucket/prefix "
                                  "(default HOME/blobs).")
@click.option("--blob-option", "blob_option", multiple=True, metavar="NAME=VALUE",
              help="A non-secret fsspec option for the blob URL, kept with the store (repeatable), e.g. "
                   "endpoint_url=http://127.0.0.1:9000. Credentials come from the environment, never from here.")
@click.option("--shared", "shared_group", metavar="GROUP",
              help="Share the store with a group: folders 2770, files 0660 (default: owner only, 0700/0600).")
@pass_state
def init_store(state: State, org: str | None, entity: str | None, project: str | None, blob_url: str | None,
               blob_option: tuple[str, ...], shared_group: str | None) -> None:
    """Create a store with its defaults (they are fixed at creation).

    A store is readable by its owner only, unless --shared names a group.
    Running it again on an existing store with the same (or no) options
    does nothing. Blobs on S3 or an S3-compatible server (MinIO, Ceph,
    SeaweedFS) need the s3 extra (pip install 'localreg[s3]'); the
    endpoint and credentials come from the AWS_* variables or a profile,
    or the endpoint from --blob-option.

    Example:

    \b
        localreg --home ./my-store init --org my-org --entity my-team --project demo
        localreg --home /srv/registry init --shared mlteam
        localreg init --blob-url s3://models/registry --blob-option endpoint_url=http://127.0.0.1:9000
    """
    options = parse_blob_options(blob_option)
    try:
        store = Store(state.home, create=False)
    except NotFound:
        store = Store(state.home, blob_url=blob_url, org=org, entity=entity, project=project,
                      shared_group=shared_group, blob_options=options or None)
        state._store = store
        click.echo(f"Created store at {store.home}")
    else:
        state._store = store
        info = store.info()
        wanted = {"default_org": org, "default_entity": entity, "default_project": project, "blob_url": blob_url,
                  "shared_group": shared_group,
                  "blob_options": json.dumps(options, sort_keys=True) if options else None}
        differ = [f"{k.replace('default_', '')} is {info.get(k)!r}" for k, val in wanted.items()
                  if val is not None and info.get(k) != val]
        if differ:
            raise AlreadyExists(
                f"a store already exists at {store.home} and its {', '.join(differ)}; "
                "defaults are set only when a store is created"
            )
        click.echo(f"Store at {store.home} exists already")
    click.echo(f"  org {store.default('org')}, entity {store.default('entity')}, "
               f"project {store.default('project')}, blobs at {store.blob_url}")


@cli.command(name="quickstart")
@click.pass_context
def quickstart(ctx: click.Context) -> None:
    """Log and link a sample model and dataset to explore.

    Uses the sample data in the fixtures/ folder of a localreg checkout.
    Running it again changes nothing but moving the aliases back.

    Example:

    \b
        localreg --home ./demo-store quickstart
    """
    state: State = ctx.obj
    model_dir, data_dir = FIXTURES / "sample-model", FIXTURES / "sample-dataset"
    if not model_dir.is_dir() or not data_dir.is_dir():
        raise NotFound(
            f"sample data not found in {FIXTURES}: quickstart needs the fixtures/ folder of a localreg checkout",
            str(FIXTURES),
        )
    store = state.store(create=True)
    project = "quickstart"
    dataset, data_created = ingest.log_path(
        store, str(data_dir), name="sample-dataset", type="dataset", project=project, tags=["sample"],
        description="Iris-like sample table, train/test split",
        metadata={"rows": 150, "splits": {"train": 120, "test": 30}},
    )
    dataset_link = registries.link(store, dataset, "wandb-registry-dataset/sample-dataset", ["training"])
    run = runs.start_run(store, project=project, run_id="quickstart", name="quickstart-train",
                         job_type="train", config={"epochs": 10, "learning_rate": 0.01})
    runs.record_use(store, run.pk, dataset_link)
    config = json.loads((model_dir / "model.json").read_text())
    model, model_created = versions.log_version(
        store, name="sample-model", type="model", entries=ingest.add_paths(store, model_dir), project=project,
        run_pk=run.pk, tags=["sample"], description="Tiny MLP for the sample dataset",
        metadata={k: config[k] for k in ("architecture", "layers", "parameters")},
    )
    model_link = registries.link(store, model, "wandb-registry-model/sample-model", ["production"])
    runs.update_run(store, run.pk, state="finished")
    run = runs.get_run(store, run.pk)

    if state.as_json:
        _print_json({
            "home": str(store.home),
            "dataset": {**dataset.to_dict(), "deduplicated": not data_created},
            "dataset_link": dataset_link.to_dict(),
            "run": run.to_dict(),
            "model": {**model.to_dict(), "deduplicated": not model_created},
            "model_link": model_link.to_dict(),
        })
        return

    def logged(v: versions.Version, created: bool) -> str:
        what = "Logged" if created else "Already logged (deduplicated)"
        return f"{what} {v.qualified_name} ({plural(v.file_count, 'file')}, {_size(v.size)})"

    click.echo(f"Store: {store.home}")
    click.echo(logged(dataset, data_created))
    click.echo(f"  linked as {dataset_link.qualified_name} (aliases {_aliases(dataset_link)})")
    click.echo(f"Run {run.path} used {dataset_link.qualified_name}")
    click.echo(logged(model, model_created) + f", logged by run {run.id}")
    click.echo(f"  linked as {model_link.qualified_name} (aliases {_aliases(model_link)})")

    prog = "localreg" if state.home is None else f"localreg --home {shlex.quote(state.home)}"
    prod = f"{model_link.path}:production"
    click.echo("\nLook at it with:")
    for args in (
        "ls",
        "registry show model",
        f"versions {model_link.path}",
        f"show {prod}",
        f"get {prod}",
        f"verify {model.qualified_name}",
    ):
        click.echo(f"  {prog} {args}")
    click.echo("\nor from Python:")
    click.echo("  import localreg as wandb")
    click.echo(f'  wandb.Api().artifact("{prod}").download()')
    click.echo("\nor in a browser (Registry App and artifact browser; needs the ui extra):")
    click.echo(f"  {prog} ui --open")


def main() -> None:
    """Entry point of the ``localreg`` script."""
    cli(prog_name="localreg")


# Commands of other topics live in modules of this package and register
# themselves on ``cli`` when imported (one line each below); heavy imports
# stay inside the commands, so ``localreg --help`` stays fast.
from . import upkeep  # noqa: E402,F401
from . import access  # noqa: E402,F401
from . import ui  # noqa: E402,F401
from . import seed  # noqa: E402,F401
from . import bundle  # noqa: E402,F401
from . import run as _run  # noqa: E402,F401


__all__ = ["cli", "main", "LocalregGroup", "ProgressBar", "progress"]
