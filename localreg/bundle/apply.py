"""Import, against the store: the plan (what is added, every conflict, access) and the rows written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import access, hashing, names, versions
from ..names import LATEST, REGISTRY_PREFIX
from ..objects import Objects
from ..store import CORE_REGISTRIES, Store, current_user, now
from .common import BundleConflict, BundleError
from .index import _split_qualified
from .reading import _Index
from .scratch import Present
from ..text import plural

# -- planning against the store --------------------------------------------------------------------


@dataclass
class _Plan:
    conflicts: list[str] = field(default_factory=list)
    new_orgs: set[str] = field(default_factory=set)
    registries: list[tuple[str, str]] = field(default_factory=list)
    types: dict[tuple[str, str], list[str] | None] = field(default_factory=dict)
    collections: list[str] = field(default_factory=list)
    versions: list[tuple[str, int]] = field(default_factory=list)
    links: list[tuple[str, int]] = field(default_factory=list)
    aliases: list[tuple[str, str, int]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    lineage: list[dict] = field(default_factory=list)
    missing: _Missing = field(default_factory=lambda: _Missing())  # digest -> versions needing it
    present: Any = field(default_factory=set)  # the bundle's blobs the store has (a scratch.Present)


class _Missing(Mapping):
    """The blobs new versions need that neither the bundle nor the store has: how many, and the first.

    Only the first (smallest digest), with the versions that need it, is
    kept: that is all a message names, and there may be a million.
    """

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[str, list[str]] | None = None

    def add(self, digest: str, needed_by: Callable[[], list[str]]) -> None:
        self.count += 1
        if self.first is None or digest < self.first[0]:
            self.first = (digest, needed_by())

    def __getitem__(self, digest: str) -> list[str]:
        if self.first is None or digest != self.first[0]:
            raise KeyError(digest)
        return self.first[1]

    def __iter__(self) -> Iterator[str]:
        if self.first is not None:
            yield self.first[0]

    def __len__(self) -> int:
        return self.count


def _batches(rows: Iterable[Any], n: int = 10_000) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _collection_row(db, path: str) -> tuple | None:
    ref = names.parse_ref(path, allow_alias=False)
    if ref.is_registry:
        return db.execute(
            "SELECT c.id, c.type, c.description, c.tags, c.kind FROM collections c "
            "JOIN registries r ON r.id = c.registry_id "
            "JOIN orgs o ON o.id = r.org_id WHERE o.name = ? AND r.name = ? AND c.name = ?",
            [ref.scope, ref.registry, ref.name],
        ).fetchone()
    return db.execute(
        "SELECT c.id, c.type, c.description, c.tags, c.kind FROM collections c JOIN projects p ON p.id = c.project_id "
        "JOIN entities e ON e.id = p.entity_id WHERE e.name = ? AND p.name = ? AND c.name = ?",
        [ref.scope, ref.project, ref.name],
    ).fetchone()


def _plan(store: Store, idx: _Index) -> _Plan:
    """What the import adds, and every conflict with the store (reads only)."""
    db = store.db
    plan = _Plan()
    c_ = plan.conflicts

    orgs = {org for org, _ in idx.registries}
    for org in sorted(orgs):
        if not db.execute("SELECT 1 FROM orgs WHERE name = ?", [org]).fetchone():
            plan.new_orgs.add(org)
    for (org, name), r in idx.registries.items():  # in key order
        full = f"{org}/{REGISTRY_PREFIX}{name}"
        row = None if org in plan.new_orgs else db.execute(
            "SELECT r.description, r.visibility, r.artifact_types FROM registries r JOIN orgs o ON o.id = r.org_id "
            "WHERE o.name = ? AND r.name = ?", [org, name]).fetchone()
        if row is None:
            plan.registries.append((org, name))
            continue
        if row[0] != r["description"]:
            c_.append(f"registry {full}: description is {row[0]!r} here, {r['description']!r} in the bundle")
        if row[1] != r["visibility"]:
            c_.append(f"registry {full}: visibility is {row[1]} here, {r['visibility']} in the bundle")
        have = json.loads(row[2]) if row[2] is not None else None
        want = r["artifact_types"]
        if have is not None and (want is None or set(want) - set(have)):
            # allowed types only grow: adding the bundle's is what the source did
            plan.types[(org, name)] = None if want is None else have + [t for t in want if t not in have]

    for path, c in idx.collections.items():
        row = _collection_row(db, path)
        if row is None:
            plan.collections.append(path)
            continue
        if row[1] != c["type"]:
            c_.append(f"collection {path}: type is {row[1]!r} here, {c['type']!r} in the bundle")
        if row[4] != ("portfolio" if "kind" in c or names.parse_ref(path, allow_alias=False).is_registry else "sequence"):
            c_.append(f"collection {path}: a {'collection of links' if row[4] == 'portfolio' else 'sequence'} here, "
                      f"the other kind in the bundle")
        if row[2] != c["description"]:
            c_.append(f"collection {path}: description is {row[2]!r} here, {c['description']!r} in the bundle")
        if sorted(json.loads(row[3] or "[]")) != sorted(c["tags"]):
            c_.append(f"collection {path}: tags are {sorted(json.loads(row[3] or '[]'))} here, "
                      f"{sorted(c['tags'])} in the bundle")

    # what each existing collection holds: idx -> (id, digest|source key, description, metadata, tags)
    held: dict[str, dict[int, tuple]] = {}
    alias_at: dict[str, dict[str, int]] = {}
    for path in idx.collections:
        row = _collection_row(db, path)
        held[path], alias_at[path] = {}, {}
        if row is None:
            continue
        cid = row[0]
        for vid, i, digest, desc, meta, s_path, s_idx in db.execute(
            "SELECT v.id, v.idx, v.digest, v.description, v.metadata, "
            "CASE WHEN s.id IS NULL THEN NULL ELSE se.name || '/' || sp.name || '/' || sc.name END, s.idx "
            "FROM versions v LEFT JOIN versions s ON s.id = v.source_id "
            "LEFT JOIN collections sc ON sc.id = s.collection_id LEFT JOIN projects sp ON sp.id = sc.project_id "
            "LEFT JOIN entities se ON se.id = sp.entity_id WHERE v.collection_id = ?", [cid]):
            tags = sorted(r[0] for r in db.execute("SELECT tag FROM tags WHERE version_id = ?", [vid]))
            source = f"{s_path}:v{s_idx}" if s_path is not None else None
            held[path][i] = (vid, digest, desc, json.loads(meta or "{}"), tags, source)
        for alias, i in db.execute(
            "SELECT a.alias, v.idx FROM aliases a JOIN versions v ON v.id = a.version_id WHERE a.collection_id = ?",
            [cid]):
            alias_at[path][alias] = i

    for (path, i), v in idx.versions.items():
        have = held[path].get(i)
        name = f"{path}:v{i}"
        if have is None:
            plan.versions.append((path, i))
            continue
        if have[1] != v["digest"]:
            c_.append(f"{name} holds other content here ({have[1]}) than in the bundle ({v['digest']})")
            continue
        if have[2] != v["description"]:
            c_.append(f"{name}: description is {have[2]!r} here, {v['description']!r} in the bundle")
        if have[3] != v["metadata"]:
            c_.append(f"{name}: metadata is {hashing.canonical_json(have[3])} here, "
                      f"{hashing.canonical_json(v['metadata'])} in the bundle")
        if have[4] != sorted(v["tags"]):
            c_.append(f"{name}: tags are {have[4]} here, {sorted(v['tags'])} in the bundle")

    for (path, i), link in idx.links.items():
        have = held[path].get(i)
        name = f"{path}:v{i}"
        if have is not None:
            if have[5] != link["source"]:
                c_.append(f"{name} links {have[5]} here, {link['source']} in the bundle")
            continue
        taken = [j for j, h in held[path].items() if h[5] == link["source"]]
        if taken:
            c_.append(f"{link['source']} is linked as {path}:v{taken[0]} here, as {name} in the bundle")
            continue
        plan.links.append((path, i))

    for path, alias, i in idx.scratch.rows("SELECT coll, alias, idx FROM aliases ORDER BY coll, idx, pos"):
        if alias == LATEST:
            continue  # managed: ends on the newest version
        at = alias_at[path].get(alias)
        if at is None:
            plan.aliases.append((path, alias, i))
        elif at != i:
            c_.append(f"alias {alias!r} of {path} is on v{at} here, on v{i} in the bundle")

    for run_path in idx.runs:
        e, p, rid = run_path.split("/")
        if not db.execute(
            "SELECT 1 FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id "
            "WHERE e.name = ? AND p.name = ? AND r.run_id = ?", [e, p, rid]).fetchone():
            plan.runs.append(run_path)

    _check_access(store, idx, plan)

    # blobs: the bundle's, and those new versions need from the store
    # (in batches, through the scratch database: there may be a million)
    objects = Objects(store)
    sc = idx.scratch
    sc.plans += 1
    plan.present = Present(sc, sc.plans)
    for batch in _batches(idx.blobs):
        plan.present.add(objects.present(batch))
    sc.db.execute("DELETE FROM adding")
    sc.db.executemany("INSERT INTO adding VALUES (?)", ((idx.versions.n_of(key),) for key in plan.versions))
    needed = sc.db.execute(
        "SELECT DISTINCT e.digest FROM entries e JOIN adding a ON a.v = e.v WHERE e.ref IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = e.digest) ORDER BY e.digest")

    def needed_by(digest: str) -> Callable[[], list[str]]:
        return lambda: [f"{p}:v{i}" for p, i in sc.rows(
            "SELECT DISTINCT d.k1, d.k2 FROM entries e JOIN adding a ON a.v = e.v JOIN docs d ON d.kind = 'v' "
            "AND d.n = e.v WHERE e.digest = ? AND e.ref IS NULL ORDER BY d.k1, d.k2 LIMIT 3", (digest,))]

    for batch in _batches(d for (d,) in needed):
        have_needed = objects.present(batch)
        for d in batch:
            if d not in have_needed:
                plan.missing.add(d, needed_by(d))
        if have_needed:
            bad = db.execute(
                "SELECT digest, size FROM chunks WHERE digest IN (SELECT value FROM json_each(?)) "
                "UNION ALL SELECT digest, size FROM chunked_files WHERE digest IN (SELECT value FROM json_each(?))",
                [json.dumps(sorted(have_needed))] * 2).fetchall()
            for d, size in bad:
                said = sc.one("SELECT size FROM entries WHERE digest = ? AND ref IS NULL", (d,))[0]
                if said != size:
                    raise BundleError(f"bundle says blob {d} has {said} bytes; the store holds it with {size}; "
                                      "nothing was imported")
    return plan


def _check_access(store: Store, idx: _Index, plan: _Plan) -> None:
    """Adding to a registry that exists needs the role linking needs; growing its types, admin.

    A restricted registry must be readable before anything is compared with
    it. A registry the import creates needs nothing (its importer becomes
    its admin, as its creator would).
    """
    db = store.db
    needs: dict[tuple[str, str], str] = {}
    for path in [*plan.collections, *(p for p, _i in plan.links), *(p for p, _a, _i in plan.aliases)]:
        ref = names.parse_ref(path, allow_alias=False)
        if ref.is_registry:
            needs.setdefault((ref.scope, ref.registry), "link")  # type: ignore[arg-type]
    for key in plan.types:
        needs[key] = "edit"
    new = set(plan.registries)
    for org, name in idx.registries:  # in key order
        if (org, name) in new:
            continue
        row = db.execute("SELECT r.id, r.visibility FROM registries r JOIN orgs o ON o.id = r.org_id "
                         "WHERE o.name = ? AND r.name = ?", [org, name]).fetchone()
        if row[1] == "restricted":
            access.require(store, row[0], "read")
        if (org, name) in needs:
            access.require(store, row[0], needs[(org, name)], f"{org}/{REGISTRY_PREFIX}{name}")


def _raise_conflicts(path: str, store: Store, plan: _Plan) -> None:
    if plan.conflicts:
        n = len(plan.conflicts)
        raise BundleConflict(
            f"{plural(n, 'conflict')} between bundle {path} and store {store.home}; nothing was "
            f"imported: " + "; ".join(plan.conflicts),
            list(plan.conflicts),
        )
    if plan.missing:
        first = sorted(plan.missing)[0]
        raise BundleError(
            f"bundle {path} leaves out {plural(len(plan.missing), 'blob')} that store {store.home} does not have "
            f"(e.g. {first}, needed by {', '.join(plan.missing[first][:3])}); export again without those "
            "exclusions; nothing was imported", path,
        )


# -- writing the rows ---------------------------------------------------------------------------------


def _apply(store: Store, idx: _Index, plan: _Plan) -> None:
    """Add every planned row; inside the caller's transaction."""
    db = store.db
    for org in sorted({o for o, _ in idx.registries}):
        store.ensure_org(org)
    org_id = {o: store.org_id(o) for o in {o for o, _ in idx.registries}}
    for org, name in plan.registries:
        r = idx.registries[(org, name)]
        types = json.dumps(r["artifact_types"]) if r["artifact_types"] is not None else None
        # a core registry of an org new here was just made by ensure_org: it takes the bundle's settings
        db.execute(
            "INSERT INTO registries (org_id, name, description, visibility, artifact_types, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, name) DO UPDATE SET description = excluded.description, "
            "visibility = excluded.visibility, artifact_types = excluded.artifact_types, "
            "created_at = excluded.created_at, updated_at = excluded.updated_at",
            [org_id[org], name, r["description"], r["visibility"], types, r["created_at"], r["updated_at"]],
        )
    # the importer is the admin of what the import creates; but an organization-wide core registry of an org new
    # here stays open until claimed, as ensure_org makes it (a restricted one would have no admin at all)
    open_core = {(o, n) for o, n in plan.registries if o in plan.new_orgs and n in CORE_REGISTRIES
                 and idx.registries[(o, n)]["visibility"] == "organization"}
    for org, name in plan.registries:
        if (org, name) not in open_core:
            db.execute(
                "INSERT OR IGNORE INTO registry_members (registry_id, user, role, added_at) "
                "SELECT id, ?, 'admin', ? FROM registries WHERE org_id = ? AND name = ?",
                [current_user(), now(), org_id[org], name],
            )
    for (org, name), grown in plan.types.items():
        db.execute("UPDATE registries SET artifact_types = ? WHERE org_id = ? AND name = ?",
                   [json.dumps(grown) if grown is not None else None, org_id[org], name])

    for path in plan.collections:
        c = idx.collections[path]
        ref = names.parse_ref(path, allow_alias=False)
        if ref.is_registry:
            rid = db.execute("SELECT id FROM registries WHERE org_id = ? AND name = ?",
                             [org_id[str(ref.scope)], ref.registry]).fetchone()[0]
            scope = ("registry_id", rid)
        else:
            scope = ("project_id", store.ensure_project(ref.scope, ref.project))  # type: ignore[arg-type]
        db.execute(
            f"INSERT INTO collections ({scope[0]}, name, type, kind, description, tags, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [scope[1], ref.name, c["type"], "portfolio" if ref.is_registry or "kind" in c else "sequence",
             c["description"], json.dumps(c["tags"]), c["created_at"], c["updated_at"]],
        )
    cid = {path: _collection_row(db, path)[0] for path in idx.collections}  # type: ignore[index]

    for run_path in plan.runs:
        r = idx.runs[run_path]
        e, p, rid = run_path.split("/")
        db.execute(
            "INSERT INTO runs (project_id, run_id, name, job_type, config, summary, state, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [store.ensure_project(e, p), rid, r["name"], r["job_type"], hashing.canonical_json(r["config"]),
             hashing.canonical_json(r["summary"]), r["state"], r["started_at"], r["finished_at"]],
        )
    run_pk = {}
    for run_path in idx.runs:
        e, p, rid = run_path.split("/")
        run_pk[run_path] = db.execute(
            "SELECT r.id FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id "
            "WHERE e.name = ? AND p.name = ? AND r.run_id = ?", [e, p, rid]).fetchone()[0]

    vid: dict[tuple[str, int], int] = {}
    for key in plan.versions:
        v = idx.versions[key]
        vid[key] = _rowid(db.execute(
            "INSERT INTO versions (collection_id, idx, digest, size, file_count, description, metadata, run_pk, "
            "created_by, created_at, updated_at, ttl_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [cid[key[0]], key[1], v["digest"], v["size"], v["file_count"], v["description"],
             hashing.canonical_json(v["metadata"]), run_pk.get(v["run"]) if v["run"] else None,
             v["created_by"], v["created_at"], v["updated_at"], v["ttl_expires_at"]],
        ))
        db.conn.executemany(
            "INSERT INTO entries (version_id, path, digest, size, ref) VALUES (?, ?, ?, ?, ?)", idx.rows(key, vid[key]),
        )
        db.conn.executemany("INSERT INTO tags (version_id, tag) VALUES (?, ?)", [(vid[key], t) for t in v["tags"]])

    def version_id(key: tuple[str, int]) -> int:
        if key not in vid:
            vid[key] = db.execute("SELECT id FROM versions WHERE collection_id = ? AND idx = ?",
                                  [cid[key[0]], key[1]]).fetchone()[0]
        return vid[key]

    for key in plan.links:
        link = idx.links[key]
        vid[key] = _rowid(db.execute(
            "INSERT INTO versions (collection_id, idx, source_id, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [cid[key[0]], key[1], version_id(_split_qualified(link["source"])), link["created_by"],
             link["created_at"], link["updated_at"]],
        ))

    for path, alias, i in plan.aliases:
        db.execute("INSERT INTO aliases (collection_id, alias, version_id) VALUES (?, ?, ?)",
                   [cid[path], alias, version_id((path, i))])

    plan.lineage = []
    for edge in idx.lineage:
        cur = db.execute(
            "INSERT OR IGNORE INTO lineage (run_pk, version_id, direction, created_at) VALUES (?, ?, ?, ?)",
            [run_pk[edge["run"]], version_id(_split_qualified(edge["version"])), edge["direction"],
             edge["created_at"]],
        )
        if cur.rowcount:
            plan.lineage.append(edge)

    # what the import adds to, it brings up to the bundle's last change (what logging or linking there would do)
    touched = sorted({k[0] for k in plan.versions} | {k[0] for k in plan.links} | {a[0] for a in plan.aliases})
    for path in touched:
        db.execute("UPDATE collections SET updated_at = max(updated_at, ?) WHERE id = ?",
                   [idx.collections[path]["updated_at"], cid[path]])
        ref = names.parse_ref(path, allow_alias=False)
        if ref.is_registry:
            reg_key = (str(ref.scope), str(ref.registry))
            db.execute("UPDATE registries SET updated_at = max(updated_at, ?) WHERE org_id = ? AND name = ?",
                       [idx.registries[reg_key]["updated_at"], org_id[reg_key[0]], reg_key[1]])
    for path in sorted({k[0] for k in plan.versions} | {k[0] for k in plan.links}):
        c = cid[path]
        db.execute("UPDATE collections SET next_idx = max(next_idx, (SELECT max(idx) + 1 FROM versions "
                   "WHERE collection_id = ?)) WHERE id = ?", [c, c])
        newest = db.execute("SELECT id FROM versions WHERE collection_id = ? ORDER BY idx DESC LIMIT 1",
                            [c]).fetchone()[0]
        versions._set_aliases(db, c, newest, [LATEST])


def _rowid(cur: Any) -> int:
    assert cur.lastrowid is not None
    return int(cur.lastrowid)


def _lineage_preview(store: Store, idx: _Index) -> list[dict]:
    """The lineage edges an import would add (for dry runs)."""
    db = store.db
    out = []
    for e in idx.lineage:
        run_parts = e["run"].split("/")
        path, i = _split_qualified(e["version"])
        row = _collection_row(db, path)
        found = row and db.execute(
            "SELECT 1 FROM lineage l JOIN versions v ON v.id = l.version_id JOIN runs r ON r.id = l.run_pk "
            "JOIN projects p ON p.id = r.project_id JOIN entities en ON en.id = p.entity_id "
            "WHERE v.collection_id = ? AND v.idx = ? AND en.name = ? AND p.name = ? AND r.run_id = ? "
            "AND l.direction = ?", [row[0], i, *run_parts, e["direction"]]).fetchone()
        if not found:
            out.append(e)
    return out
