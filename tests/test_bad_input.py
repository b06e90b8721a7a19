"""Bad input: the specific error, mixed with the builtin a caller catches, naming the bad part, writing nothing.

Every case runs against a store that already holds versions, links and a
custom registry, with fresh files on disk that the store has never seen:
an error raised only after those files were ingested would show up as new
chunk rows or new blob files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from localreg import ingest, names, registries, runs, versions
from localreg.errors import (
    EntryNotFound,
    AlreadyExists,
    Conflict,
    InvalidFilter,
    InvalidInput,
    InvalidMetadata,
    InvalidName,
    LocalregError,
    NotFound,
    TypeMismatch,
)
from localreg.objects import Entry, Objects

from conftest import snapshot


@pytest.fixture
def ctx(store, make_files, tmp_path):
    model_dir = make_files({"weights.bin": "w", "cfg/config.json": "{}"})
    model, _ = ingest.log_path(store, model_dir, name="model", type="model", aliases=["prod"])
    data, _ = ingest.log_path(store, make_files({"d.csv": "1,2"}), name="data", type="dataset")
    link = registries.link(store, model, "wandb-registry-model/champion", aliases=["stable"])
    registries.create_registry(store, "evals", artifact_types=["eval"])

    outside = tmp_path / "outside.txt"
    outside.write_text("a file elsewhere on the machine")
    escaping = make_files({"ok.txt": "fine", "sub/also.txt": "fine too"})
    os.symlink(outside, os.path.join(escaping, "sub", "escape.txt"))
    escaping_dir = make_files({"ok.txt": "fine"})
    os.symlink(tmp_path, os.path.join(escaping_dir, "up"))
    dangling = make_files({"ok.txt": "fine"})
    os.symlink(tmp_path / "gone", os.path.join(dangling, "dangling"))
    fresh = make_files({"new.txt": "bytes this store has never seen", "deep/more.txt": "and more"})
    fresh_file = os.path.join(fresh, "new.txt")
    digest, size = Objects(store).add_bytes(b"already in the store")
    return SimpleNamespace(
        stored=Entry("x.txt", digest, size),
        store=store, model=model, data=data, link=link, fresh=fresh, fresh_file=fresh_file,
        escaping=escaping, escaping_dir=escaping_dir, dangling=dangling, outside=str(outside),
        missing=str(tmp_path / "no-such-file.txt"), tmp=tmp_path,
    )


def state(store) -> tuple:
    """Every row (but the audit log and stat cache) and every blob file."""
    blobs = store.blobs
    return (
        snapshot(store),
        sorted(d for d, _s, _m in blobs.list_loose()),
        sorted(n for n, _s, _m in blobs.list_packs()),
    )


def log(c, **kw):
    args = {"name": "model", "type": "model"} | kw
    path = args.pop("path", c.fresh)
    return ingest.log_path(c.store, path, **args)


def log_entries(c, entries, **kw):
    return versions.log_version(c.store, **({"name": "model", "type": "model", "entries": entries} | kw))


def stored_entry(c, path="x.txt"):
    return Entry(path, c.stored.digest, c.stored.size)


# (id, call, error class, builtin it must also be, text the message must hold)
CASES: list[tuple[str, Callable, type, type, str]] = [
    # -- artifact names, types, aliases, tags, metadata while logging ---------------------
    ("name with space", lambda c: log(c, name="my model"), InvalidName, ValueError, "'my model'"),
    ("name with slash", lambda c: log(c, name="a/b"), InvalidName, ValueError, "'a/b'"),
    ("name with colon", lambda c: log(c, name="a:b"), InvalidName, ValueError, "'a:b'"),
    ("name empty", lambda c: log(c, name=""), InvalidName, ValueError, "must not be empty"),
    ("name dotdot", lambda c: log(c, name=".."), InvalidName, ValueError, "'..'"),
    ("name too long", lambda c: log(c, name="x" * 129), InvalidName, ValueError, "longer than 128"),
    ("name not a string", lambda c: log(c, name=42), InvalidName, ValueError, "not int"),
    ("type job", lambda c: log(c, type="job"), InvalidName, ValueError, "'job' is reserved"),
    ("type wandb-", lambda c: log(c, type="wandb-history"), InvalidName, ValueError, "'wandb-history' is reserved"),
    ("type with slash", lambda c: log(c, type="a/b"), InvalidName, ValueError, "'a/b'"),
    ("type with colon", lambda c: log(c, type="a:b"), InvalidName, ValueError, "'a:b'"),
    ("type of existing name", lambda c: log(c, type="dataset"), TypeMismatch, ValueError, "has type 'model'"),
    ("alias vN", lambda c: log(c, aliases=["v3"]), InvalidName, ValueError, "'v3'"),
    ("alias slash", lambda c: log(c, aliases=["ok", "a/b"]), InvalidName, ValueError, "'a/b'"),
    ("alias colon", lambda c: log(c, aliases=["a:b"]), InvalidName, ValueError, "'a:b'"),
    ("alias spaces", lambda c: log(c, aliases=[" prod"]), InvalidName, ValueError, "' prod'"),
    ("alias not a list", lambda c: log(c, aliases=5), InvalidName, ValueError, "aliases must be a list"),
    ("tag slash", lambda c: log(c, tags=["a/b"]), InvalidName, ValueError, "'a/b'"),
    ("tag double space edge", lambda c: log(c, tags=["a "]), InvalidName, ValueError, "'a '"),
    ("tag punctuation", lambda c: log(c, tags=["ok", "v1.0"]), InvalidName, ValueError, "'v1.0'"),
    ("metadata infinity", lambda c: log(c, metadata={"loss": math.inf}), InvalidMetadata, ValueError, "metadata.loss"),
    ("metadata -infinity", lambda c: log(c, metadata={"a": {"b": -math.inf}}), InvalidMetadata, ValueError,
     "metadata.a.b"),
    ("metadata keys", lambda c: log(c, metadata={f"k{i}": i for i in range(101)}), InvalidMetadata, ValueError,
     "101 keys"),
    ("metadata int key", lambda c: log(c, metadata={1: "x"}), InvalidMetadata, ValueError, "keys must be strings"),
    ("metadata object", lambda c: log(c, metadata={"f": object()}), InvalidMetadata, ValueError, "metadata.f"),
    ("metadata not a dict", lambda c: log(c, metadata=[1, 2]), InvalidMetadata, ValueError, "must be a dict"),
    ("description not text", lambda c: log(c, description=3), InvalidInput, ValueError, "description"),
    ("entity", lambda c: log(c, entity="bad entity"), InvalidName, ValueError, "'bad entity'"),
    ("project", lambda c: log(c, project="a/b"), InvalidName, ValueError, "'a/b'"),
    # -- files and folders ------------------------------------------------------------------
    ("missing file", lambda c: log(c, path=c.missing), NotFound, LookupError, "no-such-file.txt"),
    ("missing file, add_paths", lambda c: ingest.add_paths(c.store, c.missing), NotFound, LookupError,
     "no-such-file.txt"),
    ("missing folder", lambda c: ingest.collect_dir(c.missing), NotFound, LookupError, "no-such-file.txt"),
    ("a file is not a folder", lambda c: ingest.collect_dir(c.fresh_file), InvalidInput, ValueError, "not a folder"),
    ("missing file in add_files", lambda c: Objects(c.store).add_files([("a", c.fresh_file), ("b", c.missing)]),
     NotFound, LookupError, "no-such-file.txt"),
    ("symlink outside", lambda c: ingest.collect_dir(c.escaping), InvalidInput, ValueError, "escape.txt"),
    ("symlink outside, logged", lambda c: log(c, path=c.escaping), InvalidInput, ValueError, "points outside"),
    ("symlinked folder outside", lambda c: log(c, path=c.escaping_dir), InvalidInput, ValueError, "up' points outside"),
    ("broken symlink", lambda c: log(c, path=c.dangling), InvalidInput, ValueError, "dangling"),
    ("reference not a url", lambda c: ingest.reference_entries(c.store, "just/a/path"), InvalidInput, ValueError,
     "'just/a/path'"),
    ("reference missing", lambda c: log(c, path=f"file://{c.missing}"), NotFound, LookupError, "no-such-file.txt"),
    ("reference too many", lambda c: ingest.reference_entries(c.store, f"file://{c.fresh}", max_objects=1),
     InvalidInput, ValueError, "max_objects=1"),
    # -- logical paths ---------------------------------------------------------------------------
    ("path ..", lambda c: ingest.add_paths(c.store, c.fresh_file, name="../x.txt"), InvalidName, ValueError,
     "'../x.txt'"),
    ("path absolute", lambda c: ingest.add_paths(c.store, c.fresh_file, name="/etc/x"), InvalidName, ValueError,
     "'/etc/x'"),
    ("path backslash", lambda c: ingest.add_paths(c.store, c.fresh_file, name="a\\b"), InvalidName, ValueError,
     "'a\\\\b'"),
    ("path NUL", lambda c: ingest.add_paths(c.store, c.fresh_file, name="a\x00b"), InvalidName, ValueError, "NUL"),
    ("path empty part", lambda c: ingest.add_paths(c.store, c.fresh_file, name="a//b"), InvalidName, ValueError,
     "'a//b'"),
    ("folder prefix ..", lambda c: ingest.add_paths(c.store, c.fresh, name="../up"), InvalidName, ValueError,
     "'../up'"),
    ("reference name ..", lambda c: ingest.reference_entries(c.store, f"file://{c.fresh_file}", name="../x"),
     InvalidName, ValueError, "'../x'"),
    ("manifest path ..", lambda c: log_entries(c, [stored_entry(c, "../x")]), InvalidName, ValueError, "'../x'"),
    ("manifest path twice", lambda c: log_entries(c, [stored_entry(c, "x"), stored_entry(c, "x")]), InvalidInput,
     ValueError, "'x' appears twice"),
    ("manifest bad digest", lambda c: log_entries(c, [Entry("x", "md5:abc", 1)]), InvalidInput, ValueError,
     "'md5:abc'"),
    # -- refs ---------------------------------------------------------------------------------------
    ("ref four parts", lambda c: versions.resolve(c.store, "a/b/c/d"), InvalidName, ValueError, "'a/b/c/d'"),
    ("ref empty alias", lambda c: versions.resolve(c.store, "model:"), InvalidName, ValueError, "nothing after ':'"),
    ("ref bad alias", lambda c: versions.resolve(c.store, "model:a/b"), InvalidName, ValueError, "'a/b'"),
    ("ref bad name", lambda c: versions.resolve(c.store, "team/demo/bad name"), InvalidName, ValueError, "'bad name'"),
    ("ref empty", lambda c: versions.resolve(c.store, ""), InvalidName, ValueError, "must not be empty"),
    ("ref registry in front", lambda c: versions.resolve(c.store, "wandb-registry-model/a/b"), InvalidName,
     ValueError, "registry goes in the middle"),
    # -- things that are not there ---------------------------------------------------------------
    ("unknown collection", lambda c: versions.resolve(c.store, "nope"), NotFound, LookupError,
     "'nope' not found in project team/demo"),
    ("unknown project", lambda c: versions.resolve(c.store, "elsewhere/model"), NotFound, LookupError,
     "project team/elsewhere"),
    ("unknown version", lambda c: versions.resolve(c.store, "model:v9"), NotFound, LookupError, '"model:v9"'),
    ("unknown alias", lambda c: versions.resolve(c.store, "model:staging"), NotFound, LookupError,
     '"model:staging"'),
    ("unknown registry collection", lambda c: versions.resolve(c.store, "wandb-registry-model/nope"), NotFound,
     LookupError, "collection 'nope' not found in registry acme/wandb-registry-model"),
    ("unknown registry in ref", lambda c: versions.resolve(c.store, "wandb-registry-nope/x"), NotFound, LookupError,
     "registry 'nope' not found"),
    ("unknown link alias", lambda c: versions.resolve(c.store, "wandb-registry-model/champion:prod"), NotFound,
     LookupError, '"champion:prod"'),
    ("unknown registry", lambda c: registries.get_registry(c.store, "nope"), NotFound, LookupError, "'nope'"),
    ("unknown org", lambda c: registries.list_registries(c.store, org="ghost"), NotFound, LookupError, "'ghost'"),
    ("unknown file in version", lambda c: versions.entry(c.store, c.model, "nope.txt"), EntryNotFound, KeyError,
     "'nope.txt'"),
    ("unknown version id", lambda c: versions.get(c.store, 9999), NotFound, LookupError, "9999"),
    ("alias not on version", lambda c: versions.remove_aliases(c.store, c.model, ["stable"]), NotFound, LookupError,
     "'stable'"),
    ("unknown run", lambda c: runs.find_run(c.store, "team/demo/nope"), NotFound, LookupError, "'nope'"),
    # -- linking ------------------------------------------------------------------------------------------
    ("link unknown registry", lambda c: registries.link(c.store, c.model, "wandb-registry-nope/x"), NotFound,
     LookupError, "registry 'nope'"),
    ("link type not allowed", lambda c: registries.link(c.store, c.data, "wandb-registry-model/x"), TypeMismatch,
     ValueError, "does not allow artifact type 'dataset'"),
    ("link type not allowed, custom", lambda c: registries.link(c.store, c.model, "wandb-registry-evals/x"),
     TypeMismatch, ValueError, "'model'"),
    ("link wrong collection type", lambda c: registries.link(c.store, c.data, "wandb-registry-model/champion"),
     TypeMismatch, ValueError, "does not allow"),
    ("link into a sequence", lambda c: registries.link(c.store, c.model, c.model.path), Conflict,
     ValueError, "is an artifact sequence"),
    ("link target with alias", lambda c: registries.link(c.store, c.model, "wandb-registry-model/x:prod"),
     InvalidName, ValueError, "no ':alias'"),
    ("link target four parts", lambda c: registries.link(c.store, c.model, "o/wandb-registry-model/x/y"),
     InvalidName, ValueError, "'o/wandb-registry-model/x/y'"),
    ("link alias vN", lambda c: registries.link(c.store, c.model, "wandb-registry-model/x", aliases=["v0"]),
     InvalidName, ValueError, "'v0'"),
    ("unlink a source", lambda c: versions.unlink(c.store, c.model), InvalidInput, ValueError,
     "team/demo/model:v0 is a source version"),
    # -- aliases, tags, edits, deletes ----------------------------------------------------------------------
    ("add alias vN", lambda c: versions.add_aliases(c.store, c.model, ["v1"]), InvalidName, ValueError, "'v1'"),
    ("remove latest", lambda c: versions.remove_aliases(c.store, c.model, ["latest"]), InvalidName, ValueError,
     "'latest'"),
    ("set bad tag", lambda c: versions.set_tags(c.store, c.model, ["no/slash"]), InvalidName, ValueError,
     "'no/slash'"),
    ("update infinite metadata", lambda c: versions.update(c.store, c.model, metadata={"x": math.inf}),
     InvalidMetadata, ValueError, "metadata.x"),
    ("update bad ttl", lambda c: versions.update(c.store, c.model, ttl_seconds=0), InvalidInput, ValueError, "ttl"),
    ("delete aliased", lambda c: versions.delete(c.store, c.model), Conflict, ValueError, "aliases prod"),
    ("delete linked", lambda c: versions.delete(c.store, c.model, delete_aliases=True), Conflict, ValueError,
     "linked to acme/wandb-registry-model/champion:v0"),
    # -- registries ------------------------------------------------------------------------------------------
    ("registry exists", lambda c: registries.create_registry(c.store, "evals"), AlreadyExists, ValueError,
     "'evals'"),
    ("core registry exists", lambda c: registries.create_registry(c.store, "model"), AlreadyExists, ValueError,
     "'model'"),
    ("registry bad name", lambda c: registries.create_registry(c.store, "my registry"), InvalidName, ValueError,
     "'my registry'"),
    ("registry bad visibility", lambda c: registries.create_registry(c.store, "x", visibility="public"),
     InvalidInput, ValueError, "'public'"),
    ("registry reserved type", lambda c: registries.create_registry(c.store, "x", artifact_types=["job"]),
     InvalidName, ValueError, "'job'"),
    ("registry remove type",
     lambda c: registries.update_registry(c.store, registries.get_registry(c.store, "evals"), artifact_types=[]),
     InvalidInput, ValueError, "eval"),
    ("core registry visibility",
     lambda c: registries.update_registry(c.store, registries.get_registry(c.store, "model"), visibility="restricted"),
     InvalidInput, ValueError, "'model'"),
    # -- filters -----------------------------------------------------------------------------------------------
    ("filter field", lambda c: versions.list_versions(c.store, filter={"colour": 1}), InvalidFilter, ValueError,
     "'colour'"),
    ("filter operator", lambda c: versions.list_versions(c.store, filter={"name": {"$where": 1}}), InvalidFilter,
     ValueError, "'$where'"),
    ("filter regex", lambda c: registries.list_collections(c.store, filter={"name": {"$regex": "(("}}),
     InvalidFilter, ValueError, "'(('"),
    ("run id", lambda c: runs.start_run(c.store, run_id="bad id"), InvalidName, ValueError, "'bad id'"),
]


@pytest.mark.parametrize("call, error, builtin, part", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_writes_nothing(ctx, call, error, builtin, part):
    before = state(ctx.store)
    with pytest.raises(error) as exc:
        call(ctx)
    assert type(exc.value) is error, f"{type(exc.value).__name__} is not exactly {error.__name__}"
    assert isinstance(exc.value, LocalregError)
    assert isinstance(exc.value, builtin)
    assert part in str(exc.value)
    assert state(ctx.store) == before


def test_the_cases_cover_every_kind_of_error():
    kinds = {c[2] for c in CASES}
    assert {InvalidName, InvalidMetadata, InvalidInput, InvalidFilter, TypeMismatch, NotFound, Conflict,
            AlreadyExists} <= kinds


def test_the_store_still_works_after_bad_input(ctx):
    for _id, call, error, _b, _p in CASES[:10]:
        with pytest.raises(error):
            call(ctx)
    v, created = log(ctx)
    assert created and v.qualified_name == "team/demo/model:v1"
    assert Objects(ctx.store).read_bytes(versions.entry(ctx.store, v, "new.txt").digest) == (
        b"bytes this store has never seen"
    )


def test_a_symlink_inside_the_folder_is_followed(ctx, make_files):
    root = make_files({"real/a.txt": "inside"})
    os.symlink(os.path.join(root, "real", "a.txt"), os.path.join(root, "alias.txt"))
    os.symlink(os.path.join(root, "real"), os.path.join(root, "linked-dir"))
    assert [p for p, _ in ingest.collect_dir(root)] == ["alias.txt", "linked-dir/a.txt", "real/a.txt"]


def test_a_symlink_loop_is_refused(ctx, make_files):
    root = make_files({"a/x.txt": "x"})
    os.symlink(os.path.join(root, "a"), os.path.join(root, "a", "again"))
    with pytest.raises(InvalidInput, match="symlink loop"):
        ingest.collect_dir(root)


def test_invalid_name_keeps_the_value(ctx):
    with pytest.raises(InvalidName) as exc:
        names.check_alias("v3")
    assert exc.value.value == "v3"
    with pytest.raises(NotFound) as exc:
        versions.resolve(ctx.store, "model:v9")
    assert exc.value.ref == "model:v9"
    assert str(exc.value).startswith("artifact ")  # no quotes around the message, unlike KeyError
