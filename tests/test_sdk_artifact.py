"""Artifact life cycle, versioning, dedup, tables and reading, through the W&B-shaped API."""

from __future__ import annotations

import datetime as dt
import math
import os
import uuid

import fsspec
import pytest

import localreg as wandb
from localreg.errors import LocalregError

# source_name is not here: W&B answers a draft's name (checked against the real wandb in tests/wandb_compat)
DRAFT_ONLY_MEMBERS = [
    "version", "aliases", "tags", "qualified_name", "source_version",
    "source_qualified_name", "source_entity", "source_project", "source_collection",
    "source_artifact", "collection", "linked_artifacts", "entity", "project",
    "created_at", "updated_at",
]


@pytest.fixture
def run(store):
    r = wandb.init(entity="team", project="demo")
    yield r
    r.finish()


@pytest.fixture
def memfs():
    """A private folder of fsspec's memory filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/sdk-refs-{uuid.uuid4().hex}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def log(run, name, files, type="dataset", make_files=None, **kw):
    art = wandb.Artifact(name, type)
    for rel, data in files.items():
        with art.new_file(rel, mode="wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return run.log_artifact(art, **kw)


# -- draft ---------------------------------------------------------------------------------


@pytest.mark.parametrize("member", DRAFT_ONLY_MEMBERS)
def test_draft_has_no_logged_members(member):
    art = wandb.Artifact("draft", "model")
    with pytest.raises(AttributeError) as info:
        getattr(art, member)
    assert isinstance(info.value, LocalregError)
    # hasattr() is how W&B code probes a draft: it must say False, not blow up
    assert not hasattr(art, member)


@pytest.mark.parametrize("call", ["used_by", "logged_by", "download", "verify", "unlink", "delete", "json_encode"])
def test_draft_has_no_logged_methods(call):
    art = wandb.Artifact("draft", "model")
    with pytest.raises(AttributeError) as info:
        getattr(art, call)()
    assert isinstance(info.value, LocalregError)


def test_draft_keeps_what_it_was_given():
    art = wandb.Artifact("m", "model", description="first try", metadata={"lr": 0.1, "bad": math.nan})
    assert art.name == "m"
    assert art.type == "model"
    assert art.description == "first try"
    assert art.metadata == {"lr": 0.1, "bad": None}
    assert art.is_draft()
    assert art.state == "PENDING"
    assert art.id is None
    assert art.is_link is False  # as in W&B: a draft is never a link


@pytest.mark.parametrize("bad", [math.inf, -math.inf, {"nested": [1, math.inf]}])
def test_metadata_infinity_is_refused(bad):
    with pytest.raises(ValueError) as info:
        wandb.Artifact("m", "model", metadata={"x": bad})
    assert isinstance(info.value, LocalregError)
    art = wandb.Artifact("m", "model")
    with pytest.raises(ValueError):
        art.metadata = {"x": bad}


def test_metadata_at_most_100_keys():
    wandb.Artifact("m", "model", metadata={f"k{i}": i for i in range(100)})
    with pytest.raises(ValueError, match="100"):
        wandb.Artifact("m", "model", metadata={f"k{i}": i for i in range(101)})
    art = wandb.Artifact("m", "model")
    with pytest.raises(ValueError, match="100"):
        art.metadata = {f"k{i}": i for i in range(101)}


def test_metadata_nan_is_stored_as_none(run):
    art = wandb.Artifact("m", "model", metadata={"loss": float("nan"), "acc": 0.5, "deep": {"x": math.nan}})
    with art.new_file("w.bin", mode="wb") as f:
        f.write(b"w")
    run.log_artifact(art)
    back = wandb.Api().artifact("team/demo/m:v0")
    assert back.metadata == {"loss": None, "acc": 0.5, "deep": {"x": None}}


@pytest.mark.parametrize("name", ["has space", "a/b", "a:b", "x" * 129, ""])
def test_bad_artifact_names_are_refused(name):
    with pytest.raises(ValueError):
        wandb.Artifact(name, "model")


@pytest.mark.parametrize("type_", ["job", "wandb-history", "a/b", "a:b", ""])
def test_bad_or_reserved_types_are_refused(type_):
    with pytest.raises(ValueError):
        wandb.Artifact("m", type_)


# -- adding files ------------------------------------------------------------------------------


def test_add_file_dir_new_file_and_remove(run, make_files, tmp_path):
    src = make_files({"weights.bin": b"\x00\x01", "cfg/a.yaml": "a: 1", "cfg/b.yaml": "b: 2"})
    art = wandb.Artifact("bundle", "model")
    entry = art.add_file(local_path=os.path.join(src, "weights.bin"))
    assert entry.path == "weights.bin" and entry.size == 2
    art.add_file(os.path.join(src, "weights.bin"), name="copies/w.bin")
    art.add_dir(os.path.join(src, "cfg"), name="config")
    with art.new_file("notes.txt") as f:
        f.write("text mode")
    with art.new_file("raw.bin", mode="wb") as f:
        f.write(b"\xff")
    assert sorted(e.path for e in art.files()) == [
        "config/a.yaml", "config/b.yaml", "copies/w.bin", "notes.txt", "raw.bin", "weights.bin",
    ]
    art.remove("copies/w.bin")
    art.remove("config")  # a folder path removes everything under it
    assert sorted(art.manifest.entries) == ["notes.txt", "raw.bin", "weights.bin"]
    with pytest.raises(LookupError):
        art.remove("nope.txt")
    # files are staged when added: editing the local file later changes nothing
    (tmp_path / "src1" / "weights.bin").write_bytes(b"changed")
    logged = run.log_artifact(art)
    root = logged.download(str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "weights.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "dl" / "notes.txt").read_text() == "text mode"
    assert (tmp_path / "dl" / "raw.bin").read_bytes() == b"\xff"
    logged.verify(root)


def test_add_missing_file_or_folder(tmp_path):
    art = wandb.Artifact("m", "model")
    with pytest.raises(LookupError):
        art.add_file(str(tmp_path / "missing.bin"))
    with pytest.raises(LookupError):
        art.add_dir(str(tmp_path / "missing"))
    with pytest.raises(ValueError):
        art.add_file(str(tmp_path))  # a folder is not a file


def test_same_path_other_content_needs_overwrite(make_files):
    src = make_files({"a/x.txt": "one", "b/x.txt": "two", "c/x.txt": "one"})
    art = wandb.Artifact("m", "dataset")
    art.add_file(os.path.join(src, "a/x.txt"))
    art.add_file(os.path.join(src, "c/x.txt"))  # same path, same content: fine
    with pytest.raises(ValueError, match="overwrite"):
        art.add_file(os.path.join(src, "b/x.txt"))
    assert art.get_entry("x.txt").digest == art.get_entry("x.txt").digest
    before = art.get_entry("x.txt").digest
    art.add_file(os.path.join(src, "b/x.txt"), overwrite=True)
    assert art.get_entry("x.txt").digest != before
    # new_file with mode "x" refuses a path that is there already
    with pytest.raises(ValueError):
        with art.new_file("x.txt") as f:
            f.write("three")


def test_add_dir_conflict_needs_merge(make_files):
    one = make_files({"x.txt": "one", "y.txt": "y"})
    two = make_files({"x.txt": "two"})
    art = wandb.Artifact("m", "dataset")
    art.add_dir(one)
    with pytest.raises(ValueError):
        art.add_dir(two)
    art.add_dir(two, merge=True)
    assert sorted(art.manifest.entries) == ["x.txt", "y.txt"]


def test_add_reference_file_uri(run, make_files, tmp_path):
    src = make_files({"ref/a.txt": "alpha", "ref/sub/b.txt": "beta"})
    art = wandb.Artifact("refs", "dataset")
    entries = art.add_reference(f"file://{src}/ref")
    assert sorted(e.path for e in entries) == ["a.txt", "sub/b.txt"]
    [single] = art.add_reference(f"file://{src}/ref/a.txt", name="one/alpha.txt")
    assert single.path == "one/alpha.txt"
    assert single.ref_url() == f"file://{src}/ref/a.txt"
    logged = run.log_artifact(art)
    root = logged.download(str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "sub" / "b.txt").read_text() == "beta"
    assert (tmp_path / "dl" / "one" / "alpha.txt").read_text() == "alpha"
    logged.verify(root)


def test_add_reference_memory_url(run, memfs, tmp_path):
    fs, root = memfs
    fs.pipe(f"{root}/data/part-0.csv", b"a,b\n1,2\n")
    fs.pipe(f"{root}/data/part-1.csv", b"a,b\n3,4\n")
    art = wandb.Artifact("remote", "dataset")
    entries = art.add_reference(f"memory://{root}/data", name="parts")
    assert sorted(e.path for e in entries) == ["parts/part-0.csv", "parts/part-1.csv"]
    logged = run.log_artifact(art)
    out = logged.download(str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "parts" / "part-1.csv").read_bytes() == b"a,b\n3,4\n"
    logged.verify(out)
    with pytest.raises(ValueError):
        wandb.Artifact("r", "dataset").add_reference(f"memory://{root}/data", max_objects=1)


def test_digest_depends_only_on_names_and_contents(make_files):
    src = make_files({"a.txt": "A", "b.txt": "B", "elsewhere/a-copy.txt": "A"})
    one = wandb.Artifact("x", "dataset")
    one.add_file(os.path.join(src, "a.txt"))
    one.add_file(os.path.join(src, "b.txt"))
    two = wandb.Artifact("y", "dataset", description="other", metadata={"k": 1})
    two.add_file(os.path.join(src, "b.txt"))
    two.add_file(os.path.join(src, "elsewhere/a-copy.txt"), name="a.txt")
    assert one.digest == two.digest
    three = wandb.Artifact("x", "dataset")
    three.add_file(os.path.join(src, "a.txt"), name="renamed.txt")
    three.add_file(os.path.join(src, "b.txt"))
    assert three.digest != one.digest
    assert one.size == 2 and one.file_count == 2


# -- finalized ---------------------------------------------------------------------------------


def test_logged_artifact_files_are_final(run, make_files):
    src = make_files({"a.txt": "A", "b.txt": "B"})
    art = wandb.Artifact("m", "dataset")
    art.add_file(os.path.join(src, "a.txt"))
    run.log_artifact(art)
    assert not art.is_draft() and art.state == "COMMITTED"
    attempts = [
        lambda: art.add_file(os.path.join(src, "b.txt")),
        lambda: art.add_dir(src),
        lambda: art.add_reference(f"file://{src}/b.txt"),
        lambda: art.remove("a.txt"),
        lambda: art.add(wandb.Table(columns=["a"], data=[[1]]), "t"),
    ]
    for attempt in attempts:
        with pytest.raises(AttributeError) as info:
            attempt()
        assert isinstance(info.value, LocalregError)
    with pytest.raises(AttributeError):
        with art.new_file("c.txt") as f:
            f.write("c")
    with pytest.raises(AttributeError):
        run.log_artifact(art)  # logging the same object twice
    assert [e.path for e in wandb.Api().artifact("team/demo/m:v0").files()] == ["a.txt"]


def test_edit_logged_artifact_and_save(run, make_files):
    art = wandb.Artifact("m", "model", description="before", metadata={"acc": 0.5})
    art.add_file(os.path.join(make_files({"w.bin": "w"}), "w.bin"))
    run.log_artifact(art, aliases=["candidate"], tags=["nightly"])
    assert art.aliases == ["latest", "candidate"]
    assert art.tags == ["nightly"]

    art.description = "after"
    art.metadata["acc"] = 0.9
    art.metadata["loss"] = math.nan
    art.aliases.append("best")
    art.aliases.remove("candidate")
    art.tags = ["prod", "reviewed by alice"]
    art.ttl = dt.timedelta(days=30)
    art.save()

    back = wandb.Api().artifact("team/demo/m:best")
    assert back.version == "v0"
    assert back.description == "after"
    assert back.metadata == {"acc": 0.9, "loss": None}
    assert sorted(back.aliases) == ["best", "latest"]
    assert sorted(back.tags) == ["prod", "reviewed by alice"]
    assert back.ttl == dt.timedelta(days=30)  # counted from the version's creation, as in W&B
    assert not wandb.Api().artifact_exists("team/demo/m:candidate")

    back.ttl = None
    back.save()
    assert wandb.Api().artifact("team/demo/m:v0").ttl is None


def test_ttl_set_on_a_draft(run):
    art = wandb.Artifact("short-lived", "dataset")
    with art.new_file("a.txt") as f:
        f.write("a")
    with pytest.raises(ValueError):
        art.ttl = dt.timedelta(0)
    with pytest.raises(ValueError):
        art.ttl = 3600  # W&B wants a timedelta
    art.ttl = dt.timedelta(hours=6)
    run.log_artifact(art)
    assert art.ttl == dt.timedelta(hours=6)
    assert wandb.Api().artifact("team/demo/short-lived:v0").ttl == dt.timedelta(hours=6)


def test_save_refuses_bad_edits_and_writes_nothing(run, make_files):
    art = wandb.Artifact("m", "model", metadata={"acc": 0.5})
    art.add_file(os.path.join(make_files({"w.bin": "w"}), "w.bin"))
    run.log_artifact(art)
    art.metadata["inf"] = math.inf
    with pytest.raises(ValueError):
        art.save()
    art.metadata = {"acc": 0.5}
    art.aliases.append("v3")
    with pytest.raises(ValueError, match="v3"):
        art.save()
    with pytest.raises(ValueError):
        art.tags = ["no!bang"]
    with pytest.raises(ValueError):
        art.aliases = ["a/b"]
    with pytest.raises(ValueError):
        art.ttl = dt.timedelta(seconds=-1)
    back = wandb.Api().artifact("team/demo/m:v0")
    assert back.metadata == {"acc": 0.5}
    assert back.aliases == ["latest"]


def test_save_without_a_run_logs_a_draft(make_files):
    art = wandb.Artifact("standalone", "dataset")
    art.add_file(os.path.join(make_files({"a.txt": "a"}), "a.txt"))
    art.save(project="side")
    assert art.version == "v0"
    assert art.qualified_name.endswith("/side/standalone:v0")
    assert art.logged_by() is None


# -- versioning ---------------------------------------------------------------------------------


def test_versions_count_up_and_latest_follows(run):
    v0 = log(run, "ds", {"a.txt": "0"})
    v1 = log(run, "ds", {"a.txt": "1"})
    v2 = log(run, "ds", {"a.txt": "2"})
    assert [v0.version, v1.version, v2.version] == ["v0", "v1", "v2"]
    assert v2.name == "ds:v2" and v2.qualified_name == "team/demo/ds:v2"
    api = wandb.Api()
    assert api.artifact("team/demo/ds:latest").version == "v2"
    assert api.artifact("team/demo/ds").version == "v2"  # no alias means latest
    assert api.artifact("team/demo/ds:v0").aliases == []
    assert api.artifact("team/demo/ds:v2").aliases == ["latest"]


def test_alias_moves_off_the_previous_holder(run):
    log(run, "ds", {"a.txt": "0"}, aliases=["best", "staging"])
    log(run, "ds", {"a.txt": "1"}, aliases=["best"])
    api = wandb.Api()
    assert api.artifact("team/demo/ds:best").version == "v1"
    assert api.artifact("team/demo/ds:v0").aliases == ["staging"]
    # moving it back by editing the older version
    v0 = api.artifact("team/demo/ds:v0")
    v0.aliases.append("best")
    v0.save()
    assert api.artifact("team/demo/ds:best").version == "v0"
    assert api.artifact("team/demo/ds:v1").aliases == ["latest"]


@pytest.mark.parametrize("alias", ["v0", "v12", "a/b", "a:b"])
def test_version_strings_and_bad_aliases_are_refused(run, alias):
    art = wandb.Artifact("ds", "dataset")
    with art.new_file("a.txt") as f:
        f.write("a")
    with pytest.raises(ValueError):
        run.log_artifact(art, aliases=[alias])
    assert art.is_draft()
    assert not wandb.Api().artifact_collection_exists("team/demo/ds")


def test_dedup_returns_the_existing_version(run):
    first = log(run, "ds", {"a.txt": "same", "b.txt": "b"}, aliases=["first"])
    log(run, "ds", {"a.txt": "other"})
    again = log(run, "ds", {"b.txt": "b", "a.txt": "same"}, aliases=["again"])
    assert again.version == first.version == "v0"
    assert again.digest == first.digest
    assert sorted(again.aliases) == ["again", "first", "latest"]
    api = wandb.Api()
    assert api.artifact("team/demo/ds:latest").version == "v0"
    assert api.artifact("team/demo/ds:v1").aliases == []
    assert len(api.artifacts("dataset", "team/demo/ds")) == 2
    new = log(run, "ds", {"a.txt": "new"})
    assert new.version == "v2"  # dedup did not use up an index


def test_type_is_fixed_per_collection(run):
    log(run, "thing", {"a.txt": "a"}, type="dataset")
    art = wandb.Artifact("thing", "model")
    with art.new_file("b.txt") as f:
        f.write("b")
    with pytest.raises(ValueError, match="type"):
        run.log_artifact(art)


# -- tables ---------------------------------------------------------------------------------------


def test_table_round_trip(run):
    table = wandb.Table(columns=["id", "label", "score"], data=[[1, "cat", 0.9], [2, "dog", 0.4]])
    table.add_data(3, "cat", None)
    assert table.get_column("label") == ["cat", "dog", "cat"]
    assert table.columns == ["id", "label", "score"]
    art = wandb.Artifact("preds", "predictions")
    art.add(table, "preds")
    art["other"] = wandb.Table(columns=["x"], data=[[1]])
    assert sorted(art.manifest.entries) == ["other.table.json", "preds.table.json"]
    run.log_artifact(art)

    logged = wandb.Api().artifact("team/demo/preds:latest")
    assert logged.get("preds") == table
    assert logged["preds"] == table
    assert logged.get("preds.table.json") == table
    assert logged["other"].get_column("x") == [1]
    assert logged.get("missing") is None
    assert logged.get("preds") != wandb.Table(columns=["id", "label", "score"], data=[[1, "cat", 0.9]])


def test_table_rows_must_fit_the_columns():
    table = wandb.Table(columns=["a", "b"])
    with pytest.raises(ValueError):
        table.add_data(1)
    with pytest.raises(ValueError):
        table.get_column("c")
    assert wandb.Table(data=[[1, 2]]).columns == ["Column_1", "Column_2"]


# -- reading ---------------------------------------------------------------------------------------


def test_download_default_root_and_verify(run, make_files):
    src = make_files({"a.txt": "A", "sub/b.bin": b"\x00" * 1000})
    art = wandb.Artifact("ds", "dataset")
    art.add_dir(src)
    logged = run.log_artifact(art)
    root = logged.download()
    # W&B's default root: absolute, under $WANDB_ARTIFACT_DIR or ./artifacts
    assert root == os.path.abspath(os.path.join("artifacts", "ds:v0"))
    logged.verify()  # default root too
    logged.verify(root)

    b = os.path.join(root, "sub", "b.bin")
    with open(b, "wb") as f:
        f.write(b"\x01" * 1000)
    with pytest.raises(ValueError, match="changed"):
        logged.verify(root)
    os.remove(b)
    with pytest.raises(ValueError, match="missing"):
        logged.verify(root)
    logged.download(root)
    logged.verify(root)
    with open(os.path.join(root, "extra.txt"), "w") as f:
        f.write("x")
    with pytest.raises(ValueError, match="extra") as info:
        logged.verify(root)
    assert isinstance(info.value, LocalregError)


def test_entries_manifest_size_digest(run, make_files):
    src = make_files({"a.txt": "AAAA", "sub/b.txt": "BB"})
    art = wandb.Artifact("ds", "dataset")
    art.add_dir(src)
    draft_digest = art.digest
    logged = run.log_artifact(art)
    back = wandb.Api().artifact("team/demo/ds:v0")
    assert back.digest == logged.digest == draft_digest
    assert back.size == 6
    assert back.file_count == 2
    assert sorted(back.manifest.entries) == ["a.txt", "sub/b.txt"]
    entry = back.get_entry("sub/b.txt")
    assert entry.size == 2 and entry.digest.startswith("sha256:")
    path = entry.download(root="one")
    with open(path) as f:
        assert f.read() == "BB"
    assert [e.path for e in back.files(names=["a.txt"])] == ["a.txt"]
    with pytest.raises(LookupError):
        back.get_entry("nope.txt")
    with pytest.raises(ValueError):
        back.file()  # two files
    assert back.manifest.to_manifest_json()["contents"]["a.txt"]["size"] == 4


def test_file_of_a_single_file_artifact(run, make_files, tmp_path):
    art = wandb.Artifact("model", "model")
    art.add_file(os.path.join(make_files({"model.pt": b"weights"}), "model.pt"))
    run.log_artifact(art)
    path = wandb.Api().artifact("team/demo/model:latest").file()
    assert os.path.normpath(path) == os.path.join("artifacts", "model:v0", "model.pt")
    with open(path, "rb") as f:
        assert f.read() == b"weights"
    other = wandb.Api().artifact("team/demo/model:v0").file(root=str(tmp_path / "else"))
    assert other == str(tmp_path / "else" / "model.pt")


def test_delete_refuses_while_aliased(run):
    log(run, "ds", {"a.txt": "0"}, aliases=["keep"])
    log(run, "ds", {"a.txt": "1"})
    api = wandb.Api()
    v0 = api.artifact("team/demo/ds:v0")
    with pytest.raises(ValueError, match="keep"):
        v0.delete()
    assert api.artifact_exists("team/demo/ds:v0")
    v0.delete(delete_aliases=True)
    assert not api.artifact_exists("team/demo/ds:v0")
    assert not api.artifact_exists("team/demo/ds:keep")
    with pytest.raises(AttributeError):
        v0.version  # a deleted artifact is gone
    # deleting the newest moves latest back
    v1 = api.artifact("team/demo/ds:v1")
    log(run, "ds", {"a.txt": "2"})
    api.artifact("team/demo/ds:v2").delete(delete_aliases=True)
    assert api.artifact("team/demo/ds:latest").version == v1.version
