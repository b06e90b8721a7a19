"""Runs and lineage: which run logged a version, which runs used it."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import access, hashing, names
from . import db as dbmod
from .errors import AlreadyExists, InvalidInput, NotFound
from .store import now

if TYPE_CHECKING:
    from .store import Store
    from .versions import Version

_ALPHABET = string.ascii_lowercase + string.digits
# W&B's ``resume=``: what a run id that exists (or not) does (None: localreg resumes it, as "allow")
RESUME_MODES = (None, False, True, "allow", "auto", "must", "never")


@dataclass(frozen=True)
class RunInfo:
    pk: int
    id: str
    entity: str
    project: str
    name: str | None
    job_type: str | None
    config: dict
    state: str
    started_at: str
    finished_at: str | None

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = self.path
        return d


_SELECT = (
    "SELECT r.id, r.run_id, e.name, p.name, r.name, r.job_type, r.config, r.state, r.started_at, r.finished_at "
    "FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id"
)


def _run(row, db_path) -> RunInfo:
    return RunInfo(row[0], row[1], row[2], row[3], row[4], row[5], dbmod.json_cell(row[6], {}, db_path), row[7],
                   row[8], row[9])


def new_run_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


def start_run(
    store: "Store",
    *,
    entity: str | None = None,
    project: str | None = None,
    run_id: str | None = None,
    name: str | None = None,
    job_type: str | None = None,
    config: dict | None = None,
    resume: bool | str | None = None,
) -> RunInfo:
    """Start a run, or resume it when ``run_id`` names one that exists.

    ``resume`` as W&B's ``wandb.init``: ``"must"`` raises :class:`NotFound`
    unless the run exists, ``"never"`` raises :class:`AlreadyExists` if it
    does; ``"allow"``, ``"auto"``, ``True``, ``False`` and ``None`` resume
    an existing run and start a missing one.
    """
    if resume not in RESUME_MODES:
        raise InvalidInput(f"invalid resume {resume!r}: use 'allow', 'must', 'never', 'auto', True or False")
    if resume == "must" and not run_id:
        raise InvalidInput("resume='must' needs the id of the run to resume")
    ent = names.check_name(store.default("entity", entity), "entity name")
    proj = names.check_name(store.default("project", project), "project name")
    rid = names.check_name(run_id, "run id") if run_id else new_run_id()
    if job_type is not None and not isinstance(job_type, str):
        raise InvalidInput("job_type must be a string")
    if name is not None and not isinstance(name, str):
        raise InvalidInput("run name must be a string")
    cfg = hashing.clean_metadata(dict(config) if config is not None else None, "config", max_keys=None)
    with store.transaction() as db:
        pid = store.ensure_project(ent, proj)
        row = db.execute("SELECT id, config FROM runs WHERE project_id = ? AND run_id = ?", [pid, rid]).fetchone()
        if resume == "must" and not row:
            raise NotFound(f"resume='must' but run ({rid}) doesn't exist in project {ent}/{proj}", rid)
        if resume == "never" and row:
            raise AlreadyExists(f"resume='never' but run ({rid}) already exists in project {ent}/{proj}")
        if row:
            merged = {**json.loads(row[1] or "{}"), **cfg}
            db.execute(
                "UPDATE runs SET state = 'running', finished_at = NULL, config = ?, "
                "job_type = COALESCE(?, job_type), name = COALESCE(?, name) WHERE id = ?",
                [hashing.canonical_json(merged), job_type, name, row[0]],
            )
            pk = row[0]
        else:
            pk = db.execute(
                "INSERT INTO runs (project_id, run_id, name, job_type, config, state, started_at) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?)",
                [pid, rid, name or rid, job_type, hashing.canonical_json(cfg), now()],
            ).lastrowid
        return get_run(store, pk)


def get_run(store: "Store", pk: int) -> RunInfo:
    row = store.db.execute(f"{_SELECT} WHERE r.id = ?", [pk]).fetchone()
    if not row:
        raise NotFound(f"run {pk} not found", pk)
    return _run(row, store.db_path)


def find_run(store: "Store", path: str) -> RunInfo:
    """A run by ``entity/project/run_id``."""
    parts = path.split("/")
    if len(parts) != 3:
        raise InvalidInput(f"invalid run path {path!r}: expected entity/project/run_id")
    row = store.db.execute(f"{_SELECT} WHERE e.name = ? AND p.name = ? AND r.run_id = ?", parts).fetchone()
    if not row:
        raise NotFound(f"run {parts[2]!r} not found in project {parts[0]}/{parts[1]}", path)
    return _run(row, store.db_path)


def update_run(store: "Store", pk: int, *, config: dict | None = None, state: str | None = None,
               summary: dict | None = None, name: str | None = None) -> None:
    if name is not None and not isinstance(name, str):
        raise InvalidInput("run name must be a string")
    with store.transaction() as db:
        if name is not None:
            db.execute("UPDATE runs SET name = ? WHERE id = ?", [name, pk])
        if summary:
            cur = dbmod.json_cell(db.execute("SELECT summary FROM runs WHERE id = ?", [pk]).fetchone()[0], {}, store.db_path)
            cur.update(hashing.clean_metadata(summary, "summary", max_keys=None))
            db.execute("UPDATE runs SET summary = ? WHERE id = ?", [hashing.canonical_json(cur), pk])
        if config is not None:
            cfg = hashing.clean_metadata(config, "config", max_keys=None)
            db.execute("UPDATE runs SET config = ? WHERE id = ?", [hashing.canonical_json(cfg), pk])
        if state is not None:
            finished = now() if state != "running" else None
            db.execute("UPDATE runs SET state = ?, finished_at = ? WHERE id = ?", [state, finished, pk])


def record_use(store: "Store", run_pk: int, version: "Version") -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO lineage (run_pk, version_id, direction, created_at) VALUES (?, ?, 'input', ?)",
            [run_pk, version.id, now()],
        )


def record_output(store: "Store", run_pk: int, version: "Version", *, aliases: list[str] | None = None,
                  tags: list[str] | None = None) -> None:
    """Record an already logged version as an output of a run (W&B's public ``Run.log_artifact``),
    adding ``aliases`` and ``tags`` to it. One transaction."""
    from .versions import add_aliases, get, set_tags

    with store.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO lineage (run_pk, version_id, direction, created_at) VALUES (?, ?, 'output', ?)",
            [run_pk, version.id, now()],
        )
        if aliases:
            add_aliases(store, version, aliases)
        if tags:
            current = get(store, version.id)
            set_tags(store, current, [*current.tags, *[t for t in tags if t not in current.tags]])


def logged_by(store: "Store", version: "Version") -> RunInfo | None:
    row = store.db.execute(
        f"{_SELECT} WHERE r.id = (SELECT run_pk FROM versions WHERE id = ?)", [version.data_id]
    ).fetchone()
    return _run(row, store.db_path) if row else None


def used_by(store: "Store", version: "Version") -> list[RunInfo]:
    """Runs that used the source version or any of its links (but links the acting user may not see)."""
    vis, vparams = access.visible("c.registry_id")
    rows = store.db.execute(
        f"{_SELECT} WHERE r.id IN (SELECT l.run_pk FROM lineage l WHERE l.direction = 'input' AND "
        "(l.version_id = ? OR l.version_id IN (SELECT lv.id FROM versions lv JOIN collections c "
        f"ON c.id = lv.collection_id WHERE lv.source_id = ? AND {vis}))) ORDER BY r.started_at",
        [version.data_id, version.data_id, *vparams],
    ).fetchall()
    return [_run(r, store.db_path) for r in rows]


def history_step(store: "Store", version: "Version") -> int | None:
    """The producing run's history step when it logged ``version`` (its source), or None."""
    row = store.db.execute(
        "SELECT step FROM lineage WHERE version_id = ? AND direction = 'output' ORDER BY created_at LIMIT 1",
        [version.data_id],
    ).fetchone()
    return row[0] if row else None


def run_versions(store: "Store", run_pk: int, direction: str) -> list[int]:
    """Ids of the versions a run logged or used, but links the acting user may not see."""
    vis, vparams = access.visible("c.registry_id")
    return [
        r[0]
        for r in store.db.execute(
            "SELECT l.version_id FROM lineage l JOIN versions v ON v.id = l.version_id "
            f"JOIN collections c ON c.id = v.collection_id WHERE l.run_pk = ? AND l.direction = ? AND {vis} "
            "ORDER BY l.created_at",
            [run_pk, direction, *vparams],
        )
    ]
